"""Vectors whose records a decoder may read without building them, for the records-on-demand tests."""

from __future__ import annotations

from gateway.decoders import REGISTRY, base
from gateway.decoders.base import MeterDecoder
from gateway.wmbus.telegram import Telegram
from tests.vectors import Vector, parsed_vectors


def whole_frames() -> list[tuple[Vector, Telegram, MeterDecoder]]:
    """Each vector that parses into complete records (no compact frame, no broken tail), with the decoder
    found for it; meter kinds that send compact frames (or whose decoder says they do) are left out: their
    full frames are read in full, to learn the layout of their compact ones."""
    found = []
    for vector, telegram in parsed_vectors():
        kind = (telegram.manufacturer, telegram.version, telegram.device_type)
        if kind in base._COMPACT_SENDERS or telegram.compact or telegram.records_error is not None:
            continue
        decoder = REGISTRY.find(telegram)
        if decoder.sends_compact:
            continue
        found.append((vector, telegram, decoder))
    return found


def no_build(*_: object) -> None:
    """Stands in for the record builder where nothing may be built."""
    raise AssertionError("records built")
