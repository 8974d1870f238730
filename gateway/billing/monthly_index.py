"""The monthly index: billing cut-offs in local time and the best index of a meter at a cut-off.

A cut-off is 00:00 local time on ``cutoff_day`` of a month; it closes the month before it, which
labels the index (cut-off 2026-10-01 00:00 Europe/Rome closes "2026-09"). The index comes, best first,
from the meter's own register for that instant (``actual``), from linear interpolation between the
readings around it (``interpolated``), or from the last reading before it (``estimated``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo


class IndexSource(StrEnum):
    """Where a monthly index comes from; later members are better."""

    ESTIMATED = "estimated"
    INTERPOLATED = "interpolated"
    ACTUAL = "actual"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {IndexSource.ESTIMATED: 1, IndexSource.INTERPOLATED: 2, IndexSource.ACTUAL: 3}


@dataclass(frozen=True, slots=True)
class Sample:
    """One register value at one receive instant (seconds since the epoch, UTC)."""

    at_s: float
    total_m3: float

    def to_json(self) -> dict[str, Any]:
        return {"received_at": iso_utc(self.at_s), "total_m3": self.total_m3}


@dataclass(frozen=True, slots=True)
class Register:
    """A meter's own month-end / set-day register and the telegram that carried it."""

    value_m3: float
    target_date: date
    received_at_s: float
    total_m3: float | None  # the carrying telegram's current total, when it had one

    def to_json(self) -> dict[str, Any]:
        return {
            "received_at": iso_utc(self.received_at_s),
            "total_m3": self.total_m3,
            "target_m3": self.value_m3,
            "target_date": self.target_date.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class MonthlyIndex:
    """A meter's index at a billing cut-off, as published (see the monthly MQTT payload)."""

    meter_id: str
    month: str  # "2026-09": the month the cut-off closes
    cutoff: datetime  # local time, aware
    index_m3: float
    source: IndexSource
    revision: int
    consumption_m3: float | None
    reading_age_s: float | None
    readings: tuple[dict[str, Any], ...]
    manufacturer: str
    medium: str

    def to_json(self) -> dict[str, Any]:
        return {
            "meter_id": self.meter_id,
            "month": self.month,
            "cutoff": self.cutoff.isoformat(),
            "index_m3": self.index_m3,
            "source": str(self.source),
            "revision": self.revision,
            "consumption_m3": self.consumption_m3,
            "reading_age_s": self.reading_age_s,
            "readings": [dict(item) for item in self.readings],
            "manufacturer": self.manufacturer,
            "medium": self.medium,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MonthlyIndex:
        return cls(
            meter_id=data["meter_id"],
            month=data["month"],
            cutoff=datetime.fromisoformat(data["cutoff"]),
            index_m3=float(data["index_m3"]),
            source=IndexSource(data["source"]),
            revision=int(data["revision"]),
            consumption_m3=data["consumption_m3"],
            reading_age_s=data["reading_age_s"],
            readings=tuple(dict(item) for item in data["readings"]),
            manufacturer=data["manufacturer"],
            medium=data["medium"],
        )


def iso_utc(at_s: float) -> str:
    """An epoch instant as ISO 8601 in UTC."""
    return datetime.fromtimestamp(at_s, UTC).isoformat()


def epoch_s(instant: datetime) -> float:
    """Seconds since the epoch; a naive datetime is taken as UTC."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.timestamp()


@dataclass(frozen=True, slots=True)
class Cutoff:
    """One billing cut-off: the local instant and the month it closes."""

    at: datetime  # aware, in the configured zone
    month: str  # "YYYY-MM"
    at_s: float  # the same instant, seconds since the epoch

    def register_dates(self) -> tuple[date, date]:
        """The target dates that stamp a register taken at this cut-off (see docs/billing.md).

        Meters stamp their month-end register either with the last day of the month (the value at
        the END of that day) or with the 1st (the value at the START of that day): both are 00:00
        on the cut-off date.
        """
        day = self.at.date()
        return (day - timedelta(days=1), day)


CUTOFFS_KEPT = 240  # cut-offs a calendar remembers (20 years of months)


class BillingCalendar:
    """Billing cut-offs in one time zone: 00:00 local on ``cutoff_day`` of every month."""

    def __init__(self, tz: ZoneInfo, cutoff_day: int = 1) -> None:
        if not 1 <= cutoff_day <= 28:
            raise ValueError(f"cutoff_day must be within 1..28, got {cutoff_day}")
        self.tz = tz
        self.cutoff_day = cutoff_day
        self._cutoffs: dict[tuple[int, int], Cutoff] = {}  # asked for with every reading: made once

    def cutoff_in(self, year: int, month: int) -> Cutoff:
        """The cut-off that falls in calendar month ``year-month`` (it closes the month before)."""
        cutoff = self._cutoffs.get((year, month))
        if cutoff is None:
            at = datetime(year, month, self.cutoff_day, tzinfo=self.tz)
            closed_year, closed_month = (year - 1, 12) if month == 1 else (year, month - 1)
            cutoff = Cutoff(at=at, month=f"{closed_year:04d}-{closed_month:02d}", at_s=at.timestamp())
            if len(self._cutoffs) >= CUTOFFS_KEPT:
                self._cutoffs.clear()
            self._cutoffs[year, month] = cutoff
        return cutoff

    def cutoff_for_month(self, month: str) -> Cutoff:
        """The cut-off that closes ``month`` ("2026-09" -> 2026-10-01 00:00 local)."""
        year, number = (int(part) for part in month.split("-"))
        return self.cutoff_in(*_next_month(year, number))

    def latest_at_or_before(self, instant: datetime) -> Cutoff:
        """The most recent cut-off at or before ``instant``."""
        local = instant.astimezone(self.tz)
        cutoff = self.cutoff_in(local.year, local.month)
        if cutoff.at > instant:
            cutoff = self.previous(cutoff)
        return cutoff

    def next(self, cutoff: Cutoff) -> Cutoff:
        return self.cutoff_in(*_next_month(cutoff.at.year, cutoff.at.month))

    def previous(self, cutoff: Cutoff) -> Cutoff:
        year, month = cutoff.at.year, cutoff.at.month
        return self.cutoff_in(*((year - 1, 12) if month == 1 else (year, month - 1)))


def previous_month(month: str) -> str:
    year, number = (int(part) for part in month.split("-"))
    year, number = (year - 1, 12) if number == 1 else (year, number - 1)
    return f"{year:04d}-{number:02d}"


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def interpolate(before: Sample, after: Sample, at_s: float) -> float:
    """The register at ``at_s`` on the straight line between two samples."""
    span = after.at_s - before.at_s
    if span <= 0:
        return after.total_m3
    return before.total_m3 + (after.total_m3 - before.total_m3) * (at_s - before.at_s) / span


@dataclass(frozen=True, slots=True)
class IndexCandidate:
    """The best index that the data around one cut-off supports, before revision and consumption."""

    index_m3: float
    source: IndexSource
    reading_age_s: float
    readings: tuple[dict[str, Any], ...]


def best_index(
    cutoff_s: float,
    before: Sample | None,
    after: Sample | None,
    register: Register | None,
    interpolation_span_s: float,
) -> IndexCandidate | None:
    """The best index for one cut-off from what is known, or None when nothing is."""
    if register is not None:
        return IndexCandidate(register.value_m3, IndexSource.ACTUAL, 0.0, (register.to_json(),))
    if before is None:
        return None
    # A lower register after the cut-off is another meter (replaced) or a rollover: no line to draw.
    if (
        after is not None
        and after.at_s - before.at_s <= interpolation_span_s
        and after.total_m3 >= before.total_m3
    ):
        value = interpolate(before, after, cutoff_s)
        age = max(cutoff_s - before.at_s, after.at_s - cutoff_s)
        return IndexCandidate(
            round(value, 6), IndexSource.INTERPOLATED, age, (before.to_json(), after.to_json())
        )
    return IndexCandidate(before.total_m3, IndexSource.ESTIMATED, cutoff_s - before.at_s, (before.to_json(),))
