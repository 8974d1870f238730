"""Clocks: the system's, and a manual one that tests and replays drive by hand."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def machine_timezone() -> str:
    """The machine's time zone name ($TZ, /etc/localtime's link, /etc/timezone), "UTC" when none is known."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    link = os.path.realpath("/etc/localtime")
    if "/zoneinfo/" in link:
        candidates.append(link.split("/zoneinfo/", 1)[1])
    try:
        with open("/etc/timezone", encoding="ascii") as file:
            candidates.append(file.read().strip())
    except (OSError, UnicodeDecodeError):
        pass
    for name in candidates:
        if not name or name.startswith("/"):
            continue
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
        return name
    return "UTC"

# Receive times outside these bounds are refused wherever they enter (a replay line, a head-end's /raw
# message, a Pi whose clock has not been set since boot) and never reach the billing state.
EARLIEST_PLAUSIBLE = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_PLAUSIBLE = datetime(2100, 1, 1, tzinfo=UTC)  # the billing core's own bound, with no wall clock
DEFAULT_MAX_AHEAD_S = 3600.0  # how far a live time may be ahead of the system clock


def implausible_time(instant: datetime, wall_now: datetime | None, max_ahead_s: float) -> str | None:
    """Why ``instant`` cannot be a receive time, or None: before 2000, or ahead of ``wall_now`` by more
    than ``max_ahead_s`` (no wall clock: before 2100)."""
    if instant < EARLIEST_PLAUSIBLE:
        return f"{instant.isoformat()} is before {EARLIEST_PLAUSIBLE.year}"
    if wall_now is not None:
        ahead_s = (instant - wall_now).total_seconds()
        if ahead_s > max_ahead_s:
            return f"{instant.isoformat()} is {ahead_s:.0f} s ahead of the system clock (> {max_ahead_s:.0f})"
    elif instant >= LATEST_PLAUSIBLE:
        return f"{instant.isoformat()} is after {LATEST_PLAUSIBLE.year}"
    return None


def meter_clock_instant(local: datetime, tz: tzinfo, received_at: datetime) -> datetime:
    """A meter clock's date-time (no zone: wall time in ``tz``) as an aware instant in ``tz``.

    In the repeated autumn hour the occurrence nearest the receive time is taken, and in the skipped
    spring hour the reading (the standard or the summer offset) nearest it: a meter's clock is within
    half an hour of the gateway's, and the type F summer-time bit cannot be relied on (many meters never
    set it). An aware value is returned as it is. Rule: docs/records.md, "Meter clocks".
    """
    if local.tzinfo is not None and local.utcoffset() is not None:
        return local
    # built, not replace()d: keyword replace() costs half again as much (once a reading of most meters)
    wall = (local.year, local.month, local.day, local.hour, local.minute, local.second, local.microsecond)
    first = datetime(*wall, tz, fold=0)
    second = datetime(*wall, tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first.astimezone(tz)  # neither repeated nor skipped
    chosen = min((first, second), key=lambda at: abs((at - received_at).total_seconds()))
    return chosen.astimezone(UTC).astimezone(tz)


class Clock(Protocol):
    """Where the daemon, the simulator and the health monitor read the time from."""

    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    @staticmethod
    def monotonic() -> float:
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told to; sleepers wake when it passes their deadline."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start
        self._sleepers: list[tuple[datetime, asyncio.Future[None]]] = []
        self._due: datetime | None = None  # the earliest sleeper's deadline

    def now(self) -> datetime:
        return self._now

    def set(self, instant: datetime) -> None:
        """Move to ``instant`` (never backwards) and wake the sleepers it passes."""
        if instant > self._now:
            self._now = instant
            if self._due is not None and instant >= self._due:  # set once a frame in a replay: cheap
                self._wake()

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds``."""
        self.set(self._now + timedelta(seconds=seconds))

    async def sleep(self, seconds: float) -> None:
        deadline = self._now + timedelta(seconds=seconds)
        if deadline <= self._now:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((deadline, future))
        if self._due is None or deadline < self._due:
            self._due = deadline
        await future

    def _wake(self) -> None:
        due = [entry for entry in self._sleepers if entry[0] <= self._now]
        self._sleepers = [entry for entry in self._sleepers if entry[0] > self._now]
        self._due = min((entry[0] for entry in self._sleepers), default=None)
        for _, future in due:
            if not future.done():
                future.set_result(None)
