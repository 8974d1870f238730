"""A simulated district for health tests and bench/health.py: meters on a ManualClock, a dongle that stalls.

Meters transmit at their own interval with jitter and random loss; the in-memory dongle delivers their
frames to the monitor unless it is stalled, and a stall ends only through the heal step named as its cure.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from gateway.clock import ManualClock
from gateway.frame import LinkMode, ReceivedFrame
from gateway.health import HealAction, HealthEvent, HealthEventName, HealthMonitor

START = datetime(2026, 11, 2, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SimMeter:
    """One simulated transmitter."""

    address: bytes  # M field (2) + A field (6), as in the link layer
    interval_s: float
    loss: float = 0.0
    jitter_s: float = 0.0
    rssi_dbm: float = -70.0
    night_interval_s: float | None = None  # some meters slow down between 22:00 and 06:00
    until_s: float = math.inf  # the meter stops (removed) this long after the start

    def next_interval(self, at: datetime) -> float:
        if self.night_interval_s is not None and (at.hour >= 22 or at.hour < 6):
            return self.night_interval_s
        return self.interval_s


def meter_address(number: int) -> bytes:
    return b"\x2d\x2c" + number.to_bytes(4, "little") + b"\x1b\x07"


def telegram(address: bytes) -> bytes:
    """A minimal T1 frame (L, C=SND_NR, M, A, CI) without CRCs: enough for health, which reads M and A."""
    body = b"\x44" + address + b"\x7a\x01\x00\x00\x00"
    return bytes([len(body)]) + body


@dataclass(slots=True)
class SimDongle:
    """An in-memory radio source with the heal interface; a stall ends only through ``cure``."""

    name: str = "sim0"
    device_path: str | None = None
    stalled: bool = False
    cure: HealAction | None = HealAction.REINITIALISE
    loss: float = 0.0  # share of the frames on air the dongle drops while it runs (a failing receiver)
    calls: list[str] = field(default_factory=list)

    async def reinitialise(self) -> None:
        self._heal(HealAction.REINITIALISE)

    async def reopen(self) -> None:
        self._heal(HealAction.REOPEN)

    async def usb_reset(self, device_path: str) -> str:
        self._heal(HealAction.USB_RESET)
        return f"reset {device_path}"

    def _heal(self, action: HealAction) -> None:
        self.calls.append(action.value)
        if self.stalled and action is self.cure:
            self.stalled = False


@dataclass(slots=True)
class Outcome:
    """What happened in one simulated run."""

    events: list[HealthEvent]
    frames_delivered: int
    stall_at_s: float | None

    def first(self, name: HealthEventName) -> HealthEvent | None:
        return next((event for event in self.events if event.name is name), None)

    def count(self, name: HealthEventName) -> int:
        return sum(1 for event in self.events if event.name is name)

    def seconds_after_start(self, event: HealthEvent) -> float:
        return (event.at - START).total_seconds()


async def simulate(
    monitor: HealthMonitor,
    clock: ManualClock,
    dongle: SimDongle,
    meters: list[SimMeter],
    duration_s: float,
    *,
    seed: int = 1,
    start_s: float = 0.0,
    stall_at_s: float | None = None,
    on_tick: Callable[[float], None] | None = None,
) -> Outcome:
    """Run meters and dongle from ``start_s`` to ``duration_s`` after START, ticking the monitor.

    ``on_tick`` is called after every tick with the seconds since START (to watch or change the dongle).
    """
    rng = random.Random(seed)
    queue: list[tuple[float, int]] = []
    for index, meter in enumerate(meters):
        heapq.heappush(queue, (start_s + rng.uniform(0, meter.interval_s), index))
    tick_s = monitor.settings.tick_s
    next_tick = (start_s // tick_s + 1) * tick_s
    events: list[HealthEvent] = []
    delivered = 0
    stall_pending = stall_at_s is not None
    while True:
        at_s, index = queue[0] if queue else (math.inf, -1)
        if min(at_s, next_tick) > duration_s:
            break
        if next_tick <= at_s:
            clock.set(START + _seconds(next_tick))
            events.extend(await monitor.tick())
            if on_tick is not None:
                on_tick(next_tick)
            next_tick += tick_s
            continue
        heapq.heappop(queue)
        meter = meters[index]
        at = START + _seconds(at_s)
        if stall_pending and stall_at_s is not None and at_s >= stall_at_s:
            stall_pending = False
            dongle.stalled = True
        dropped = dongle.loss > 0 and rng.random() < dongle.loss
        if not dongle.stalled and rng.random() >= meter.loss and not dropped:
            clock.set(at)
            rssi = meter.rssi_dbm + rng.gauss(0.0, 2.0)
            monitor.on_frame(ReceivedFrame(telegram(meter.address), LinkMode.T1, rssi, at, dongle.name))
            delivered += 1
        following = at_s + meter.next_interval(at) + rng.uniform(-meter.jitter_s, meter.jitter_s)
        if following < meter.until_s:
            heapq.heappush(queue, (following, index))
    return Outcome(events, delivered, stall_at_s)


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)
