"""After decoding: a reading becomes publications (the reading, monthly indexes, events) and state.

The processor keeps no clock of its own: time moves with the readings' receive times and with
``tick(now)``, so a replay of two recorded months produces exactly what live operation would have.
Cut-offs and the publication grace are fixed instants; whatever crosses one first (a reading or a
tick) triggers it, before that reading is applied.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gateway.billing.anomalies import AnomalyDetector, AnomalyState
from gateway.billing.coverage import coverage_of
from gateway.billing.events import Event, EventName, EventState, alarm_transitions
from gateway.billing.monthly_index import (
    BillingCalendar,
    Cutoff,
    IndexSource,
    MonthlyIndex,
    Register,
    Sample,
    best_index,
    epoch_s,
    previous_month,
)
from gateway.billing.settings import DAY_S, HOUR_S, BillingSettings
from gateway.billing.state import StateStore
from gateway.clock import EARLIEST_PLAUSIBLE, LATEST_PLAUSIBLE, meter_clock_instant
from gateway.publication import Publication
from gateway.reading import Reading

log = logging.getLogger(__name__)
_EARLIEST_S = EARLIEST_PLAUSIBLE.timestamp()
_LATEST_S = LATEST_PLAUSIBLE.timestamp()

__all__ = ["ReadingProcessor"]

STAMPED_DATES_KEPT = 64  # register dates whose cut-off is remembered (meters send one a month)
STATE_CACHE_METERS = 1024  # meter states kept in memory, most recently read; the rest live in the store


@dataclass(slots=True)
class MonthDraft:
    """What is known about one meter around one cut-off, and what was published from it."""

    month: str
    cutoff_s: float
    before: Sample | None = None  # the last reading before the cut-off
    after: Sample | None = None  # the first reading at or after it
    register: Register | None = None  # the meter's own register for the cut-off
    published_rank: int = 0  # IndexSource.rank of the last publication, 0 = never published
    revision: int = -1
    index_m3: float | None = None  # as last published

    def to_json(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "cutoff_s": self.cutoff_s,
            "before": _sample_json(self.before),
            "after": _sample_json(self.after),
            "register": (
                None
                if self.register is None
                else [
                    self.register.value_m3,
                    self.register.target_date.isoformat(),
                    self.register.received_at_s,
                    self.register.total_m3,
                ]
            ),
            "published_rank": self.published_rank,
            "revision": self.revision,
            "index_m3": self.index_m3,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MonthDraft:
        register = data["register"]
        return cls(
            month=data["month"],
            cutoff_s=data["cutoff_s"],
            before=_sample(data["before"]),
            after=_sample(data["after"]),
            register=(
                None
                if register is None
                else Register(register[0], date.fromisoformat(register[1]), register[2], register[3])
            ),
            published_rank=data["published_rank"],
            revision=data["revision"],
            index_m3=data["index_m3"],
        )


def _sample_json(sample: Sample | None) -> list[float] | None:
    return None if sample is None else [sample.at_s, sample.total_m3]


def _sample(data: list[float] | None) -> Sample | None:
    return None if data is None else Sample(data[0], data[1])


@dataclass(slots=True)
class MeterState:
    """Everything the processor remembers about one meter; bounded (a few open months)."""

    meter_id: str
    manufacturer: str = ""
    medium: str = ""
    last: Sample | None = None  # the latest reading with a total
    last_seen_s: float | None = None  # the latest reading of any kind
    notified_month: str | None = None
    drafts: list[MonthDraft] = field(default_factory=list)  # oldest first
    anomalies: AnomalyState = field(default_factory=AnomalyState)
    alarms: set[str] = field(default_factory=set)  # open alarms (kept in the alarms table)

    def draft(self, month: str) -> MonthDraft | None:
        for draft in self.drafts:
            if draft.month == month:
                return draft
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "manufacturer": self.manufacturer,
            "medium": self.medium,
            "last": _sample_json(self.last),
            "last_seen_s": self.last_seen_s,
            "notified_month": self.notified_month,
            "drafts": [draft.to_json() for draft in self.drafts],
            "anomalies": self.anomalies.to_json(),
        }

    @classmethod
    def from_json(cls, meter_id: str, data: dict[str, Any]) -> MeterState:
        return cls(
            meter_id=meter_id,
            manufacturer=data["manufacturer"],
            medium=data["medium"],
            last=_sample(data["last"]),
            last_seen_s=data["last_seen_s"],
            notified_month=data["notified_month"],
            drafts=[MonthDraft.from_json(item) for item in data["drafts"]],
            anomalies=AnomalyState.from_json(data["anomalies"]),
        )


class ReadingProcessor:
    """Dedup'd readings in, publications out; state goes to the :class:`StateStore`.

    With ``autocommit`` (the default) every ``process``/``tick`` call commits; a caller that batches
    sets it to False and calls :meth:`commit` once the publications are safely queued.

    Each meter's state is written to the store whenever it changes, so memory holds only the
    ``cache_meters`` most recently read (the rest are read back when their meter is heard) and the
    open alarms: a gateway of 100,000 meters costs no more memory than one of a thousand.
    """

    def __init__(
        self,
        store: StateStore,
        settings: BillingSettings | None = None,
        tz: ZoneInfo | None = None,
        *,
        autocommit: bool = True,
        cache_meters: int = STATE_CACHE_METERS,
    ) -> None:
        self.store = store
        self.cache_meters = max(1, cache_meters)
        self.settings = settings or BillingSettings()
        self.tz = tz or ZoneInfo("Europe/Rome")
        self.autocommit = autocommit
        self.calendar = BillingCalendar(self.tz, self.settings.cutoff_day)
        self._detector = AnomalyDetector(self.settings, self.tz)
        self._span_s = self.settings.interpolation_span_h * HOUR_S
        self._grace_s = self.settings.publish_grace_h * HOUR_S
        self._states: OrderedDict[str, MeterState] = OrderedDict()  # least recently read first
        self._alarms: dict[str, set[str]] = {}  # open alarms of the meters that have any
        for alarm in store.open_alarms():
            self._alarms.setdefault(alarm.meter_id, set()).add(alarm.name)
        clock = store.get_meta("processor.clock_s")
        self._clock_s: float | None = float(clock) if clock is not None else None
        last_month = store.get_meta("processor.last_cutoff")
        if not _plausible_s(self._clock_s) or not _plausible_month(last_month):
            # Left by a time stamp far in the future before such times were refused: start afresh at
            # the next reading rather than fail ("year 10000 is out of range") on every start.
            log.error(
                "the state holds an implausible clock (%s, last cut-off %s): ignored; run `wmbus-gateway"
                " state repair` to mend the meters' states too",
                clock,
                last_month,
            )
            self._clock_s, last_month = None, None
        self._last_cutoff: Cutoff | None = (
            self.calendar.cutoff_for_month(last_month) if last_month is not None else None
        )
        self._next_cutoff: Cutoff | None = (
            self.calendar.next(self._last_cutoff) if self._last_cutoff is not None else None
        )
        self._grace_month: str | None = store.get_meta("processor.grace_month") or None
        if not _plausible_month(self._grace_month):
            self._grace_month = None
        self._meta_dirty = False
        self._stamped: dict[date, Cutoff | None] = {}  # register dates looked up (_cutoff_stamped)
        self._oldest: tuple[Cutoff | None, Cutoff] = (None, self.calendar.cutoff_in(2000, 1))  # _oldest_open

    # -- the contract ------------------------------------------------------------------------------

    def process(self, reading: Reading, *, source: str, duplicates: int) -> list[Publication]:
        """Apply one (new, not duplicate) reading; returns what to publish, in order."""
        at_s = epoch_s(reading.received_at)
        if not _EARLIEST_S <= at_s < _LATEST_S:  # refused at the edge; never close a month on it
            self.store.add_counter("readings_implausible_time")
            return []
        out = self._advance(at_s)
        state = self._state(reading.meter_id)
        state.manufacturer, state.medium = reading.manufacturer, reading.medium
        payload = reading.to_json()
        payload.update(source=source, duplicates=duplicates, rssi_dbm=reading.rssi_dbm)
        meter_time = reading.meter_datetime
        if meter_time is not None and meter_time.tzinfo is None:
            # the meter's wall clock, in the billing zone: published with its offset, never ambiguous
            instant = meter_clock_instant(meter_time, self.tz, reading.received_at)
            payload["meter_datetime"] = instant.isoformat()
        out.append(Publication("reading", reading.meter_id, payload))
        store = self.store
        store.add_counter("readings")
        in_order = state.last_seen_s is None or at_s >= state.last_seen_s
        if in_order:
            state.last_seen_s = at_s
            store.save_last_reading(reading.meter_id, reading.received_at, payload)
            events = (
                alarm_transitions(
                    reading.meter_id,
                    state.alarms,
                    reading.alarms,
                    at_s,
                    {"status_raw": reading.status_raw, "total_m3": reading.total_m3},
                )
                if reading.alarms or state.alarms
                else []  # most readings: nothing raised, nothing to clear (no details built either)
            )
            events += self._detector.update(
                reading.meter_id,
                state.anomalies,
                at_s,
                state.alarms,
                total_m3=reading.total_m3,
                total_backward_m3=reading.total_backward_m3,
                flow_m3h=reading.flow_m3h,
            )
            out.extend(self._apply_events(state, events))
        else:
            store.add_counter("readings_out_of_order")
        if reading.total_m3 is not None:
            out.extend(self._apply_sample(state, Sample(at_s, reading.total_m3), in_order))
        if reading.target_m3 is not None and reading.target_date is not None:
            out.extend(self._apply_register(state, reading, at_s))
        store.save_meter_state(state.meter_id, state.to_json)  # made when written: once a commit
        if self.autocommit:
            self.commit()
        return out

    def tick(self, now: datetime) -> list[Publication]:
        """Let time pass up to ``now`` (the daemon's clock): cut-offs, delayed publications."""
        now_s = epoch_s(now)
        if not _EARLIEST_S <= now_s < _LATEST_S:
            return []
        out = self._advance(now_s)
        if self.autocommit:
            self.commit()
        return out

    def commit(self) -> None:
        """Make the state durable (everything returned so far is then acknowledged)."""
        if self._meta_dirty:
            store = self.store
            if self._clock_s is not None:
                store.set_meta("processor.clock_s", repr(self._clock_s))
            if self._last_cutoff is not None:
                store.set_meta("processor.last_cutoff", self._last_cutoff.month)
            store.set_meta("processor.grace_month", self._grace_month or "")
            self._meta_dirty = False
        self.store.commit()

    def coverage_report(self, now: datetime) -> dict[str, Any]:
        """Coverage at ``now``: this billing month's readings, last month's actual indexes."""
        last_cutoff = self.calendar.latest_at_or_before(now)
        # last_reading is saved with each in-order reading, as the state's last_seen_s; one pass over the
        # provisioned meters, nothing of them kept
        coverage = coverage_of(
            self.store.coverage_rows(last_cutoff.month),
            last_cutoff,
            self.calendar.next(last_cutoff).month,
        )
        return coverage.to_json()

    # -- time --------------------------------------------------------------------------------------

    def _advance(self, now_s: float) -> list[Publication]:
        """Move the processor's clock to ``now_s`` (never back), running the instants it passes."""
        if self._clock_s is None or self._next_cutoff is None:
            self._clock_s = now_s
            self._last_cutoff = self.calendar.latest_at_or_before(datetime.fromtimestamp(now_s, UTC))
            self._next_cutoff = self.calendar.next(self._last_cutoff)
            self._meta_dirty = True
            return []
        if now_s <= self._clock_s:
            return []
        out: list[Publication] = []
        while True:
            grace_s = self._grace_deadline_s()
            cutoff_s = self._next_cutoff.at_s
            if grace_s is not None and grace_s <= now_s and grace_s <= cutoff_s:
                out.extend(self._publish_due(self._grace_month or ""))
                self._grace_month = None
            elif cutoff_s <= now_s:
                out.extend(self._close(self._next_cutoff))
            else:
                break
        self._clock_s = now_s
        self._meta_dirty = True
        return out

    def _grace_deadline_s(self) -> float | None:
        month = self._grace_month
        if month is None:
            return None
        last = self._last_cutoff
        cutoff = last if last is not None and last.month == month else self.calendar.cutoff_for_month(month)
        return cutoff.at_s + self._grace_s

    def _close(self, cutoff: Cutoff) -> list[Publication]:
        """A cut-off passed: every meter read before it gets a draft for the month it closes.

        Only provisioned meters when any are (the head-end, with none, closes every meter it heard),
        and only meters heard within ``estimate_max_age_days``.
        """
        out: list[Publication] = []
        cutoff_s = cutoff.at_s
        provisioned = self.store.has_meters()
        oldest_s = cutoff_s - self.settings.estimate_max_age_days * DAY_S
        for state in self._every_state():
            if state.last is None or state.last.at_s < oldest_s or state.draft(cutoff.month) is not None:
                continue
            if provisioned and not self.store.is_provisioned(state.meter_id):
                continue
            before = state.last if state.last.at_s < cutoff_s else None
            out.extend(self._add_draft(state, MonthDraft(cutoff.month, cutoff_s, before=before)))
            self.store.save_meter_state(state.meter_id, state.to_json())
        self._last_cutoff = cutoff
        self._next_cutoff = self.calendar.next(cutoff)
        self._grace_month = cutoff.month
        self._meta_dirty = True
        return out

    def _publish_due(self, month: str) -> list[Publication]:
        """The grace after a cut-off ended: publish the best index of every meter not yet published."""
        out: list[Publication] = []
        for state in self._every_state():
            draft = state.draft(month)
            if draft is not None and draft.published_rank == 0:
                out.extend(self._publish(state, draft, force=True))
                self.store.save_meter_state(state.meter_id, state.to_json())
        return out

    # -- the monthly index -------------------------------------------------------------------------

    def _add_draft(self, state: MeterState, draft: MonthDraft) -> list[Publication]:
        """Open a draft; the oldest beyond ``open_months`` is published if it never was, and dropped."""
        out: list[Publication] = []
        state.drafts.append(draft)
        state.drafts.sort(key=lambda item: item.cutoff_s)
        while len(state.drafts) > self.settings.open_months:
            oldest = state.drafts[0]
            if oldest.published_rank == 0:
                out.extend(self._publish(state, oldest, force=True))
            state.drafts.pop(0)
        return out

    def _apply_sample(self, state: MeterState, sample: Sample, in_order: bool) -> list[Publication]:
        out: list[Publication] = []
        for draft in state.drafts:
            if sample.at_s >= draft.cutoff_s:
                if draft.after is None or sample.at_s < draft.after.at_s:
                    draft.after = sample
                    out.extend(self._publish(state, draft))
            elif draft.before is None or sample.at_s > draft.before.at_s:
                draft.before = sample  # a late reading from before the cut-off
                out.extend(self._publish(state, draft))
        if state.last is None or sample.at_s >= state.last.at_s:
            state.last = sample
            if in_order and self.settings.reading_notifications:
                out.extend(self._notify(state, sample))
        return out

    def _apply_register(self, state: MeterState, reading: Reading, at_s: float) -> list[Publication]:
        """A month-end register: the ``actual`` index when its date stamps a passed cut-off."""
        assert reading.target_m3 is not None and reading.target_date is not None
        cutoff = self._cutoff_stamped(reading.target_date)
        if cutoff is None or at_s < cutoff.at_s or self._last_cutoff is None:
            return []  # a set day that is not our cut-off, or a cut-off still to come
        if cutoff.at_s < self._oldest_open(self._last_cutoff).at_s or cutoff.at_s > self._last_cutoff.at_s:
            return []
        out: list[Publication] = []
        draft = state.draft(cutoff.month)
        if draft is None:
            draft = MonthDraft(cutoff.month, cutoff.at_s)
            out.extend(self._add_draft(state, draft))
            if state.draft(cutoff.month) is None:
                return out
        if draft.register is not None:
            return out
        value, tolerance = reading.target_m3, self.settings.register_tolerance_m3
        too_low = draft.before is not None and value < draft.before.total_m3 - tolerance
        too_high = reading.total_m3 is not None and value > reading.total_m3 + tolerance
        if too_low or too_high:
            # Not the value at our cut-off (e.g. a register taken at the START of the last day).
            self.store.add_counter("registers_rejected")
            return out
        draft.register = Register(value, reading.target_date, at_s, reading.total_m3)
        out.extend(self._publish(state, draft))
        return out

    def _cutoff_stamped(self, target_date: date) -> Cutoff | None:
        """The cut-off whose register carries ``target_date`` (the day before it, or its own day)."""
        stamped = self._stamped  # meters send the same date all month: asked with every reading
        if target_date in stamped:
            return stamped[target_date]
        found = None
        for day in (target_date + timedelta(days=1), target_date):
            if day.day == self.calendar.cutoff_day:
                found = self.calendar.cutoff_in(day.year, day.month)
                break
        if len(stamped) >= STAMPED_DATES_KEPT:
            stamped.clear()
        stamped[target_date] = found
        return found

    def _oldest_open(self, last: Cutoff) -> Cutoff:
        """The oldest cut-off whose month is still open (``open_months`` back from ``last``)."""
        if self._oldest[0] is not last:
            oldest = last
            for _ in range(self.settings.open_months - 1):
                oldest = self.calendar.previous(oldest)
            self._oldest = (last, oldest)
        return self._oldest[1]

    def _publish(self, state: MeterState, draft: MonthDraft, *, force: bool = False) -> list[Publication]:
        """Publish the draft's best index if it improves on what was published (after the grace)."""
        candidate = best_index(draft.cutoff_s, draft.before, draft.after, draft.register, self._span_s)
        if candidate is None or candidate.source.rank <= draft.published_rank:
            return []
        waiting = self._clock_s is not None and self._clock_s < draft.cutoff_s + self._grace_s
        if draft.published_rank == 0 and candidate.source is not IndexSource.ACTUAL and waiting and not force:
            return []
        previous = self._previous_index_m3(state, draft.month)
        consumption = None
        if previous is not None:
            used = candidate.index_m3 - previous
            # A negative month means a replaced or rolled-over meter: no consumption can be told.
            if used >= -self.settings.index_backwards_tolerance_m3:
                consumption = round(max(used, 0.0), 6)
        index = MonthlyIndex(
            meter_id=state.meter_id,
            month=draft.month,
            cutoff=datetime.fromtimestamp(draft.cutoff_s, self.tz),
            index_m3=candidate.index_m3,
            source=candidate.source,
            revision=draft.revision + 1,
            consumption_m3=consumption,
            reading_age_s=round(candidate.reading_age_s, 3),
            readings=candidate.readings,
            manufacturer=state.manufacturer,
            medium=state.medium,
        )
        draft.published_rank = candidate.source.rank
        draft.revision = index.revision
        draft.index_m3 = index.index_m3
        self.store.save_monthly_index(index)
        self.store.add_counter("monthly_published")
        return [Publication("monthly", state.meter_id, index.to_json(), month=draft.month)]

    def _previous_index_m3(self, state: MeterState, month: str) -> float | None:
        earlier = previous_month(month)
        draft = state.draft(earlier)
        if draft is not None and draft.index_m3 is not None:
            return draft.index_m3
        stored = self.store.monthly_index(state.meter_id, earlier)
        return stored.index_m3 if stored is not None else None

    # -- events ------------------------------------------------------------------------------------

    def _notify(self, state: MeterState, sample: Sample) -> list[Publication]:
        """The month's first reading, for customers: "your meter read X m3 on D"."""
        month = self._running_month(sample.at_s)
        if state.notified_month == month:
            return []
        state.notified_month = month
        read_at = datetime.fromtimestamp(sample.at_s, self.tz)
        details = {"month": month, "total_m3": sample.total_m3, "date": read_at.date().isoformat()}
        event = Event(state.meter_id, EventName.READING_NOTIFICATION, EventState.NOTICE, sample.at_s, details)
        return self._apply_events(state, [event])

    def _running_month(self, at_s: float) -> str:
        """The billing month ``at_s`` falls in (the one its next cut-off closes)."""
        last, upcoming = self._last_cutoff, self._next_cutoff
        if last is not None and upcoming is not None and last.at_s <= at_s < upcoming.at_s:
            return upcoming.month
        return self.calendar.next(self.calendar.latest_at_or_before(datetime.fromtimestamp(at_s, UTC))).month

    def _apply_events(self, state: MeterState, events: list[Event]) -> list[Publication]:
        out: list[Publication] = []
        for event in events:
            name = str(event.event)
            if event.state is EventState.RAISED:
                state.alarms.add(name)
                self._alarms[state.meter_id] = state.alarms
                self.store.open_alarm(state.meter_id, name, event.at, event.details)
            elif event.state is EventState.CLEARED:
                state.alarms.discard(name)
                if not state.alarms:
                    self._alarms.pop(state.meter_id, None)
                self.store.close_alarm(state.meter_id, name)
            self.store.add_counter("events")
            out.append(Publication("event", state.meter_id, event.to_json()))
        return out

    def _state(self, meter_id: str) -> MeterState:
        """The meter's state, from memory, else from the store, else new; now the most recent in memory."""
        states = self._states
        state = states.get(meter_id)
        if state is not None:
            states.move_to_end(meter_id)
            return state
        state = states[meter_id] = self._load(meter_id)
        if len(states) > self.cache_meters:
            states.popitem(last=False)  # saved when it last changed: nothing is lost
        return state

    def _load(self, meter_id: str) -> MeterState:
        data = self.store.meter_state(meter_id)
        state = MeterState(meter_id) if data is None else MeterState.from_json(meter_id, data)
        alarms = self._alarms.get(meter_id)
        if alarms is not None:
            state.alarms = alarms
        return state

    def _every_state(self) -> Iterator[MeterState]:
        """Every meter's state, in the order they were first saved (cut-offs; memory stays bounded)."""
        states, alarms = self._states, self._alarms
        for meter_id, data in self.store.iter_meter_states():
            state = states.get(meter_id)
            if state is None:
                state = MeterState.from_json(meter_id, data)
                state.alarms = alarms.get(meter_id, state.alarms)
            yield state

    # -- inspection --------------------------------------------------------------------------------

    @property
    def clock(self) -> datetime | None:
        """The processor's notion of now (the latest instant it was driven to)."""
        return None if self._clock_s is None else datetime.fromtimestamp(self._clock_s, UTC)

    def meter_state(self, meter_id: str) -> MeterState | None:
        state = self._states.get(meter_id)
        if state is None and self.store.meter_state(meter_id) is not None:
            state = self._load(meter_id)
        return state

    def open_alarms(self, meter_id: str) -> frozenset[str]:
        return frozenset(self._alarms.get(meter_id, ()))


def _plausible_s(at_s: float | None) -> bool:
    return at_s is None or _EARLIEST_S <= at_s < _LATEST_S


def _plausible_month(month: str | None) -> bool:
    return month is None or f"{EARLIEST_PLAUSIBLE.year:04d}-01" <= month < f"{LATEST_PLAUSIBLE.year:04d}-01"
