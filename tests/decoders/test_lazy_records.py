"""Decoders without a proprietary part read the few values their plan names: the records are never built."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.decoders import REGISTRY, base, clear_caches, decode_reading
from gateway.wmbus import records as records_module
from gateway.wmbus.errors import WMBusError
from gateway.wmbus.telegram import parse_telegram
from tests.vectors import all_vectors

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _table_only_frames() -> list[tuple[bytes, bytes | None]]:
    found = []
    for vector in all_vectors():
        try:
            telegram = parse_telegram(vector.telegram, vector.key)
        except WMBusError:
            continue
        kind = (telegram.manufacturer, telegram.version, telegram.device_type)
        if kind in base._COMPACT_SENDERS:
            continue  # their full frames are read in full, to learn the layout of their compact ones
        if len(telegram.record_set) > 3 and telegram.records_error is None and not telegram.compact:
            decoder = REGISTRY.find(telegram)
            if decoder.proprietary is None and decoder.records_valid is None:
                found.append((vector.telegram, vector.key))
    return found


def _no_build(*_: object) -> None:
    raise AssertionError("records built")


def test_a_field_table_decodes_only_the_values_it_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    frames = _table_only_frames()
    assert len(frames) > 20
    for frame, key in frames:
        clear_caches()
        expected = decode_reading(parse_telegram(frame, key), AT)  # payload shape and plan cached here
        with monkeypatch.context() as patch:
            patch.setattr(records_module, "_build", _no_build)
            telegram = parse_telegram(frame, key)
            reading = decode_reading(telegram, AT)
        assert reading == expected
        assert telegram.records == parse_telegram(frame, key).records  # built on request, the same
