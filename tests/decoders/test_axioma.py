"""Axioma Qalcosonic W1 / Q400 (q400): the reference's vectors, every field it reports."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.decoders import decode_reading
from gateway.wmbus.telegram import parse_telegram
from tests.decoders.expected import assert_reported
from tests.vectors import Vector, all_vectors

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _q400() -> list[Vector]:
    return [vector for vector in all_vectors() if vector.driver == "q400"]


def test_the_vectors_hold_three_versions() -> None:
    versions = {parse_telegram(vector.telegram).version for vector in _q400()}
    assert versions == {0x01, 0x10, 0x20}


@pytest.mark.parametrize("vector", _q400(), ids=lambda vector: vector.name)
def test_q400_reports_what_the_reference_reports(vector: Vector) -> None:
    reading = decode_reading(parse_telegram(vector.telegram), AT)
    assert reading.decoder == "q400"
    names = tuple(
        name for name in vector.expected if name not in {"_", "id", "media", "meter", "name", "timestamp"}
    )
    assert_reported(reading, vector.expected, names)
    # The previous billing period is the set day.
    assert reading.target_m3 == pytest.approx(vector.expected["consumption_at_set_date_m3"])
    assert reading.target_date is not None
    assert reading.target_date.isoformat() == vector.expected["set_datetime"][:10]
