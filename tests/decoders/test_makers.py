"""Maker-specific fields beyond the volume registers, checked against the reference's expected JSON."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.decoders import decode_reading
from gateway.decoders.default_keys import default_key
from gateway.reading import Reading
from gateway.wmbus.telegram import parse_telegram
from tests.vectors import Vector, all_vectors

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _vector(line: int) -> Vector:
    return next(vector for vector in all_vectors() if vector.line == line)


def _decode(vector: Vector) -> Reading:
    key = vector.key or default_key(vector.telegram)
    return decode_reading(parse_telegram(vector.telegram, key), AT, key=key)


def _minutes(reading: Reading) -> str | None:
    return None if reading.meter_datetime is None else reading.meter_datetime.strftime("%Y-%m-%d %H:%M")


def test_diehl_prios_meter_id_is_read_past_version_and_type() -> None:
    vector = _vector(246)  # DME PRIOS frame: A field = version, type, id
    reading = _decode(vector)
    assert reading.meter_id == vector.expected["id"]
    assert reading.extra["transmit_period_s"] == vector.expected["transmit_period_s"]
    assert reading.extra["remaining_battery_life_y"] == vector.expected["remaining_battery_life_y"]


@pytest.mark.parametrize("line", [19, 20, 23])
def test_apator_na1_history_and_time(line: int) -> None:
    vector = _vector(line)
    reading = _decode(vector)
    expected = vector.expected
    assert _minutes(reading) == expected["meter_datetime"]
    assert reading.extra["historic_m3"] == pytest.approx(expected["historic_m3"])
    assert reading.extra["historic_age_h"] == expected["historic_age_h"]
    assert str(reading.extra["historic_datetime"]).replace("T", " ") == expected["historic_datetime"]
    for name in ("frame_status", "current_status", "historic_status"):
        assert reading.extra[name] == expected[name]


def test_rfm_tx1_meter_time_from_obfuscated_frame() -> None:
    vector = _vector(212)
    reading = _decode(vector)
    assert _minutes(reading) == vector.expected["meter_datetime"]
    assert "total_energy_consumption_kwh" not in reading.extra  # the garbage "records" are ignored


@pytest.mark.parametrize("line", [139, 141, 142, 143])
def test_kamstrup_status_names(line: int) -> None:
    vector = _vector(line)
    assert _decode(vector).extra["status"] == vector.expected["status"]


@pytest.mark.parametrize("line", [110, 111, 112, 113])
def test_izar_status_names(line: int) -> None:
    vector = _vector(line)
    reading = _decode(vector)
    assert reading.extra["status"] == vector.expected["status"]
    assert reading.extra["transmit_period_s"] == vector.expected["transmit_period_s"]


@pytest.mark.parametrize("line", [203, 204, 208, 258])
def test_qundis_walk_by_meter_time(line: int) -> None:
    vector = _vector(line)
    assert _minutes(_decode(vector)) == vector.expected["meter_datetime"]
