"""A meter's transmit interval learned from what is heard, with lost frames, jitter and repeats."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.health.cadence import MeterCadence, fold_interval


def test_lost_frames_fold_back_to_the_interval() -> None:
    interval, delivery = fold_interval(sorted([60.0, 120.0, 60.0, 180.0, 60.0]), 2.0)
    assert interval == pytest.approx(60.0)
    assert delivery == pytest.approx(5 / 8)


def test_jittered_gaps_give_the_median_interval() -> None:
    rng = random.Random(7)
    gaps = sorted(rng.choice([1, 1, 2, 3]) * 16.0 + rng.uniform(-1.5, 1.5) for _ in range(16))
    interval, delivery = fold_interval(gaps, 2.0)
    assert interval == pytest.approx(16.0, abs=0.8)
    assert 0.3 < delivery < 1.0


def test_gaps_without_a_cadence_fall_back_to_the_mean_with_full_delivery() -> None:
    gaps = sorted([7.0, 29.0, 53.0, 101.0, 11.0, 67.0, 83.0, 41.0])
    interval, delivery = fold_interval(gaps, 2.0)
    assert interval == pytest.approx(sum(gaps) / len(gaps))
    assert delivery == 1.0


@settings(max_examples=200, deadline=None)
@given(
    interval=st.floats(min_value=8.0, max_value=86_400.0),
    multiples=st.lists(st.integers(min_value=1, max_value=6), min_size=2, max_size=16),
    jitter=st.floats(min_value=0.0, max_value=0.05),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_the_learned_interval_never_undershoots(
    interval: float, multiples: list[int], jitter: float, seed: int
) -> None:
    """Undershooting expects frames a meter never sends (a false silence); overshooting only waits longer."""
    rng = random.Random(seed)
    gaps = sorted(k * interval + rng.uniform(-jitter, jitter) * interval for k in multiples)
    learned, delivery = fold_interval(gaps, 2.0)
    assert learned >= 0.8 * interval
    assert 0.0 < delivery <= 1.0
    if multiples.count(1) * 2 > len(multiples):
        assert learned == pytest.approx(interval, rel=0.1)


def test_meter_cadence_ignores_repeats_and_learns_after_two_gaps() -> None:
    meter = MeterCadence(0.0, epoch=0)
    assert meter.observe(0.5, 0, repeat_gap_s=2.0) is False  # the same transmission heard twice
    meter.observe(30.0, 0, repeat_gap_s=2.0)
    meter.observe(60.0, 0, repeat_gap_s=2.0)
    assert meter.gaps_seen == 2
    assert meter.interval_s == pytest.approx(30.0)
    assert meter.missed(90.0) == 0.0  # one interval late is within its habits
    assert meter.missed(60.0 + 30.0 * 5) == pytest.approx(5 - 1.2)


def test_a_gap_across_a_source_silence_is_not_learned_as_cadence() -> None:
    meter = MeterCadence(0.0, epoch=0)
    for at in (30.0, 60.0, 90.0):
        meter.observe(at, 0, repeat_gap_s=2.0)
    meter.observe(2000.0, 1, repeat_gap_s=2.0)  # the source was silent meanwhile (epoch moved on)
    assert meter.gaps_seen == 3
    assert meter.interval_s == pytest.approx(30.0)
