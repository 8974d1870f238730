"""Compare decoded readings with the reference's expected volume registers (shared by test and bench)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from gateway.decoders import decode_reading
from gateway.decoders.default_keys import default_key
from gateway.reading import Reading
from gateway.wmbus.errors import WMBusError
from gateway.wmbus.telegram import parse_telegram
from tests.vectors import Vector

VOLUME_FIELDS = ("total_m3", "target_m3", "target_date", "total_backward_m3")
RECEIVED_AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Outcome:
    """One vector's comparison: the reading (if any) and the fields that differ."""

    vector: Vector
    reading: Reading | None
    misses: tuple[str, ...]
    # Where we publish no volume on purpose and the reference prints one: the register holds the maker's
    # "no value" pattern (Reading.extra["no_value"]), e.g. Zenner's 0x80000000 that it prints as 80000 m3.
    deliberate: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.misses


def _same(expected: Any, got: Any) -> bool:
    if expected is None or got is None:
        return expected is None and got is None
    if isinstance(got, date):
        return isinstance(expected, str) and got.isoformat() == expected
    if isinstance(expected, int | float) and isinstance(got, int | float):
        return math.isclose(float(expected), float(got), rel_tol=1e-6, abs_tol=1e-6)
    return bool(expected == got)


def check(vector: Vector) -> Outcome:
    """Decode ``vector`` with the automatically found decoder and compare the volume registers."""
    try:
        # As the daemon does: the provisioned key, else the maker's published default key.
        key = vector.key or default_key(vector.telegram)
        telegram = parse_telegram(vector.telegram, key)
        reading = decode_reading(telegram, RECEIVED_AT, key=key)
    except WMBusError as error:
        return Outcome(vector, None, (f"{type(error).__name__}: {error}",))
    misses = []
    deliberate = []
    no_value = str(reading.extra.get("no_value", ""))
    for name in VOLUME_FIELDS:
        if name in vector.expected:
            got = getattr(reading, name)
            if _same(vector.expected[name], got):
                continue
            text = f"{name}: expected {vector.expected[name]!r}, got {got!r}"
            if got is None and no_value and (name == "target_m3" or name in no_value.split(",")):
                deliberate.append(f"{text} (no value: {no_value})")
            else:
                misses.append(text)
    return Outcome(vector, reading, tuple(misses), tuple(deliberate))
