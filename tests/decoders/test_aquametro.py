"""Aquametro Topas Sonic ESKR (topaseskr): the reference's vectors, every field it reports."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.decoders import decode_reading
from gateway.wmbus.telegram import parse_telegram
from tests.decoders.expected import assert_reported
from tests.vectors import Vector, all_vectors

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
_IDENTITY = frozenset({"_", "id", "media", "meter", "name", "timestamp"})


def _topas() -> list[Vector]:
    return [vector for vector in all_vectors() if vector.driver == "topaseskr"]


@pytest.mark.parametrize("vector", _topas(), ids=lambda vector: vector.name)
def test_topas_eskr_reports_what_the_reference_reports(vector: Vector) -> None:
    reading = decode_reading(parse_telegram(vector.telegram), AT)
    assert reading.decoder == "topaseskr"
    names = tuple(name for name in vector.expected if name not in _IDENTITY)
    assert_reported(reading, vector.expected, names)
    # The year period (storage 1) is the set day; the month period is kept beside it.
    assert reading.target_m3 == pytest.approx(vector.expected["volume_year_period_m3"])
    assert reading.target_date is not None
    assert reading.target_date.isoformat() == vector.expected["meter_year_period_end_date"]
