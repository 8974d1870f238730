"""The Reading's JSON form: what MQTT payloads, the state store and the ingester rely on."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, date, datetime

from gateway.reading import Alarm, Reading


def full_reading() -> Reading:
    return Reading(
        meter_id="12345678",
        manufacturer="KAM",
        decoder="multical21",
        medium="water",
        received_at=datetime(2026, 11, 23, 9, 30, 15, 250000, tzinfo=UTC),
        meter_datetime=datetime(2026, 11, 23, 9, 30),
        total_m3=123.456,
        target_m3=120.0,
        target_date=date(2026, 10, 31),
        total_backward_m3=0.002,
        flow_m3h=0.012,
        alarms=frozenset({Alarm.LEAK, Alarm.DRY}),
        status_raw="tpl=0x00",
        rssi_dbm=-71.5,
        extra={"volume_b_m3": 1.5, "total_m3": 999.0},
    )


def test_to_json_gives_every_field_iso_dates_sorted_alarms_and_extra_after() -> None:
    reading = full_reading()
    document = reading.to_json()
    names = [item.name for item in fields(Reading) if item.name != "extra"]
    assert list(document)[: len(names)] == names
    assert document["received_at"] == "2026-11-23T09:30:15.250000+00:00"
    assert document["meter_datetime"] == "2026-11-23T09:30:00"
    assert document["target_date"] == "2026-10-31"
    assert document["alarms"] == ["dry", "leak"]
    assert document["total_m3"] == 123.456  # an extra key never overrides a field
    assert document["volume_b_m3"] == 1.5
    assert document["max_flow_m3h"] is None
    json.dumps(document, allow_nan=False)


def test_to_json_and_from_json_round_trip() -> None:
    reading = full_reading()
    back = Reading.from_json(json.loads(json.dumps(reading.to_json())))
    assert back == Reading(**{**{f.name: getattr(reading, f.name) for f in fields(Reading)},
                              "extra": {"volume_b_m3": 1.5}})
    empty = Reading("1", "ABC", "oms", "water", datetime(2026, 1, 1, tzinfo=UTC))
    assert empty.to_json()["alarms"] == [] and Reading.from_json(empty.to_json()) == empty


def test_to_json_writes_every_date_field_as_iso() -> None:
    # to_json names its date and date-time fields one by one: a new one must be added there too
    from gateway.reading import _TIME_NAMES  # noqa: PLC0415

    assert _TIME_NAMES == ("received_at", "meter_datetime", "target_date")
