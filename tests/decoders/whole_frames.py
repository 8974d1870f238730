"""Vectors whose records a decoder may read without building them, for the records-on-demand tests."""

from __future__ import annotations

from gateway.decoders import REGISTRY, base
from gateway.decoders.base import MeterDecoder
from gateway.wmbus.errors import WMBusError
from gateway.wmbus.telegram import Telegram, parse_telegram
from tests.vectors import Vector, all_vectors


def whole_frames() -> list[tuple[Vector, Telegram, MeterDecoder]]:
    """Each vector that parses into complete records (no compact frame, no broken tail), with the decoder
    found for it; meter kinds that send compact frames are left out: their full frames are read in full,
    to learn the layout of their compact ones."""
    found = []
    for vector in all_vectors():
        try:
            telegram = parse_telegram(vector.telegram, vector.key)
        except WMBusError:
            continue
        kind = (telegram.manufacturer, telegram.version, telegram.device_type)
        if kind in base._COMPACT_SENDERS or telegram.compact or telegram.records_error is not None:
            continue
        found.append((vector, telegram, REGISTRY.find(telegram)))
    return found


def no_build(*_: object) -> None:
    """Stands in for the record builder where nothing may be built."""
    raise AssertionError("records built")
