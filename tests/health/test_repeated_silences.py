"""A silence the heal ladder cured is not a normal gap: repeated stalls are found as fast as the first."""

from __future__ import annotations

from gateway.clock import ManualClock
from gateway.health import HealAction, HealthEventName, HealthMonitor, HealthSettings
from tests.health.sim import START, SimDongle, SimMeter, meter_address, simulate

HOUR = 3600.0
STALLS_S = [2 * HOUR + 120.0 * n for n in range(5)]  # closer than the 256 gaps the source remembers


def district() -> list[SimMeter]:
    return [SimMeter(meter_address(n), 8.0 + n % 5, loss=0.1, jitter_s=1.0) for n in range(12)]


async def detection_delays(dongle: SimDongle) -> list[float]:
    settings = HealthSettings(tick_s=1.0, min_silence_s=10.0, heal_verify_min_s=5.0)
    clock = ManualClock(START)
    monitor = HealthMonitor(clock, settings)
    monitor.add_source(dongle)
    pending = list(STALLS_S)

    def stall(now_s: float) -> None:
        if pending and now_s >= pending[0]:
            pending.pop(0)
            dongle.stalled = True

    outcome = await simulate(monitor, clock, dongle, district(), 3 * HOUR, on_tick=stall)
    detected = [
        outcome.seconds_after_start(e) for e in outcome.events if e.name is HealthEventName.SOURCE_SILENT
    ]
    assert len(detected) == len(STALLS_S), detected
    assert outcome.count(HealthEventName.SOURCE_RECOVERED) == len(STALLS_S)
    return [at - stalled for at, stalled in zip(detected, STALLS_S, strict=True)]


async def test_repeated_silences_cured_by_the_ladder_keep_detection_time_steady() -> None:
    delays = await detection_delays(SimDongle(cure=HealAction.REINITIALISE))
    # Before: 25, 40, 66, 100, 151 s (each cured silence counted as a normal gap of the source and of
    # its meters). Now each is found as fast as the first, give or take the meters' jitter and loss.
    assert max(delays) <= 30.0, delays
    assert max(delays[1:]) <= delays[0] + 5.0, delays


async def test_a_silence_that_ends_by_itself_is_still_learned_as_a_possible_habit() -> None:
    """Frames come back long after the heal steps were judged without effect (the meters paused): the next
    pause as long is tolerated, as before."""
    dongle = SimDongle(cure=None)
    settings = HealthSettings(tick_s=1.0, min_silence_s=10.0, heal_verify_min_s=5.0)
    clock = ManualClock(START)
    monitor = HealthMonitor(clock, settings)
    monitor.add_source(dongle)
    stalls = [2 * HOUR, 2 * HOUR + 420.0]

    def pause(now_s: float) -> None:
        for at in stalls:
            if now_s == at:
                dongle.stalled = True
            elif now_s == at + 300.0:
                dongle.stalled = False  # back by itself, five minutes later

    outcome = await simulate(monitor, clock, dongle, district(), 2 * HOUR + 900.0, on_tick=pause)
    silent = [
        outcome.seconds_after_start(e) for e in outcome.events if e.name is HealthEventName.SOURCE_SILENT
    ]
    recovered = [e for e in outcome.events if e.name is HealthEventName.SOURCE_RECOVERED]
    assert len(silent) == 1 and silent[0] - stalls[0] <= 30.0  # the first pause is found
    assert recovered and outcome.seconds_after_start(recovered[0]) - stalls[0] >= 300.0
    # the second pause, as long as the first, is within what the source now knows it can do
