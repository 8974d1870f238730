"""Compare a Reading with a vector's expected JSON, field by field, under the reference's names."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from gateway.reading import Reading

# The reference's names of quantities a Reading holds under its own canonical name.
CANONICAL = {"volume_flow_m3h": "flow_m3h"}
_CORE = frozenset(
    {
        "total_m3", "target_m3", "target_date", "total_backward_m3", "flow_m3h", "max_flow_m3h",
        "flow_temperature_c", "external_temperature_c", "battery_v", "meter_datetime",
    }
)


def reported(reading: Reading, name: str) -> Any:
    """What ``reading`` says under the reference's field ``name``, as the reference prints it."""
    own = CANONICAL.get(name, name)
    if own not in _CORE:
        assert own in reading.extra, f"{name} missing from extra {sorted(reading.extra)}"
        return reading.extra[own]
    value = getattr(reading, own)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return value


def assert_reported(reading: Reading, expected: dict[str, Any], names: tuple[str, ...]) -> None:
    """Every field of ``names`` is reported as the reference expects (numbers to 1e-6)."""
    for name in names:
        want, got = expected[name], reported(reading, name)
        if isinstance(want, int | float) and not isinstance(want, bool):
            assert got == pytest.approx(want, abs=1e-6), name
        else:
            assert got == want, name
