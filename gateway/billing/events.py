"""Events for customer notifications: alarm transitions (raised/cleared once each) and notices."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from gateway.reading import Alarm


class EventName(StrEnum):
    """Every event name of the event payload."""

    LEAK = "leak"
    BURST = "burst"
    BACKFLOW = "backflow"
    DRY = "dry"
    TAMPER = "tamper"
    REMOVAL = "removal"
    LOW_BATTERY = "low_battery"
    METER_ERROR = "meter_error"
    OVERFLOW = "overflow"
    CONTINUOUS_FLOW = "continuous_flow"
    REVERSE_FLOW = "reverse_flow"
    INDEX_BACKWARDS = "index_backwards"
    NO_CONSUMPTION = "no_consumption"
    HIGH_CONSUMPTION = "high_consumption"
    READING_NOTIFICATION = "reading_notification"
    SOURCE_SILENT = "source_silent"
    SOURCE_RECOVERED = "source_recovered"
    SOURCE_HEAL_FAILED = "source_heal_failed"


class EventState(StrEnum):
    RAISED = "raised"
    CLEARED = "cleared"
    NOTICE = "notice"


# The meter's own alarm flags, by the event they raise.
ALARM_EVENTS: dict[Alarm, EventName] = {alarm: EventName(alarm.value) for alarm in Alarm}
METER_ALARM_NAMES: frozenset[str] = frozenset(str(name) for name in ALARM_EVENTS.values())


@dataclass(frozen=True, slots=True)
class Event:
    """One event of one meter; ``event_id`` is the same whenever the same data produces it."""

    meter_id: str
    event: EventName
    state: EventState
    at_s: float
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.at_s, UTC)

    @property
    def event_id(self) -> str:
        stamp = self.at.strftime("%Y%m%dT%H%M%S")
        micros = round(self.at_s * 1_000_000) % 1_000_000
        if micros:
            stamp += f".{micros:06d}"
        return f"{self.meter_id}/{self.event}/{self.state}/{stamp}Z"

    def to_json(self) -> dict[str, Any]:
        return {
            "meter_id": self.meter_id,
            "event": str(self.event),
            "state": str(self.state),
            "at": self.at.isoformat(),
            "event_id": self.event_id,
            "details": dict(self.details),
        }


def alarm_transitions(
    meter_id: str, open_alarms: Iterable[str], alarms: frozenset[Alarm], at_s: float, details: dict[str, Any]
) -> list[Event]:
    """Events for the meter alarms that appear in or vanish from ``alarms`` (others untouched)."""
    if not alarms and not open_alarms:  # most readings: nothing raised, nothing to clear
        return []
    current = {str(ALARM_EVENTS[alarm]) for alarm in alarms}
    was_open = {name for name in open_alarms if name in METER_ALARM_NAMES}
    events = [
        Event(meter_id, EventName(name), EventState.RAISED, at_s, dict(details))
        for name in sorted(current - was_open)
    ]
    events.extend(
        Event(meter_id, EventName(name), EventState.CLEARED, at_s, dict(details))
        for name in sorted(was_open - current)
    )
    return events
