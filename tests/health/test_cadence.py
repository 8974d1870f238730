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


def test_the_history_keeps_to_the_heard_rate_when_the_interval_folds_to_a_sub_multiple() -> None:
    """Two repeats 3-4 s after their telegram make a 16 s meter's gaps fit a quarter of its interval."""
    meter = MeterCadence(0.0, epoch=0)
    at = 0.0
    for _ in range(80):
        at += 16.0
        meter.observe(at, 0, repeat_gap_s=2.0)
    assert meter.interval_s == pytest.approx(16.0)
    for gap in (3.2, 12.8, 15.9, 15.9, 3.9, 12.1, 32.0, 15.9, 15.9, 16.0, 16.1, 16.2, 16.2, 15.8, 16.3, 16.1):
        at += gap
        meter.observe(at, 0, repeat_gap_s=2.0)
    assert meter.interval_s is not None and meter.interval_s < 8.0  # the fold did move
    heard_per_s = 16 / 256.0
    assert meter.delivery / meter.interval_s == pytest.approx(heard_per_s, rel=0.1)
    assert meter.rate_long_per_s == pytest.approx(heard_per_s, rel=0.1)


def test_a_fold_never_implies_more_frames_than_its_gaps_hold() -> None:
    gaps = [3.2, 3.9, 12.1, 12.7, 15.8, 15.9, 15.9, 15.9, 15.9, 16.0, 16.2, 16.2, 16.2, 16.3, 16.3, 31.9]
    interval, delivery = fold_interval(gaps, 2.0)
    assert delivery / interval <= len(gaps) / sum(gaps)


def test_a_snapshot_keeps_the_history_and_an_older_one_restarts_it_from_the_gaps() -> None:
    meter = MeterCadence(0.0, epoch=0)
    for step in range(1, 40):
        meter.observe(60.0 * step, 0, repeat_gap_s=2.0)
    saved = meter.to_json()
    restored = MeterCadence.from_json(saved, 10_000.0, 0, 2.0)
    assert restored.rate_long_per_s == pytest.approx(1 / 60.0, rel=1e-3)
    older = {key: value for key, value in saved.items() if key != "rate_long_per_s"}
    older["delivery_long"] = 0.4  # a ratio, meaningless without the interval it was found with
    assert MeterCadence.from_json(older, 10_000.0, 0, 2.0).rate_long_per_s == pytest.approx(1 / 60.0)
