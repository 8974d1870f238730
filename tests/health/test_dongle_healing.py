"""Health against a real source (Im871aSource) and a fake iM871A on a pseudo-terminal (tests/radio/fakes.py).

The fake speaks the IMST "WMBus HCI Specification" v1.6 byte for byte; what it adds here is a hung
receiver: the port stays open and commands are answered, but no telegram comes out until the fake's
cure happens: a SetConfig (re-initialisation), the host opening the port anew (pyserial flushes the
input queue on open, which the pty master sees in packet mode, TIOCPKT), or the host closing the port
(the master reads EIO while nobody has the port open). Time is a ManualClock shared by source and monitor.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import struct
import termios
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from gateway.clock import ManualClock
from gateway.health import HealthEvent, HealthEventName, HealthMonitor, SourceState
from gateway.radio.base import Backoff
from gateway.radio.imst import Im871aSource
from tests.health.sim import START, meter_address, telegram
from tests.radio.fakes import FakeIm871a

WAIT_S = 5.0
STEP_S = 10
SET_CONFIG = (0x01, 0x03)


class HangingIm871a(FakeIm871a):
    """An iM871A whose receiver hangs with the port open; ``cure`` is what brings it back."""

    def __init__(self, directory: Path, cure: str) -> None:
        super().__init__(directory)
        self.cure = cure  # "set_config", "port_reopen" or "port_close"
        self.hung = False
        self.dropped = 0
        self.port_opens = 0
        self.port_closes = 0
        self._host_open = False

    def plug(self) -> None:
        super().plug()
        assert self._master is not None
        fcntl.ioctl(self._master, termios.TIOCPKT, struct.pack("i", 1))

    def release_slave(self) -> None:
        """Close the fake's own handle on the slave, so that the host closing the port becomes visible."""
        if self._slave is not None:
            os.close(self._slave)
            self._slave = None

    def send_telegram(self, frame: bytes, rssi_raw: int = 0x80) -> None:
        if self.hung:
            self.dropped += 1
            return
        super().send_telegram(frame, rssi_raw)

    def _answer(self, endpoint: int, msg_id: int, payload: bytes) -> None:
        super()._answer(endpoint, msg_id, payload)
        if (endpoint, msg_id) == SET_CONFIG and self.cure == "set_config":
            self.hung = False

    def _readable(self) -> None:
        master = self._master
        assert master is not None
        try:
            data = os.read(master, 4096)
        except BlockingIOError:
            return
        except OSError:  # EIO: nobody has the port open
            if self._host_open:
                self._host_open = False
                self.port_closes += 1
                if self.cure == "port_close":
                    self.hung = False
            # The master stays readable (hang-up) while the port is closed: look again shortly, do not spin.
            loop = asyncio.get_running_loop()
            loop.remove_reader(master)
            loop.call_later(0.005, self._watch_again)
            return
        self._host_open = True
        if data[0] != termios.TIOCPKT_DATA:  # a status packet: the host flushed, as pyserial does on open
            if data[0] & termios.TIOCPKT_FLUSHREAD:
                self.port_opens += 1
                if self.port_opens > 1 and self.cure == "port_reopen":
                    self.hung = False
            return
        self.host_bytes += data[1:]
        self.on_host_bytes(data[1:])

    def _watch_again(self) -> None:
        if self._master is not None:
            asyncio.get_running_loop().add_reader(self._master, self._readable)


async def _eventually(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT_S):
        while not condition():
            await asyncio.sleep(0.002)


class District:
    """Meters (address, interval, phase) heard through the fake; the monitor ticks on the shared clock."""

    def __init__(self, fake: HangingIm871a, meters: list[tuple[bytes, int, int]], tick_s: int = 30) -> None:
        self.fake = fake
        self.meters = meters
        self.clock = ManualClock(START)
        self.source = Im871aSource(
            "im0", str(fake.path), clock=self.clock, backoff=Backoff(0.02, 0.1), reply_timeout_s=1.0
        )
        self.monitor = HealthMonitor(self.clock)
        self.monitor.add_source(self.source)
        self.tick_s = tick_s
        self.elapsed_s = 0
        self.sent = 0
        self.received = 0
        self.events: list[HealthEvent] = []
        self.skip: Callable[[int, int], bool] = lambda meter, at: False
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> District:
        self._task = asyncio.create_task(self._pump())
        await asyncio.wait_for(self.fake.configured.wait(), WAIT_S)
        self.fake.release_slave()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _pump(self) -> None:
        async for frame in self.source.frames():  # what the daemon does: every frame to the monitor
            self.monitor.on_frame(frame)
            self.received += 1

    async def run_until(self, until_s: int) -> None:
        while self.elapsed_s < until_s:
            self.elapsed_s += STEP_S
            self.clock.set(START + timedelta(seconds=self.elapsed_s))
            due = [
                (n, address)
                for n, (address, interval, phase) in enumerate(self.meters)
                if self.elapsed_s % interval == phase and not self.skip(n, self.elapsed_s)
            ]
            if due:
                await _eventually(lambda: self.source.stats.connected)
                for _, address in due:
                    self.fake.send_telegram(telegram(address))
                    self.sent += 1
                await _eventually(lambda: self.received + self.fake.dropped == self.sent)
            if self.elapsed_s % self.tick_s == 0:
                self.events.extend(await self.monitor.tick())

    def first(self, name: HealthEventName) -> HealthEvent:
        event = next((event for event in self.events if event.name is name), None)
        assert event is not None, f"no {name}"
        return event

    def seconds(self, event: HealthEvent) -> float:
        return (event.at - START).total_seconds()


def busy_meters() -> list[tuple[bytes, int, int]]:
    return [(meter_address(n), 60 if n < 6 else 120, (n * 10) % (60 if n < 6 else 120)) for n in range(12)]


@pytest.fixture
async def hung_by(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[HangingIm871a]:
    fake = HangingIm871a(tmp_path, cure=request.param)
    fake.plug()
    yield fake
    fake.unplug()


@pytest.mark.parametrize("hung_by", ["set_config"], indirect=True)
async def test_a_dongle_mute_with_its_port_open_is_found_and_healed_by_reinitialisation(
    hung_by: HangingIm871a,
) -> None:
    async with District(hung_by, busy_meters()) as district:
        await district.run_until(20 * 60)
        assert district.events == []
        hung_by.hung = True
        stalled_at = district.elapsed_s
        await district.run_until(stalled_at + 10 * 60)
    settings = district.monitor.settings
    silent = district.first(HealthEventName.SOURCE_SILENT)
    assert district.seconds(silent) - stalled_at <= settings.min_silence_s + settings.tick_s
    assert silent.details["connected"] is True  # mute with its port open: the source saw nothing wrong
    recovered = district.first(HealthEventName.SOURCE_RECOVERED)
    assert recovered.details["healed_by"] == "reinitialise"
    assert recovered.details["heal_steps"] == 1
    assert district.seconds(recovered) - district.seconds(silent) <= 2 * settings.tick_s
    assert sum(1 for command in hung_by.commands if command[:2] == SET_CONFIG) == 2  # start + heal
    assert district.source.stats.reconnects == 0 and hung_by.port_opens == 1  # the port stayed open
    assert district.monitor.state("im0") is SourceState.HEALTHY


@pytest.mark.parametrize(
    "hung_by",
    [
        "port_reopen",
        "port_close",
    ],
    indirect=True,
)
async def test_a_dongle_that_needs_its_port_reopened_is_healed_at_the_second_step(
    hung_by: HangingIm871a,
) -> None:
    async with District(hung_by, busy_meters()) as district:
        await district.run_until(20 * 60)
        hung_by.hung = True
        stalled_at = district.elapsed_s
        await district.run_until(stalled_at + 15 * 60)
    settings = district.monitor.settings
    silent = district.first(HealthEventName.SOURCE_SILENT)
    assert district.seconds(silent) - stalled_at <= settings.min_silence_s + settings.tick_s
    recovered = district.first(HealthEventName.SOURCE_RECOVERED)
    assert recovered.details["healed_by"] == "reopen"
    assert recovered.details["heal_steps"] == 2
    heals = district.monitor.health_report()["sources"]["im0"]["recent_heals"]
    assert [(heal["action"], heal["outcome"]) for heal in heals] == [
        ("reinitialise", "no_effect"),
        ("reopen", "recovered"),
    ]
    assert hung_by.port_opens == 2
    assert district.source.stats.reconnects == 1


@pytest.mark.parametrize("hung_by", ["set_config"], indirect=True)
async def test_a_quiet_healthy_dongle_is_not_touched_for_two_days(hung_by: HangingIm871a) -> None:
    hours = 3600
    quiet = [(meter_address(n), 6 * hours, n * 1800) for n in range(3)] + [(meter_address(9), 2 * hours, 600)]
    async with District(hung_by, quiet) as district:
        # A third of one meter's telegrams lost.
        district.skip = lambda meter, at: meter == 0 and (at // (6 * hours)) % 3 == 1
        await district.run_until(2 * 24 * hours)
    assert district.received > 20
    assert district.events == []
    assert sum(1 for command in hung_by.commands if command[:2] == SET_CONFIG) == 1  # only the start
    assert district.source.stats.reconnects == 0
    assert district.monitor.state("im0") is SourceState.HEALTHY
