"""Apator OP-041A (op041a): the reference's vector."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.decoders import decode_reading
from gateway.wmbus.telegram import parse_telegram
from tests.decoders.expected import assert_reported
from tests.vectors import all_vectors

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_op041a_reports_what_the_reference_reports() -> None:
    vector = next(vector for vector in all_vectors() if vector.driver == "op041a")
    reading = decode_reading(parse_telegram(vector.telegram), AT)
    assert reading.decoder == "op041a"
    assert reading.meter_id == vector.expected["id"]
    assert_reported(reading, vector.expected, ("total_m3", "meter_datetime"))
    assert reading.unsupported is None
