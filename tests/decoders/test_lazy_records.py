"""Decoders without a proprietary part read the few values their plan names: the records are never built."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.decoders import clear_caches, decode_reading
from gateway.decoders.no_value import TOP_BIT_MAKERS
from gateway.wmbus import records as records_module
from gateway.wmbus.telegram import parse_telegram
from tests.decoders.whole_frames import no_build, whole_frames

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _table_only_frames() -> list[tuple[bytes, bytes | None]]:
    return [
        (vector.telegram, vector.key)
        for vector, telegram, decoder in whole_frames()
        if len(telegram.record_set) > 3 and decoder.proprietary is None and decoder.records_valid is None
    ]


def test_a_field_table_decodes_only_the_values_it_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    frames = _table_only_frames()
    assert len(frames) > 20
    # Zenner frames whose payload may hold the no-value pattern are read by that rule too: their data bytes
    assert any(
        telegram.manufacturer in TOP_BIT_MAKERS and b"\x00\x80" in telegram.payload
        for telegram in (parse_telegram(frame, key) for frame, key in frames)
    )
    for frame, key in frames:
        clear_caches()
        expected = decode_reading(parse_telegram(frame, key), AT)  # payload shape and plan cached here
        with monkeypatch.context() as patch:
            patch.setattr(records_module, "_build", no_build)
            telegram = parse_telegram(frame, key)
            reading = decode_reading(telegram, AT)
        assert reading == expected
        assert telegram.records == parse_telegram(frame, key).records  # built on request, the same
