"""The health monitor on a simulated district (ManualClock, in-memory dongle): detect, heal, give up."""

from __future__ import annotations

import json
import os
import random
from datetime import timedelta

import pytest

from gateway.clock import ManualClock
from gateway.frame import LinkMode, ReceivedFrame
from gateway.health import (
    HealAction,
    HealthEventName,
    HealthMonitor,
    HealthSettings,
    HealthSettingsError,
    SourceState,
)
from gateway.radio.base import SourceError
from tests.health.sim import START, Outcome, SimDongle, SimMeter, meter_address, simulate, telegram

HOUR = 3600.0
DAY = 86_400.0


def dense_district(seed: int = 3, count: int = 30) -> list[SimMeter]:
    rng = random.Random(seed)
    return [
        SimMeter(meter_address(n), rng.choice([16.0, 32.0, 60.0, 120.0, 300.0]), loss=0.2, jitter_s=1.5)
        for n in range(count)
    ]


def sparse_district() -> list[SimMeter]:
    """Meters that transmit twice a day and a few every few hours: a quiet night lasts hours."""
    twice_a_day = [SimMeter(meter_address(n), 12 * HOUR, loss=0.3, jitter_s=600.0) for n in range(3)]
    hourly = [
        SimMeter(meter_address(10 + n), (1 + n % 3) * 3 * HOUR, loss=0.25, jitter_s=120.0) for n in range(4)
    ]
    return twice_a_day + hourly


def make(dongle: SimDongle, settings: HealthSettings | None = None) -> tuple[HealthMonitor, ManualClock]:
    clock = ManualClock(START)
    monitor = HealthMonitor(clock, settings, usb_resetter=dongle.usb_reset)
    monitor.add_source(dongle)
    return monitor, clock


def delay(outcome: Outcome, name: HealthEventName) -> float:
    event = outcome.first(name)
    assert event is not None, f"no {name}"
    assert outcome.stall_at_s is not None
    return outcome.seconds_after_start(event) - outcome.stall_at_s


async def test_a_stalled_dongle_is_detected_within_the_bound_and_healed_by_reinitialisation() -> None:
    dongle = SimDongle(cure=HealAction.REINITIALISE)
    monitor, clock = make(dongle)
    settings = monitor.settings
    outcome = await simulate(monitor, clock, dongle, dense_district(), 4 * HOUR, stall_at_s=2 * HOUR)
    assert delay(outcome, HealthEventName.SOURCE_SILENT) <= settings.min_silence_s + settings.tick_s
    assert dongle.calls == ["reinitialise"]
    recovered = outcome.first(HealthEventName.SOURCE_RECOVERED)
    assert recovered is not None
    assert recovered.details["healed_by"] == "reinitialise"
    assert recovered.details["heal_steps"] == 1
    assert outcome.count(HealthEventName.SOURCE_SILENT) == 1
    assert monitor.state(dongle.name) is SourceState.HEALTHY
    report = monitor.health_report()["sources"][dongle.name]
    assert report["heal"]["attempts"]["reinitialise"]["recovered"] == 1
    assert report["silent_episodes"] == 1 and report["recoveries"] == 1


async def test_a_dongle_that_needs_a_port_reopen_is_healed_at_the_second_step() -> None:
    dongle = SimDongle(cure=HealAction.REOPEN)
    monitor, clock = make(dongle)
    outcome = await simulate(monitor, clock, dongle, dense_district(), 4 * HOUR, stall_at_s=2 * HOUR)
    assert dongle.calls == ["reinitialise", "reopen"]
    recovered = outcome.first(HealthEventName.SOURCE_RECOVERED)
    assert recovered is not None and recovered.details["healed_by"] == "reopen"
    attempts = monitor.health_report()["sources"][dongle.name]["heal"]["attempts"]
    assert attempts["reinitialise"]["no_effect"] == 1
    assert attempts["reopen"]["recovered"] == 1


async def test_a_usb_reset_is_the_third_step_for_a_source_on_a_device_node() -> None:
    dongle = SimDongle(device_path="/dev/ttyUSB0", cure=HealAction.USB_RESET)
    monitor, clock = make(dongle)
    outcome = await simulate(monitor, clock, dongle, dense_district(), 4 * HOUR, stall_at_s=2 * HOUR)
    assert dongle.calls == ["reinitialise", "reopen", "usb_reset"]
    recovered = outcome.first(HealthEventName.SOURCE_RECOVERED)
    assert recovered is not None and recovered.details["healed_by"] == "usb_reset"


async def test_it_gives_up_loudly_and_a_later_recovery_resets_the_ladder() -> None:
    dongle = SimDongle(cure=None)
    monitor, clock = make(dongle)
    settings = monitor.settings
    outcome = await simulate(monitor, clock, dongle, dense_district(), 6 * HOUR, stall_at_s=2 * HOUR)
    assert outcome.count(HealthEventName.SOURCE_HEAL_FAILED) == 1
    assert dongle.calls == ["reinitialise", "reopen"] * settings.heal_rounds  # and then no more
    assert monitor.state(dongle.name) is SourceState.FAILED
    report = monitor.health_report()["sources"][dongle.name]
    assert report["heal"]["gave_up"] is True and report["state"] == "failed"

    dongle.stalled = False  # somebody replugged it
    dongle.calls.clear()
    more = await simulate(
        monitor, clock, dongle, dense_district(), 6 * HOUR + 30 * 60, seed=2, start_s=6 * HOUR
    )
    assert more.count(HealthEventName.SOURCE_RECOVERED) == 1
    assert monitor.state(dongle.name) is SourceState.HEALTHY

    dongle.cure = HealAction.REINITIALISE  # the next stall starts again from the gentlest step
    again = await simulate(
        monitor, clock, dongle, dense_district(), 9 * HOUR, seed=3, start_s=6.5 * HOUR, stall_at_s=8 * HOUR
    )
    assert dongle.calls == ["reinitialise"]
    assert again.count(HealthEventName.SOURCE_RECOVERED) == 1


async def test_a_quiet_but_healthy_source_is_never_reset_in_a_week() -> None:
    dongle = SimDongle()
    monitor, clock = make(dongle)
    outcome = await simulate(monitor, clock, dongle, sparse_district(), 7 * DAY, seed=11)
    assert outcome.frames_delivered > 50
    assert dongle.calls == []
    assert outcome.events == []
    assert monitor.state(dongle.name) is SourceState.HEALTHY


async def test_a_quiet_source_that_stalls_is_still_found_scaled_to_its_cadence() -> None:
    dongle = SimDongle(cure=HealAction.REINITIALISE)
    monitor, clock = make(dongle)
    outcome = await simulate(monitor, clock, dongle, sparse_district(), 10 * DAY, seed=5, stall_at_s=4 * DAY)
    detected = delay(outcome, HealthEventName.SOURCE_SILENT)
    assert 6 * HOUR < detected < 3 * DAY  # hours of quiet are normal here, days are not
    assert dongle.calls[0] == "reinitialise"


async def test_meters_that_leave_do_not_make_the_source_silent() -> None:
    meters = dense_district()
    leaving = [
        SimMeter(m.address, m.interval_s, m.loss, m.jitter_s, until_s=2 * HOUR) if n % 2 else m
        for n, m in enumerate(meters)
    ]
    dongle = SimDongle()
    monitor, clock = make(dongle)
    outcome = await simulate(monitor, clock, dongle, leaving, 6 * HOUR)
    assert outcome.events == []
    assert dongle.calls == []
    report = monitor.health_report()["sources"][dongle.name]
    assert report["meters_expected"] < report["meters_tracked"]


async def test_a_new_source_with_nothing_learned_is_learning_not_silent() -> None:
    dongle = SimDongle()
    monitor, clock = make(dongle)
    meter = meter_address(1)
    monitor.on_frame(ReceivedFrame(telegram(meter), LinkMode.T1, -70.0, clock.now(), dongle.name))
    clock.advance(DAY)
    assert await monitor.tick() == []
    assert monitor.state(dongle.name) is SourceState.LEARNING
    assert dongle.calls == []


async def test_meters_arriving_much_weaker_than_their_history_make_it_degraded() -> None:
    dongle = SimDongle()
    monitor, clock = make(dongle)
    meters = [meter_address(n) for n in range(10)]
    for step in range(400):
        rssi = -70.0 if step < 300 else -85.0  # antenna cable damaged
        clock.set(START + timedelta(seconds=10 * step))
        frame = ReceivedFrame(telegram(meters[step % 10]), LinkMode.T1, rssi, clock.now(), dongle.name)
        monitor.on_frame(frame)
        if step % 3 == 0:
            await monitor.tick()
    assert monitor.state(dongle.name) is SourceState.DEGRADED
    report = monitor.health_report()["sources"][dongle.name]
    assert report["reason"].startswith("rssi")
    assert report["rssi_delta_db"] < -10
    assert dongle.calls == []


async def test_a_rate_far_below_its_history_makes_it_degraded_not_silent() -> None:
    dongle = SimDongle()
    monitor, clock = make(dongle)
    meters = [meter_address(n) for n in range(10)]
    rng = random.Random(4)
    for step in range(1200):  # 10 meters every 100 s, then 80 % of frames lost after 2 h
        clock.set(START + timedelta(seconds=10 * step))
        if step < 720 or rng.random() < 0.2:
            frame = ReceivedFrame(telegram(meters[step % 10]), LinkMode.T1, -70.0, clock.now(), dongle.name)
            monitor.on_frame(frame)
        if step % 3 == 0:
            assert await monitor.tick() == []
    assert monitor.state(dongle.name) is SourceState.DEGRADED
    report = monitor.health_report()["sources"][dongle.name]
    assert report["reason"].startswith("rate")
    assert report["history_per_min"] == pytest.approx(6.0, rel=0.1)  # 10 meters every 100 s
    assert report["frames_per_min"] < 0.5 * report["history_per_min"]


class RaisingDongle(SimDongle):
    async def reinitialise(self) -> None:
        self.calls.append("reinitialise")
        raise SourceError("sim0: no reply to SetConfig")


async def test_a_heal_step_that_raises_is_counted_failed_and_escalates_at_once() -> None:
    dongle = RaisingDongle(cure=HealAction.REOPEN)
    monitor, clock = make(dongle)
    outcome = await simulate(monitor, clock, dongle, dense_district(), 3 * HOUR, stall_at_s=2 * HOUR)
    assert dongle.calls == ["reinitialise", "reopen"]
    silent, recovered = (
        delay(outcome, HealthEventName.SOURCE_SILENT),
        delay(outcome, HealthEventName.SOURCE_RECOVERED),
    )
    assert recovered - silent <= 2 * monitor.settings.tick_s  # no verify window after a failure
    heals = monitor.health_report()["sources"][dongle.name]["recent_heals"]
    assert heals[0]["outcome"] == "failed" and "SetConfig" in heals[0]["detail"]


async def test_report_and_event_payloads_have_the_documented_shape() -> None:
    dongle = SimDongle(cure=HealAction.REINITIALISE)
    monitor, clock = make(dongle)
    outcome = await simulate(monitor, clock, dongle, dense_district(), 3 * HOUR, stall_at_s=2 * HOUR)
    silent = outcome.first(HealthEventName.SOURCE_SILENT)
    recovered = outcome.first(HealthEventName.SOURCE_RECOVERED)
    assert silent is not None and recovered is not None
    payload = silent.to_json()
    assert payload["event"] == "source_silent" and payload["state"] == "raised"
    assert payload["meter_id"] == dongle.name and payload["details"]["source"] == dongle.name
    assert payload["details"]["meters_expected"] == 30
    assert recovered.to_json()["state"] == "cleared"
    publication = silent.to_publication()
    assert (publication.kind, publication.meter_id, publication.payload) == ("event", dongle.name, payload)
    assert recovered.event_id.split(":")[-1] == silent.event_id.split(":")[-1]  # one episode
    report = monitor.health_report()["sources"][dongle.name]
    assert report["frames_per_min"] == pytest.approx(report["expected_per_min"], rel=0.25)
    assert report["meters_tracked"] == 30
    assert report["last_detection_s"] <= monitor.settings.min_silence_s + monitor.settings.tick_s


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="min_silence_s"):
        HealthSettings(min_silence_s=0)


def test_settings_come_from_the_health_table_with_errors_naming_the_key() -> None:
    settings = HealthSettings.from_mapping({"min_silence_s": 600, "heal_rounds": 3})
    assert settings.min_silence_s == 600.0 and settings.heal_rounds == 3
    with pytest.raises(HealthSettingsError) as unknown:
        HealthSettings.from_mapping({"min_silence": 600})
    assert unknown.value.key == "min_silence"
    with pytest.raises(HealthSettingsError) as wrong_type:
        HealthSettings.from_mapping({"tick_s": "30"})
    assert wrong_type.value.key == "tick_s"
    with pytest.raises(HealthSettingsError) as fractional:
        HealthSettings.from_mapping({"heal_rounds": 1.5})
    assert fractional.value.key == "heal_rounds"


async def test_what_was_learned_survives_a_restart_and_a_dongle_dead_from_the_start_is_found() -> None:
    dongle = SimDongle()
    monitor, clock = make(dongle)
    await simulate(monitor, clock, dongle, dense_district(), 2 * HOUR)
    saved = json.loads(json.dumps(monitor.snapshot()))

    restarted_at = START + timedelta(hours=5)  # three hours of downtime
    clock = ManualClock(restarted_at)
    dead = SimDongle(cure=None)
    restarted = HealthMonitor(clock, usb_resetter=None)
    restarted.add_source(dead)
    restarted.restore(saved)
    assert await restarted.tick() == []  # the downtime is not a silence
    assert restarted.state(dead.name) is SourceState.HEALTHY  # judged at once, not learning again
    events = []
    for _ in range(12):
        clock.advance(restarted.settings.tick_s)
        events.extend(await restarted.tick())
    silent = next(event for event in events if event.name is HealthEventName.SOURCE_SILENT)
    found_after_s = (silent.at - restarted_at).total_seconds()
    assert found_after_s <= restarted.settings.min_silence_s + restarted.settings.tick_s
    assert restarted.health_report()["sources"][dead.name]["meters_expected"] == 30


async def test_a_restored_quiet_source_is_not_reset_after_the_restart() -> None:
    dongle = SimDongle()
    monitor, clock = make(dongle)
    await simulate(monitor, clock, dongle, sparse_district(), 3 * DAY, seed=4)
    saved = monitor.snapshot()
    clock = ManualClock(START)
    restarted = HealthMonitor(clock, usb_resetter=dongle.usb_reset)
    restarted.add_source(dongle)
    restarted.restore(saved)
    outcome = await simulate(restarted, clock, dongle, sparse_district(), 7 * DAY, seed=9)
    assert outcome.events == [] and dongle.calls == []
    assert restarted.state(dongle.name) is SourceState.HEALTHY


async def test_a_usb_reset_that_is_not_possible_is_recorded_unavailable_and_the_ladder_goes_on() -> None:
    master, slave = os.openpty()  # a real tty that is no USB device: the real resetter must say so
    try:
        dongle = SimDongle(device_path=os.ttyname(slave), cure=None)
        clock = ManualClock(START)
        monitor = HealthMonitor(clock)  # the default resetter: usbfs ioctl, then sysfs
        monitor.add_source(dongle)
        outcome = await simulate(monitor, clock, dongle, dense_district(), 4 * HOUR, stall_at_s=2 * HOUR)
    finally:
        os.close(master)
        os.close(slave)
    assert dongle.calls == ["reinitialise", "reopen"] * monitor.settings.heal_rounds
    heals = monitor.health_report()["sources"][dongle.name]["recent_heals"]
    usb = [heal for heal in heals if heal["action"] == "usb_reset"]
    assert len(usb) == monitor.settings.heal_rounds
    assert all(heal["outcome"] == "unavailable" and "not_usb" in heal["detail"] for heal in usb)
    assert outcome.count(HealthEventName.SOURCE_HEAL_FAILED) == 1
