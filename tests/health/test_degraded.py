"""Degraded: a source delivering well below its own history; the history must match what meters deliver."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.clock import ManualClock
from gateway.health import HealthMonitor, SourceState
from gateway.radio.frame import ReceivedFrame
from gateway.radio.simulator.fleet import SimulatedFleet
from tests.health.sim import START, SimDongle, SimMeter, meter_address, simulate

HOUR = 3600.0


def history_share(monitor: HealthMonitor, source: str) -> float:
    """What the source's history predicts for the rate window, over what the window holds."""
    report = monitor.health_report()["sources"][source]
    return float(report["history_per_min"] / report["frames_per_min"])


async def test_the_simulated_fleet_is_never_degraded_and_its_history_predicts_what_it_delivers() -> None:
    # The fleet of `wmbus-gateway run --simulate`: its 16 s Kamstrup repeats a telegram up to 4 s later
    # now and then; two such repeats among its last gaps fit a quarter of its interval, and a history
    # kept as a delivery ratio then predicted that meter four times over (the demo's flapping "degraded").
    clock = ManualClock(START)
    fleet = SimulatedFleet(seed=2, clock=clock, start=START)
    dongle = SimDongle(name="simulator")
    monitor = HealthMonitor(clock, usb_resetter=None)
    monitor.add_source(dongle)
    tick = timedelta(seconds=monitor.settings.tick_s)
    next_tick = START + tick
    states: set[SourceState] = set()
    shares: list[float] = []
    for tx in fleet.transmissions(START + timedelta(hours=24)):
        while next_tick <= tx.at:
            clock.set(next_tick)
            assert await monitor.tick() == []
            states.add(monitor.state(dongle.name))
            if next_tick - START >= timedelta(hours=1):  # every meter heard 3 times: all expected
                shares.append(history_share(monitor, dongle.name))
            next_tick += tick
        clock.set(tx.at)
        monitor.on_frame(ReceivedFrame(tx.data, tx.link_mode, tx.rssi_dbm, tx.at, dongle.name))
    assert states == {SourceState.LEARNING, SourceState.HEALTHY}
    assert min(shares) > 0.8 and max(shares) < 1.2
    report = monitor.health_report()["sources"][dongle.name]
    assert report["meters_expected"] == len(fleet.meters)


@pytest.mark.parametrize("interval_s", [16.0, 60.0, 300.0])
async def test_meters_with_randomised_timing_are_not_degraded(interval_s: float) -> None:
    # OMS meters randomise their timing; with a quarter of an interval either way, a sub-multiple of the
    # interval often fits most gaps (with a delivery ratio to match): the history must not double then.
    meters = [SimMeter(meter_address(n), interval_s, loss=0.05, jitter_s=0.25 * interval_s) for n in range(5)]
    dongle = SimDongle()
    clock = ManualClock(START)
    monitor = HealthMonitor(clock, usb_resetter=None)
    monitor.add_source(dongle)
    states: set[SourceState] = set()
    shares: list[float] = []

    def watch(seconds: float) -> None:
        states.add(monitor.state(dongle.name))
        if seconds >= 2 * HOUR:
            shares.append(history_share(monitor, dongle.name))

    outcome = await simulate(monitor, clock, dongle, meters, 12 * HOUR, seed=3, on_tick=watch)
    assert outcome.events == []
    assert SourceState.DEGRADED not in states
    assert max(shares) < 1.5  # the window holds 15 to 280 frames: Poisson noise, not a factor of 2
