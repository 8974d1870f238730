"""Receiver health figures on simulated districts: detection and heal times, false resets, cost per frame.

Run: .venv/bin/python bench/health.py [--seeds N]
Every scenario runs on a ManualClock (a simulated week takes seconds); the meters, the dongle and its
stall come from tests/health/sim.py.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.clock import ManualClock
from gateway.frame import LinkMode, ReceivedFrame
from gateway.health import HealAction, HealthEventName, HealthMonitor
from tests.health.sim import START, SimDongle, SimMeter, meter_address, simulate, telegram

HOUR = 3600.0
DAY = 86_400.0
District = Callable[[random.Random], list[SimMeter]]


def dense(rng: random.Random) -> list[SimMeter]:
    """30 meters every 16 s to 5 min, 20 % loss: a dongle on a street of flats."""
    return [
        SimMeter(meter_address(n), rng.choice([16.0, 32.0, 60.0, 120.0, 300.0]), loss=0.2, jitter_s=1.5)
        for n in range(30)
    ]


def village(rng: random.Random) -> list[SimMeter]:
    """10 meters every 7.5 to 30 min, 30 % loss."""
    return [
        SimMeter(meter_address(n), rng.choice([450.0, 900.0, 1800.0]), loss=0.3, jitter_s=30.0)
        for n in range(10)
    ]


def twice_a_day(rng: random.Random) -> list[SimMeter]:
    """3 meters every 12 h (10 min jitter), 30 % loss: the issue's quiet night."""
    return [SimMeter(meter_address(n), 12 * HOUR, loss=0.3, jitter_s=600.0) for n in range(3)]


def hourly_mix(rng: random.Random) -> list[SimMeter]:
    """10 meters every 1, 2 or 6 h, 25 % loss."""
    return [
        SimMeter(meter_address(n), rng.choice([HOUR, 2 * HOUR, 6 * HOUR]), loss=0.25, jitter_s=120.0)
        for n in range(10)
    ]


def lone_meter(rng: random.Random) -> list[SimMeter]:
    """One meter every 15 min with 40 % loss."""
    return [SimMeter(meter_address(1), 900.0, loss=0.4, jitter_s=30.0)]


def irregular(rng: random.Random) -> list[SimMeter]:
    """5 meters with 50 % random jitter on a 20 min interval (no clean cadence to fold)."""
    return [SimMeter(meter_address(n), 1200.0, loss=0.2, jitter_s=600.0) for n in range(5)]


def night_schedule(rng: random.Random) -> list[SimMeter]:
    """20 meters every 2 min by day, every 15 min from 22:00 to 06:00, all switching in step."""
    return [
        SimMeter(meter_address(n), 120.0, loss=0.2, jitter_s=10.0, night_interval_s=900.0) for n in range(20)
    ]


async def stall_run(
    district: District, cure: HealAction, seed: int, device: bool
) -> tuple[float, float, int]:
    """(detection s after the stall, heal s after detection, heal steps) for one stall."""
    clock = ManualClock(START)
    dongle = SimDongle(device_path="/dev/ttyUSB0" if device else None, cure=cure)
    monitor = HealthMonitor(clock, usb_resetter=dongle.usb_reset)
    monitor.add_source(dongle)
    meters = district(random.Random(seed))
    sparse = district in (twice_a_day, hourly_mix)
    stall_at = 4 * DAY if sparse else 6 * HOUR
    duration = stall_at + (6 * DAY if sparse else 6 * HOUR)
    outcome = await simulate(monitor, clock, dongle, meters, duration, seed=seed, stall_at_s=stall_at)
    silent = outcome.first(HealthEventName.SOURCE_SILENT)
    recovered = outcome.first(HealthEventName.SOURCE_RECOVERED)
    if silent is None or recovered is None:
        return float("nan"), float("nan"), 0
    return (
        outcome.seconds_after_start(silent) - stall_at,
        float(recovered.details["heal_s"]),
        int(recovered.details["heal_steps"]),
    )


async def week_run(district: District, seed: int) -> tuple[int, int, int]:
    """(heal steps run, silent events, frames) over a simulated week with a healthy dongle."""
    clock = ManualClock(START)
    dongle = SimDongle()
    monitor = HealthMonitor(clock, usb_resetter=dongle.usb_reset)
    monitor.add_source(dongle)
    outcome = await simulate(monitor, clock, dongle, district(random.Random(seed)), 7 * DAY, seed=seed)
    return len(dongle.calls), outcome.count(HealthEventName.SOURCE_SILENT), outcome.frames_delivered


def _fmt(values: list[float]) -> str:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return "not detected"
    if len(finite) < len(values):
        return f"{len(values) - len(finite)} missed!"
    return f"median {_human(statistics.median(finite))}, max {_human(max(finite))}"


def _human(seconds: float) -> str:
    if seconds >= 2 * HOUR:
        return f"{seconds / HOUR:.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"


async def stalls(seeds: int) -> None:
    print("Stall scenarios (dongle mute with its port open; tick 30 s; detection = stall -> source_silent,")
    print("heal = source_silent -> first frame again):")
    cases = [
        ("dense, cured by reinitialise", dense, HealAction.REINITIALISE, False),
        ("dense, cured by reopen", dense, HealAction.REOPEN, False),
        ("dense, cured by USB reset", dense, HealAction.USB_RESET, True),
        ("village, cured by reinitialise", village, HealAction.REINITIALISE, False),
        ("hourly mix, cured by reinitialise", hourly_mix, HealAction.REINITIALISE, False),
        ("twice a day, cured by reinitialise", twice_a_day, HealAction.REINITIALISE, False),
    ]
    for label, district, cure, device in cases:
        runs = [await stall_run(district, cure, seed, device) for seed in range(seeds)]
        steps = sorted({run[2] for run in runs})
        print(
            f"  {label:38s} detection {_fmt([r[0] for r in runs]):28s} heal {_fmt([r[1] for r in runs]):26s}"
            f" steps {steps}"
        )


async def weeks(seeds: int) -> None:
    print(f"False resets over a simulated week with a healthy dongle ({seeds} seeds each; target 0):")
    for label, district in [
        ("twice a day (3 meters / 12 h)", twice_a_day),
        ("hourly mix (10 meters / 1-6 h)", hourly_mix),
        ("lone meter (15 min, 40 % loss)", lone_meter),
        ("irregular (5 meters, +-50 % jitter)", irregular),
        ("village (10 meters / 7.5-30 min)", village),
        ("dense (30 meters / 16 s-5 min)", dense),
    ]:
        runs = [await week_run(district, seed) for seed in range(seeds)]
        print(
            f"  {label:38s} heal steps {sum(r[0] for r in runs):3d}"
            f"  silent events {sum(r[1] for r in runs):3d}"
            f"  frames/week {statistics.mean(r[2] for r in runs):8.0f}"
        )
    runs = [await week_run(night_schedule, seed) for seed in range(seeds)]
    print(
        f"  known limit: meters slowing down in step at 22:00 (night schedule): "
        f"{sum(r[1] for r in runs) / seeds / 7:.1f} silent events per night, "
        f"{sum(r[0] for r in runs)} heal steps"
    )


async def cost(meters: int = 10_000, cycles: int = 6) -> None:
    """Per-frame and per-tick cost, and the model's memory, with ``meters`` meters heard every minute."""
    frames = [
        ReceivedFrame(
            telegram(meter_address(n)),
            LinkMode.T1,
            -70.0,
            START + timedelta(seconds=c * 60 + n * 0.006),
            "sim0",
        )
        for c in range(cycles)
        for n in range(meters)
    ]
    clock = ManualClock(START)
    monitor = HealthMonitor(clock, usb_resetter=None)
    monitor.add_source(SimDongle())
    started = time.perf_counter()
    for frame in frames:
        monitor.on_frame(frame)
    per_frame_us = (time.perf_counter() - started) / len(frames) * 1e6
    clock.set(START + timedelta(seconds=cycles * 60))
    started = time.perf_counter()
    await monitor.tick()
    tick_ms = (time.perf_counter() - started) * 1e3

    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    measured = HealthMonitor(clock, usb_resetter=None)
    measured.add_source(SimDongle())
    for frame in frames:
        measured.on_frame(frame)
    memory_mb = (tracemalloc.get_traced_memory()[0] - before) / 1e6
    tracemalloc.stop()
    print(f"Cost with {meters} meters on one source, {len(frames)} frames (CPython, this machine):")
    print(f"  on_frame {per_frame_us:.1f} us/frame, tick {tick_ms:.1f} ms")
    print(f"  model memory {memory_mb:.1f} MB ({memory_mb * 1e6 / meters:.0f} B per meter)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    await stalls(args.seeds)
    await weeks(args.seeds)
    await cost()
    print(f"(bench took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    import logging

    logging.disable(logging.CRITICAL)
    asyncio.run(main())
