"""Consumption anomalies from a meter's readings, each rule raised and cleared by hand-made series."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from gateway.billing.anomalies import AnomalyDetector, AnomalyState, rollover_suspected
from gateway.billing.events import Event, EventState
from gateway.billing.settings import BillingSettings

ROME = ZoneInfo("Europe/Rome")
T0 = datetime(2026, 10, 5, tzinfo=ROME).timestamp()  # local midnight: days are local days
HOUR = 3600.0


class Meter:
    """One meter's readings through the detector, keeping open alarms as the processor does."""

    def __init__(self, settings: BillingSettings | None = None) -> None:
        self.detector = AnomalyDetector(settings or BillingSettings(), ROME)
        self.state = AnomalyState()
        self.open: set[str] = set()
        self.events: list[Event] = []

    def read(
        self,
        at_s: float,
        total_m3: float | None,
        backward_m3: float | None = None,
        flow_m3h: float | None = None,
    ) -> list[tuple[str, str]]:
        events = self.detector.update(
            "12345678", self.state, at_s, self.open,
            total_m3=total_m3, total_backward_m3=backward_m3, flow_m3h=flow_m3h,
        )
        for event in events:
            if event.state is EventState.RAISED:
                self.open.add(event.event)
            elif event.state is EventState.CLEARED:
                self.open.discard(event.event)
        self.events += events
        return [(str(event.event), str(event.state)) for event in events]

    def transitions(self) -> list[tuple[str, str]]:
        return [(str(event.event), str(event.state)) for event in self.events]


def test_continuous_flow_raises_after_24_hours_without_a_quiet_hour_and_clears_on_one() -> None:
    meter = Meter()
    total = 100.0
    for quarter in range(4 * 30):  # a dripping tap: 1 L every 15 min for 30 h
        total += 0.001
        meter.read(T0 + quarter * 900, total)
    assert meter.transitions() == [("continuous_flow", "raised")]
    raised = meter.events[0]
    assert raised.at_s - T0 == pytest.approx(24 * HOUR, abs=900)
    assert raised.details["hours"] >= 24
    last = T0 + 119 * 900
    meter.read(last + 1800, total)
    assert meter.read(last + 3600, total) == [("continuous_flow", "cleared")]


def test_normal_household_use_with_quiet_nights_never_raises() -> None:
    meter = Meter()
    total = 50.0
    for hour in range(24 * 10):
        local_hour = datetime.fromtimestamp(T0 + hour * HOUR, ROME).hour
        if 7 <= local_hour < 22:
            total += 0.01
        meter.read(T0 + hour * HOUR, total)
    assert meter.transitions() == []


def test_sparse_readings_cannot_prove_continuity() -> None:
    meter = Meter()
    for step in range(20):  # every 4 h, always more: a quiet hour may hide in each gap
        meter.read(T0 + step * 4 * HOUR, 10.0 + step)
    assert ("continuous_flow", "raised") not in meter.transitions()


def test_reverse_flow_from_the_backward_register_and_from_negative_flow() -> None:
    meter = Meter()
    meter.read(T0, 10.0, backward_m3=0.5)  # a baseline, not an event
    assert meter.read(T0 + HOUR, 10.0, backward_m3=0.5) == []
    assert meter.read(T0 + 2 * HOUR, 10.0, backward_m3=0.503) == [("reverse_flow", "raised")]
    assert meter.read(T0 + 3 * HOUR, 10.0, backward_m3=0.506) == []  # still open, not raised again
    assert meter.read(T0 + 20 * HOUR, 10.0, backward_m3=0.506) == []
    assert meter.read(T0 + 28 * HOUR, 10.0, backward_m3=0.506) == [("reverse_flow", "cleared")]
    assert meter.read(T0 + 29 * HOUR, 10.0, flow_m3h=-0.2) == [("reverse_flow", "raised")]


def test_slow_backward_growth_accumulates_to_the_threshold() -> None:
    meter = Meter(BillingSettings(reverse_flow_min_m3=0.01))
    meter.read(T0, 1.0, backward_m3=0.0)
    found = [meter.read(T0 + step * 60, 1.0, backward_m3=0.002 * step) for step in range(1, 8)]
    assert found[4] == [("reverse_flow", "raised")]  # 0.010 m3 after five steps


@pytest.mark.parametrize(
    ("previous", "now", "cause"),
    [
        (99_999.5, 0.4, "rollover"),
        (9_998.0, 3.0, "rollover"),
        (1_234.5, 0.1, "replacement"),
        (500.0, 480.0, "replacement"),
    ],
)
def test_index_going_backwards_is_a_notice_with_its_cause(previous: float, now: float, cause: str) -> None:
    meter = Meter()
    meter.read(T0, previous)
    assert meter.read(T0 + HOUR, now) == [("index_backwards", "notice")]
    assert meter.events[-1].details["cause"] == cause
    assert meter.read(T0 + 2 * HOUR, now + 0.001) == []  # the new register is the new baseline


def test_register_noise_below_the_tolerance_is_not_backwards() -> None:
    meter = Meter()
    meter.read(T0, 10.0)
    assert meter.read(T0 + HOUR, 9.9995) == []


def test_rollover_heuristic() -> None:
    assert rollover_suspected(99_990.0, 5.0)
    assert not rollover_suspected(50_000.0, 5.0)
    assert not rollover_suspected(0.5, 0.1)


def test_no_consumption_for_n_days_raises_and_clears_when_water_flows_again() -> None:
    meter = Meter(BillingSettings(no_consumption_days=3))
    for hour in range(0, 24 * 3 + 1, 6):
        meter.read(T0 + hour * HOUR, 42.0)
    assert meter.transitions() == [("no_consumption", "raised")]
    assert meter.events[0].at_s == T0 + 72 * HOUR
    assert meter.read(T0 + 80 * HOUR, 42.01) == [("no_consumption", "cleared")]


def test_a_day_far_above_the_meters_own_history_raises_high_consumption() -> None:
    meter = Meter()
    total = 0.0
    daily = [0.2] * 10 + [2.5, 0.2, 0.2]
    for day, used in enumerate(daily):
        for hour in range(0, 24, 2):
            meter.read(T0 + (day * 24 + hour) * HOUR, round(total, 4))
            total += used / 12
    meter.read(T0 + len(daily) * 24 * HOUR, round(total, 4))
    assert meter.transitions() == [("high_consumption", "raised"), ("high_consumption", "cleared")]
    raised = meter.events[0]
    assert raised.details["consumption_m3"] == pytest.approx(2.5, abs=0.01)
    assert raised.details["average_m3"] == pytest.approx(0.2, abs=0.01)


def test_high_consumption_needs_history_and_a_minimum_volume() -> None:
    meter = Meter()
    total = 0.0
    for day, used in enumerate([0.01] * 9 + [0.1]):  # ten times the average but only 100 L
        for hour in range(0, 24, 3):
            meter.read(T0 + (day * 24 + hour) * HOUR, round(total, 4))
            total += used / 8
    meter.read(T0 + 10 * 24 * HOUR, round(total, 4))
    assert meter.transitions() == []


def test_state_round_trips_through_json() -> None:
    meter = Meter()
    meter.read(T0, 1.0, backward_m3=0.1)
    meter.read(T0 + HOUR, 1.5)
    assert AnomalyState.from_json(meter.state.to_json()) == meter.state
