"""Alarm transitions are published once each, raised and cleared, with a stable event id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from gateway.billing.events import Event, EventName, EventState, alarm_transitions
from gateway.billing.processor import ReadingProcessor
from gateway.billing.state import StateStore
from gateway.publication import Publication
from gateway.reading import Alarm, Reading

ROME = ZoneInfo("Europe/Rome")
T0 = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)


def test_transitions_raise_new_alarms_and_clear_vanished_ones() -> None:
    events = alarm_transitions("12345678", {"leak", "continuous_flow"}, frozenset({Alarm.BURST}), 100.0, {})
    assert [(event.event, event.state) for event in events] == [
        (EventName.BURST, EventState.RAISED),
        (EventName.LEAK, EventState.CLEARED),
    ]  # continuous_flow is not the meter's own flag: left alone


def test_event_id_is_stable_and_distinguishes_events() -> None:
    at_s = T0.timestamp()
    leak = Event("12345678", EventName.LEAK, EventState.RAISED, at_s, {"status_raw": "01"})
    assert leak.event_id == Event("12345678", EventName.LEAK, EventState.RAISED, at_s).event_id
    assert leak.event_id == "12345678/leak/raised/20261005T080000Z"
    assert leak.event_id != Event("12345678", EventName.LEAK, EventState.CLEARED, at_s).event_id
    assert leak.event_id != Event("12345678", EventName.LEAK, EventState.RAISED, at_s + 0.5).event_id


def test_event_payload_has_the_documented_shape() -> None:
    payload = Event("12345678", EventName.LEAK, EventState.RAISED, T0.timestamp(), {"x": 1}).to_json()
    assert set(payload) == {"meter_id", "event", "state", "at", "event_id", "details"}
    assert payload["event"] == "leak" and payload["state"] == "raised"
    assert datetime.fromisoformat(payload["at"]) == T0


def _events(pubs: list[Publication]) -> list[tuple[str, str]]:
    return [
        (pub.payload["event"], pub.payload["state"])
        for pub in pubs
        if pub.kind == "event" and pub.payload["event"] != "reading_notification"
    ]


def test_processor_publishes_each_transition_once_not_per_telegram(tmp_path: Path) -> None:
    processor = ReadingProcessor(StateStore(tmp_path / "state.db"), tz=ROME)
    leak, battery = Alarm.LEAK, Alarm.LOW_BATTERY
    flags: list[set[Alarm]] = [set(), {leak}, {leak}, {leak, battery}, {battery}, set(), set()]
    pubs: list[Publication] = []
    for step, alarms in enumerate(flags):
        reading = Reading(
            "12345678", "KAM", "test", "water", T0 + timedelta(minutes=15 * step),
            total_m3=10.0, alarms=frozenset(alarms),
        )
        pubs += processor.process(reading, source="test", duplicates=0)
    assert _events(pubs) == [
        ("leak", "raised"),
        ("low_battery", "raised"),
        ("leak", "cleared"),
        ("low_battery", "cleared"),
    ]
    assert processor.store.open_alarms() == []


def test_open_alarms_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    processor = ReadingProcessor(StateStore(path), tz=ROME)
    reading = Reading("12345678", "KAM", "test", "water", T0, total_m3=1.0, alarms=frozenset({Alarm.TAMPER}))
    assert _events(processor.process(reading, source="test", duplicates=0)) == [("tamper", "raised")]
    processor.store.close()
    again = ReadingProcessor(StateStore(path), tz=ROME)
    assert [alarm.name for alarm in again.store.open_alarms("12345678")] == ["tamper"]
    same = Reading("12345678", "KAM", "test", "water", T0 + timedelta(minutes=5), total_m3=1.0,
                   alarms=frozenset({Alarm.TAMPER}))
    assert _events(again.process(same, source="test", duplicates=0)) == []  # not raised twice
    gone = Reading("12345678", "KAM", "test", "water", T0 + timedelta(minutes=10), total_m3=1.0)
    assert _events(again.process(gone, source="test", duplicates=0)) == [("tamper", "cleared")]


def test_a_late_reading_does_not_flap_alarms(tmp_path: Path) -> None:
    processor = ReadingProcessor(StateStore(tmp_path / "state.db"), tz=ROME)
    now = Reading("12345678", "KAM", "test", "water", T0, total_m3=1.0, alarms=frozenset({Alarm.LEAK}))
    late = Reading("12345678", "KAM", "test", "water", T0 - timedelta(minutes=1), total_m3=1.0)
    assert _events(processor.process(now, source="a", duplicates=0)) == [("leak", "raised")]
    assert _events(processor.process(late, source="b", duplicates=0)) == []
    assert processor.open_alarms("12345678") == frozenset({"leak"})


def test_one_reading_notification_per_meter_and_month(tmp_path: Path) -> None:
    processor = ReadingProcessor(StateStore(tmp_path / "state.db"), tz=ROME)
    notices = []
    at = datetime(2026, 9, 29, tzinfo=UTC)
    while at < datetime(2026, 11, 3, tzinfo=UTC):
        reading = Reading("12345678", "KAM", "test", "water", at, total_m3=round(at.timestamp() / 1e7, 3))
        notices += [
            pub.payload for pub in processor.process(reading, source="test", duplicates=0)
            if pub.kind == "event" and pub.payload["event"] == "reading_notification"
        ]
        at += timedelta(hours=4)
    assert [notice["details"]["month"] for notice in notices] == ["2026-09", "2026-10", "2026-11"]
    october = notices[1]
    assert october["state"] == "notice"
    assert october["details"]["date"] == "2026-10-01"  # the first reading after local midnight
    assert october["at"] == "2026-10-01T00:00:00+00:00"  # readings every 4 h from 00:00 UTC
