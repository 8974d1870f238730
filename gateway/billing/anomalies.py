"""Consumption anomalies seen in a meter's own readings: continuous flow, reverse flow, index going
backwards, no consumption for days, and a day far above the meter's own history."""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from gateway.billing.events import Event, EventName, EventState
from gateway.billing.settings import DAY_S, HOUR_S, BillingSettings

_EPSILON_M3 = 1e-9


@dataclass(slots=True)
class AnomalyState:
    """What the rules remember about one meter: a constant handful of numbers."""

    last_at_s: float | None = None  # the last in-order reading with a total
    last_total_m3: float | None = None
    still_since_s: float | None = None  # the first reading showing the current total
    flow_since_s: float | None = None  # start of the current run of consumption without a quiet hour
    flow_since_total_m3: float | None = None
    backward_m3: float | None = None  # backward register at the last reverse-flow check
    reverse_at_s: float | None = None  # the last time reverse flow was seen
    day: int | None = None  # local date (ordinal) of the day being measured
    day_start_s: float | None = None
    day_start_total_m3: float | None = None
    daily_average_m3: float | None = None
    history_days: int = 0

    def to_json(self) -> list[Any]:
        """The fields in order: compact, and cheap on the per-reading path."""
        return [getattr(self, name) for name in _FIELDS]

    @classmethod
    def from_json(cls, data: list[Any]) -> AnomalyState:
        return cls(*data)


_FIELDS = tuple(item.name for item in fields(AnomalyState))


def _iso(at_s: float) -> str:
    return datetime.fromtimestamp(at_s, UTC).isoformat()


def rollover_suspected(previous_m3: float, total_m3: float) -> bool:
    """True when a drop looks like the register wrapping round (99 998 -> 2) rather than a new meter."""
    if previous_m3 < 1:
        return False
    capacity = 10.0 ** len(str(int(previous_m3)))
    return previous_m3 >= 0.9 * capacity and total_m3 <= 0.1 * capacity


@dataclass(slots=True)
class _Pass:
    """One reading going through the rules: the meter, its state, and the events it makes."""

    meter_id: str
    state: AnomalyState
    at_s: float
    open_alarms: Container[str]
    events: list[Event]

    def emit(self, name: EventName, state: EventState, details: dict[str, Any]) -> None:
        self.events.append(Event(self.meter_id, name, state, self.at_s, details))


class AnomalyDetector:
    """Applies the consumption rules to one meter's in-order readings."""

    def __init__(self, settings: BillingSettings, tz: ZoneInfo) -> None:
        self.settings = settings
        self.tz = tz
        self._day_span = (0.0, 0.0, 0)  # [start, end) in epoch seconds of the last local day asked for

    def update(
        self,
        meter_id: str,
        state: AnomalyState,
        at_s: float,
        open_alarms: Container[str],
        *,
        total_m3: float | None,
        total_backward_m3: float | None = None,
        flow_m3h: float | None = None,
    ) -> list[Event]:
        """Feed one reading (received at ``at_s``, not older than the last) and return new events."""
        run = _Pass(meter_id, state, at_s, open_alarms, [])
        self._reverse_flow(run, total_backward_m3, flow_m3h)
        if total_m3 is not None:
            self._register(run, total_m3)
        return run.events

    def _reverse_flow(self, run: _Pass, backward_m3: float | None, flow_m3h: float | None) -> None:
        settings, state = self.settings, run.state
        reverse = flow_m3h is not None and flow_m3h < 0
        if backward_m3 is not None:
            if state.backward_m3 is None or backward_m3 < state.backward_m3:
                state.backward_m3 = backward_m3  # first sight, or a new meter: a new baseline
            elif backward_m3 - state.backward_m3 >= settings.reverse_flow_min_m3:
                reverse = True
                state.backward_m3 = backward_m3
        name = EventName.REVERSE_FLOW
        if reverse:
            state.reverse_at_s = run.at_s
            if name not in run.open_alarms:
                run.emit(name, EventState.RAISED, {"total_backward_m3": backward_m3, "flow_m3h": flow_m3h})
        elif (
            name in run.open_alarms
            and state.reverse_at_s is not None
            and run.at_s - state.reverse_at_s >= settings.reverse_flow_clear_h * HOUR_S
        ):
            run.emit(name, EventState.CLEARED, {"last_seen": _iso(state.reverse_at_s)})

    def _register(self, run: _Pass, total_m3: float) -> None:
        state, at_s = run.state, run.at_s
        previous_at_s, previous_m3 = state.last_at_s, state.last_total_m3
        state.last_at_s, state.last_total_m3 = at_s, total_m3
        if previous_at_s is None or previous_m3 is None or state.still_since_s is None:
            self._restart(state, at_s, total_m3)
            return
        if total_m3 < previous_m3 - self.settings.index_backwards_tolerance_m3:
            cause = "rollover" if rollover_suspected(previous_m3, total_m3) else "replacement"
            details = {"previous_m3": previous_m3, "total_m3": total_m3, "cause": cause}
            run.emit(EventName.INDEX_BACKWARDS, EventState.NOTICE, details)
            self._restart(state, at_s, total_m3)
            return
        if total_m3 > previous_m3 + _EPSILON_M3:
            self._consumed(run, total_m3, previous_at_s, previous_m3)
        else:
            self._still(run)
        self._daily(run, total_m3)

    def _restart(self, state: AnomalyState, at_s: float, total_m3: float) -> None:
        state.still_since_s = at_s
        state.flow_since_s = state.flow_since_total_m3 = None
        state.day = self._day(at_s)
        state.day_start_s, state.day_start_total_m3 = at_s, total_m3

    def _consumed(self, run: _Pass, total_m3: float, previous_at_s: float, previous_m3: float) -> None:
        settings, state, at_s = self.settings, run.state, run.at_s
        state.still_since_s = at_s
        if EventName.NO_CONSUMPTION in run.open_alarms:
            run.emit(EventName.NO_CONSUMPTION, EventState.CLEARED, {"total_m3": total_m3})
        if at_s - previous_at_s > settings.continuous_flow_max_gap_h * HOUR_S:
            # A quiet hour may hide in a long gap: continuity is only claimed from here on.
            state.flow_since_s, state.flow_since_total_m3 = at_s, total_m3
        elif state.flow_since_s is None:
            state.flow_since_s, state.flow_since_total_m3 = previous_at_s, previous_m3
        name = EventName.CONTINUOUS_FLOW
        if (
            name not in run.open_alarms
            and state.flow_since_s is not None
            and at_s - state.flow_since_s >= settings.continuous_flow_h * HOUR_S
        ):
            details: dict[str, Any] = {
                "since": _iso(state.flow_since_s),
                "hours": round((at_s - state.flow_since_s) / HOUR_S, 2),
                "consumed_m3": round(total_m3 - (state.flow_since_total_m3 or 0.0), 6),
            }
            run.emit(name, EventState.RAISED, details)

    def _still(self, run: _Pass) -> None:
        settings, state, at_s = self.settings, run.state, run.at_s
        still_since_s = state.still_since_s if state.still_since_s is not None else at_s
        quiet_s = at_s - still_since_s
        if quiet_s >= settings.quiet_hour_h * HOUR_S:
            state.flow_since_s = state.flow_since_total_m3 = None
            if EventName.CONTINUOUS_FLOW in run.open_alarms:
                run.emit(EventName.CONTINUOUS_FLOW, EventState.CLEARED, {"quiet_since": _iso(still_since_s)})
        name = EventName.NO_CONSUMPTION
        if name not in run.open_alarms and quiet_s >= settings.no_consumption_days * DAY_S:
            details: dict[str, Any] = {"since": _iso(still_since_s), "days": round(quiet_s / DAY_S, 2)}
            run.emit(name, EventState.RAISED, details)

    def _daily(self, run: _Pass, total_m3: float) -> None:
        state, at_s = run.state, run.at_s
        day = self._day(at_s)
        if state.day is None or state.day_start_s is None or state.day_start_total_m3 is None:
            state.day, state.day_start_s, state.day_start_total_m3 = day, at_s, total_m3
            return
        if day == state.day:
            return
        span_s = at_s - state.day_start_s
        # Judge only a day seen from its start to the next one's (12-36 h covers DST and sparse meters).
        if day == state.day + 1 and 0.5 * DAY_S <= span_s <= 1.5 * DAY_S:
            used_m3 = (total_m3 - state.day_start_total_m3) * DAY_S / span_s
            self._judge_day(run, date.fromordinal(state.day), used_m3)
        state.day, state.day_start_s, state.day_start_total_m3 = day, at_s, total_m3

    def _judge_day(self, run: _Pass, day: date, used_m3: float) -> None:
        settings, state = self.settings, run.state
        average = state.daily_average_m3
        if average is not None and state.history_days >= settings.high_consumption_history_days:
            high = (
                used_m3 > settings.high_consumption_factor * average
                and used_m3 > settings.high_consumption_min_m3
            )
            name = EventName.HIGH_CONSUMPTION
            details: dict[str, Any] = {
                "day": day.isoformat(),
                "consumption_m3": round(used_m3, 6),
                "average_m3": round(average, 6),
            }
            if high and name not in run.open_alarms:
                run.emit(name, EventState.RAISED, details)
            elif not high and name in run.open_alarms:
                run.emit(name, EventState.CLEARED, details)
        if average is None:
            state.daily_average_m3 = used_m3
        else:
            state.daily_average_m3 = average + (used_m3 - average) / settings.history_window_days
        state.history_days += 1

    def _day(self, at_s: float) -> int:
        """The local date of ``at_s`` as an ordinal (asked with every reading: the day's span is kept)."""
        start_s, end_s, ordinal = self._day_span
        if start_s <= at_s < end_s:
            return ordinal
        local = datetime.fromtimestamp(at_s, self.tz)
        day = local.date()
        midnight = datetime(day.year, day.month, day.day, tzinfo=self.tz)
        following = date.fromordinal(day.toordinal() + 1)
        next_midnight = datetime(following.year, following.month, following.day, tzinfo=self.tz)
        self._day_span = (midnight.timestamp(), next_midnight.timestamp(), day.toordinal())
        return day.toordinal()
