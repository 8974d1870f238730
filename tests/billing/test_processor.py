"""The ReadingProcessor contract: payload shapes, durability across restarts, a clock driven by data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.billing.processor import ReadingProcessor
from gateway.billing.settings import BillingSettings
from gateway.billing.state import ProvisionedMeter, StateStore
from gateway.publication import Publication
from gateway.reading import Alarm, Reading

ROME = ZoneInfo("Europe/Rome")
MONTHLY_KEYS = {
    "meter_id", "month", "cutoff", "index_m3", "source", "revision", "consumption_m3", "reading_age_s",
    "readings", "manufacturer", "medium",
}


def fleet(start: datetime, end: datetime, step: timedelta) -> Iterator[Reading]:
    """Three meters: one with a month-end register, one plain, one with a leak now and then."""
    calendar_start = start
    at = start
    while at < end:
        hours = (at - calendar_start).total_seconds() / 3600
        local = at.astimezone(ROME)
        last_day = (local.replace(day=1) - timedelta(days=1)).date()
        month_start = datetime(local.year, local.month, 1, tzinfo=ROME)
        register_m3 = round(100 + 0.02 * (month_start - calendar_start).total_seconds() / 3600, 3)
        yield Reading(
            "00000001", "KAM", "test", "water", at, total_m3=round(100 + 0.02 * hours, 3),
            target_m3=register_m3, target_date=last_day, rssi_dbm=-70.0,
        )
        yield Reading("00000002", "DME", "test", "water", at, total_m3=round(50 + 0.01 * hours, 3))
        leaking = int(hours) % 200 < 30
        yield Reading(
            "00000003", "ZRI", "test", "warm_water", at, total_m3=round(7 + 0.001 * hours, 3),
            alarms=frozenset({Alarm.LEAK}) if leaking else frozenset(),
        )
        at += step


START = datetime(2026, 9, 20, tzinfo=UTC)
END = datetime(2026, 11, 10, tzinfo=UTC)
STEP = timedelta(hours=3)


def run(processor: ReadingProcessor, readings: Iterator[Reading] | list[Reading]) -> list[Publication]:
    out: list[Publication] = []
    for reading in readings:
        out += processor.process(reading, source="sim", duplicates=0)
    return out


def billing(pubs: list[Publication]) -> list[Publication]:
    return [pub for pub in pubs if pub.kind != "reading"]


def test_reading_publication_carries_the_reading_source_duplicates_and_rssi(tmp_path: Path) -> None:
    processor = ReadingProcessor(StateStore(tmp_path / "state.db"), BillingSettings(), ROME)
    reading = Reading("12345678", "KAM", "multical21", "water", START, total_m3=1.5, rssi_dbm=-71.0)
    first = processor.process(reading, source="im871a", duplicates=2)[0]
    assert first.kind == "reading" and first.meter_id == "12345678" and first.month is None
    assert first.payload == {**reading.to_json(), "source": "im871a", "duplicates": 2, "rssi_dbm": -71.0}
    assert "schema" not in first.payload and "gateway" not in first.payload


def test_monthly_and_event_payloads_have_the_documented_keys(tmp_path: Path) -> None:
    processor = ReadingProcessor(StateStore(tmp_path / "state.db"), BillingSettings(), ROME)
    pubs = run(processor, fleet(START, END, STEP))
    monthly = [pub for pub in pubs if pub.kind == "monthly"]
    assert monthly and all(set(pub.payload) == MONTHLY_KEYS for pub in monthly)
    assert all(pub.month == pub.payload["month"] for pub in monthly)
    events = [pub for pub in pubs if pub.kind == "event"]
    assert events and all(
        set(pub.payload) == {"meter_id", "event", "state", "at", "event_id", "details"} for pub in events
    )
    assert len({pub.payload["event_id"] for pub in events}) == len(events)
    by_meter = {(pub.meter_id, pub.month): pub.payload for pub in monthly}
    assert by_meter["00000001", "2026-09"]["source"] == "actual"
    assert by_meter["00000001", "2026-10"]["source"] == "actual"
    assert by_meter["00000002", "2026-10"]["source"] == "interpolated"
    assert by_meter["00000001", "2026-10"]["cutoff"] == "2026-11-01T00:00:00+01:00"


def test_a_restart_loses_nothing_and_changes_nothing(tmp_path: Path) -> None:
    readings = list(fleet(START, END, STEP))
    reference = ReadingProcessor(StateStore(tmp_path / "whole.db"), tz=ROME, autocommit=False)
    whole = billing(run(reference, readings))
    path = tmp_path / "split.db"
    split: list[Publication] = []
    for part in (readings[:350], readings[350:750], readings[750:]):  # restarts mid-month and over cut-offs
        store = StateStore(path)
        split += billing(run(ReadingProcessor(store, BillingSettings(), ROME), part))
        store.close()
    assert split == whole


def test_a_crash_before_commit_replays_to_the_same_result(tmp_path: Path) -> None:
    """Uncommitted work is lost in a crash; processing the same readings again gives the same events."""
    readings = list(fleet(START, END, STEP))
    reference = ReadingProcessor(StateStore(tmp_path / "whole.db"), tz=ROME, autocommit=False)
    whole = billing(run(reference, readings))
    path = tmp_path / "crash.db"
    processor = ReadingProcessor(StateStore(path), BillingSettings(), ROME, autocommit=False)
    acknowledged = billing(run(processor, readings[:450]))
    processor.commit()
    run(processor, readings[450:500])  # never committed: the process dies here
    processor.store._db.close()  # what a crash leaves: the open transaction is rolled back
    again = ReadingProcessor(StateStore(path), BillingSettings(), ROME)
    assert acknowledged + billing(run(again, readings[450:])) == whole


def test_states_kept_in_memory_are_bounded_and_change_nothing(tmp_path: Path) -> None:
    """With room for one meter state in memory (the rest read back from the store), nothing differs."""
    readings = list(fleet(START, END, STEP))
    reference = ReadingProcessor(StateStore(tmp_path / "whole.db"), BillingSettings(), ROME)
    small = ReadingProcessor(StateStore(tmp_path / "small.db"), BillingSettings(), ROME, cache_meters=1)
    for processor in (reference, small):
        processor.store.sync_meters([ProvisionedMeter(f"0000000{n}") for n in (1, 2, 3)], created=START)
    expected, got = run(reference, readings), run(small, readings)
    later = END + timedelta(days=40)  # a cut-off and its grace without a reading
    expected += reference.tick(later)
    got += small.tick(later)
    assert got == expected and any(pub.kind == "event" for pub in got)
    assert len(small._states) == 1
    assert small.coverage_report(later) == reference.coverage_report(later)
    for meter_id in ("00000001", "00000002", "00000003"):
        assert small.meter_state(meter_id) == reference.meter_state(meter_id)
        assert small.open_alarms(meter_id) == reference.open_alarms(meter_id)


def test_the_clock_is_the_data_not_the_system(tmp_path: Path) -> None:
    """Readings from 2035 give the same indexes as the same readings nine years earlier, shifted."""
    shift = datetime(2035, 9, 20, tzinfo=UTC) - START

    def moved(reading: Reading) -> Reading:
        target = reading.target_date
        return Reading(
            reading.meter_id, reading.manufacturer, reading.decoder, reading.medium,
            reading.received_at + shift, total_m3=reading.total_m3,
            target_m3=reading.target_m3,
            target_date=None if target is None else date(2035, target.month, target.day),
            alarms=reading.alarms,
        )

    now = billing(run(ReadingProcessor(StateStore(tmp_path / "a.db"), tz=ROME), fleet(START, END, STEP)))
    later = billing(
        run(
            ReadingProcessor(StateStore(tmp_path / "b.db"), BillingSettings(), ROME),
            (moved(reading) for reading in fleet(START, END, STEP)),
        )
    )

    def key(pub: Publication) -> tuple[str, str | None, object, object]:
        month = pub.month and pub.month[5:]
        return (pub.meter_id, month, pub.payload.get("source"), pub.payload.get("index_m3"))

    assert [key(pub) for pub in now if pub.kind == "monthly"] == [
        key(pub) for pub in later if pub.kind == "monthly"
    ]


def test_a_silent_gateway_closes_every_month_it_missed(tmp_path: Path) -> None:
    processor = ReadingProcessor(StateStore(tmp_path / "state.db"), BillingSettings(), ROME)
    first = Reading("00000001", "KAM", "test", "water", datetime(2026, 8, 20, tzinfo=UTC), total_m3=10.0)
    back = Reading("00000001", "KAM", "test", "water", datetime(2026, 10, 20, tzinfo=UTC), total_m3=16.0)
    pubs = run(processor, [first, back])
    monthly = [
        (pub.month, pub.payload["source"], pub.payload["index_m3"]) for pub in pubs if pub.kind == "monthly"
    ]
    assert monthly == [("2026-08", "estimated", 10.0), ("2026-09", "estimated", 10.0)]


def test_a_late_reading_from_before_the_cutoff_improves_the_index(tmp_path: Path) -> None:
    processor = ReadingProcessor(StateStore(tmp_path / "state.db"), BillingSettings(publish_grace_h=0), ROME)
    cutoff = datetime(2026, 10, 1, tzinfo=ROME)
    early = Reading("00000001", "KAM", "test", "water", cutoff - timedelta(days=5), total_m3=10.0)
    after = Reading("00000001", "KAM", "test", "water", cutoff + timedelta(hours=1), total_m3=12.0)
    late = Reading("00000001", "KAM", "test", "water", cutoff - timedelta(hours=1), total_m3=11.8)
    pubs = run(processor, [early, after, late])
    monthly = [(pub.payload["source"], pub.payload["revision"], pub.payload["index_m3"]) for pub in pubs
               if pub.kind == "monthly"]
    assert monthly == [("estimated", 0, 10.0), ("interpolated", 1, pytest.approx(11.9))]
    assert processor.store.counters()["readings_out_of_order"] == 1


def test_tick_publishes_after_the_grace_without_any_reading(tmp_path: Path) -> None:
    processor = ReadingProcessor(StateStore(tmp_path / "state.db"), BillingSettings(), ROME)
    cutoff = datetime(2026, 10, 1, tzinfo=ROME)
    run(processor, [Reading("00000001", "KAM", "test", "water", cutoff - timedelta(hours=2), total_m3=3.0)])
    assert processor.tick(cutoff + timedelta(hours=5)) == []
    [pub] = processor.tick(cutoff + timedelta(hours=6))
    assert (pub.kind, pub.month, pub.payload["source"]) == ("monthly", "2026-09", "estimated")
    assert processor.tick(cutoff + timedelta(hours=7)) == []
    assert processor.clock == cutoff + timedelta(hours=7)


def test_only_provisioned_meters_heard_lately_get_an_index(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    store.add_meter(ProvisionedMeter("00000001"), created=START)
    store.add_meter(ProvisionedMeter("00000002"), created=START)
    processor = ReadingProcessor(store, BillingSettings(estimate_max_age_days=40), ROME)
    readings = [
        Reading("00000001", "KAM", "test", "water", datetime(2026, 9, 25, tzinfo=UTC), total_m3=1.0),
        Reading("00000002", "KAM", "test", "water", datetime(2026, 9, 25, tzinfo=UTC), total_m3=2.0),
        Reading("00000009", "KAM", "test", "water", datetime(2026, 9, 25, tzinfo=UTC), total_m3=9.0),
        Reading("00000001", "KAM", "test", "water", datetime(2026, 12, 5, tzinfo=UTC), total_m3=1.5),
    ]
    pubs = run(processor, readings)
    monthly = [(pub.meter_id, pub.month, pub.payload["source"]) for pub in pubs if pub.kind == "monthly"]
    # 9 is not ours; for 2026-11 the last readings are over 40 days old at the cut-off: no estimate.
    assert monthly == [
        ("00000001", "2026-09", "estimated"),
        ("00000002", "2026-09", "estimated"),
        ("00000001", "2026-10", "estimated"),
        ("00000002", "2026-10", "estimated"),
    ]
