"""The monthly index: cut-offs in local time, and each source (actual, interpolated, estimated)
checked against hand-made reading sequences whose true index is known at every instant."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.billing.monthly_index import (
    BillingCalendar,
    IndexSource,
    Register,
    Sample,
    best_index,
    interpolate,
)
from gateway.billing.processor import ReadingProcessor
from gateway.billing.settings import BillingSettings
from gateway.billing.state import ProvisionedMeter, StateStore
from gateway.publication import Publication
from gateway.reading import Reading

ROME = ZoneInfo("Europe/Rome")
Profile = Callable[[datetime], float]


def linear(start: datetime, base_m3: float, m3_per_day: float) -> Profile:
    return lambda at: base_m3 + m3_per_day * (at - start).total_seconds() / 86400


def daytime_only(start: datetime, base_m3: float, m3_per_hour: float) -> Profile:
    """Water used only 06:00-23:00 local time: a true index that is not a straight line."""
    cumulative = [base_m3]  # the index at start + n hours

    def index(at: datetime) -> float:
        hours, rest = divmod((at - start).total_seconds(), 3600)
        while len(cumulative) <= hours + 1:
            hour = start + timedelta(hours=len(cumulative) - 1)
            used = m3_per_hour if 6 <= hour.astimezone(ROME).hour < 23 else 0.0
            cumulative.append(cumulative[-1] + used)
        whole = int(hours)
        return cumulative[whole] + (cumulative[whole + 1] - cumulative[whole]) * rest / 3600

    return index


def feed(  # noqa: PLR0917 - a test helper reads best with positional spans
    processor: ReadingProcessor,
    meter_id: str,
    profile: Profile,
    start: datetime,
    end: datetime,
    step: timedelta,
    *,
    register: str | None = None,
    skip: Callable[[datetime], bool] = lambda _: False,
) -> list[Publication]:
    """Readings of one meter from ``start`` to ``end``; ``register`` = "end" or "start" stamps the
    month-end register with the last day of the month or with the 1st."""
    calendar = BillingCalendar(ROME)
    out: list[Publication] = []
    at = start
    while at < end:
        if not skip(at):
            target_m3 = target_date = None
            if register is not None:
                cutoff = calendar.latest_at_or_before(at)
                target_m3 = round(profile(cutoff.at), 3)
                target_date = cutoff.at.date() - timedelta(days=1) if register == "end" else cutoff.at.date()
            reading = Reading(
                meter_id,
                "KAM",
                "test",
                "water",
                at,
                total_m3=round(profile(at), 3),
                target_m3=target_m3,
                target_date=target_date,
            )
            out.extend(processor.process(reading, source="test", duplicates=0))
        at += step
    return out


def monthly(publications: list[Publication], month: str | None = None) -> list[dict[str, Any]]:
    return [
        pub.payload
        for pub in publications
        if pub.kind == "monthly" and (month is None or pub.month == month)
    ]


@pytest.fixture
def processor(tmp_path: Path) -> ReadingProcessor:
    return ReadingProcessor(StateStore(tmp_path / "state.db"), BillingSettings(), ROME)


# -- the calendar ---------------------------------------------------------------------------------------


def test_cutoff_is_local_midnight_and_labels_the_month_it_closes() -> None:
    calendar = BillingCalendar(ROME)
    october = calendar.cutoff_for_month("2026-09")
    assert october.at.isoformat() == "2026-10-01T00:00:00+02:00"
    assert october.month == "2026-09"
    november = calendar.next(october)
    assert november.at.isoformat() == "2026-11-01T00:00:00+01:00"  # after the DST change
    assert november.month == "2026-10"
    january = calendar.cutoff_for_month("2026-12")
    assert january.at.isoformat() == "2027-01-01T00:00:00+01:00"
    assert calendar.previous(january).month == "2026-11"


def test_latest_cutoff_at_or_before_is_exact_at_the_boundary() -> None:
    calendar = BillingCalendar(ROME)
    cutoff = datetime(2026, 9, 30, 22, 0, tzinfo=UTC)  # 2026-10-01 00:00 in Rome
    assert calendar.latest_at_or_before(cutoff).month == "2026-09"
    assert calendar.latest_at_or_before(cutoff - timedelta(microseconds=1)).month == "2026-08"


def test_register_dates_are_the_last_day_of_the_month_and_the_cutoff_day() -> None:
    cutoff = BillingCalendar(ROME).cutoff_for_month("2026-09")
    assert cutoff.register_dates() == (date(2026, 9, 30), date(2026, 10, 1))


def test_other_cutoff_day() -> None:
    calendar = BillingCalendar(ROME, cutoff_day=15)
    cutoff = calendar.cutoff_for_month("2026-09")
    assert cutoff.at.isoformat() == "2026-10-15T00:00:00+02:00"
    assert cutoff.register_dates() == (date(2026, 10, 14), date(2026, 10, 15))


# -- the pure choice of the best index --------------------------------------------------------------------


def test_best_index_prefers_register_then_interpolation_then_estimate() -> None:
    cutoff_s = 1_000_000.0
    before, after = Sample(cutoff_s - 3600, 10.0), Sample(cutoff_s + 3600, 12.0)
    register = Register(11.5, date(2026, 9, 30), cutoff_s + 60, 12.0)
    span_s = 72 * 3600.0
    actual = best_index(cutoff_s, before, after, register, span_s)
    assert actual is not None and actual.source is IndexSource.ACTUAL and actual.index_m3 == 11.5
    interpolated = best_index(cutoff_s, before, after, None, span_s)
    assert interpolated is not None and interpolated.source is IndexSource.INTERPOLATED
    assert interpolated.index_m3 == pytest.approx(11.0)
    far_after = Sample(cutoff_s + 80 * 3600, 20.0)
    estimated = best_index(cutoff_s, before, far_after, None, span_s)
    assert estimated is not None and estimated.source is IndexSource.ESTIMATED
    assert estimated.index_m3 == 10.0 and estimated.reading_age_s == 3600
    assert best_index(cutoff_s, None, after, None, span_s) is None


def test_no_interpolation_across_a_replaced_meter() -> None:
    cutoff_s = 1_000_000.0
    before, after = Sample(cutoff_s - 3600, 900.0), Sample(cutoff_s + 3600, 0.5)
    candidate = best_index(cutoff_s, before, after, None, 72 * 3600.0)
    assert candidate is not None and candidate.source is IndexSource.ESTIMATED
    assert candidate.index_m3 == 900.0


def test_interpolate_is_linear() -> None:
    assert interpolate(Sample(0, 1.0), Sample(100, 2.0), 25) == pytest.approx(1.25)


def test_sources_are_ranked() -> None:
    assert IndexSource.ESTIMATED.rank < IndexSource.INTERPOLATED.rank < IndexSource.ACTUAL.rank


# -- the processor on hand-made sequences -------------------------------------------------------------------


@pytest.mark.parametrize("stamp", ["end", "start"])
def test_actual_index_is_the_register_exactly(processor: ReadingProcessor, stamp: str) -> None:
    start = datetime(2026, 9, 20, tzinfo=UTC)
    profile = linear(start, 123.456, 0.35)
    pubs = feed(
        processor, "00000001", profile, start, datetime(2026, 10, 3, tzinfo=UTC), timedelta(hours=1),
        register=stamp,
    )
    [index] = monthly(pubs, "2026-09")
    cutoff = datetime(2026, 10, 1, tzinfo=ROME)
    assert index["source"] == "actual"
    assert index["month"] == "2026-09"
    assert index["cutoff"] == "2026-10-01T00:00:00+02:00"
    assert index["index_m3"] == round(profile(cutoff), 3)
    assert index["revision"] == 0
    assert index["reading_age_s"] == 0.0
    assert index["manufacturer"] == "KAM" and index["medium"] == "water"
    [carrier] = index["readings"]
    assert carrier["target_m3"] == index["index_m3"]


def test_register_is_published_at_once_without_waiting_for_the_grace(processor: ReadingProcessor) -> None:
    start = datetime(2026, 9, 28, tzinfo=UTC)
    profile = linear(start, 50.0, 0.2)
    pubs = feed(
        processor, "00000001", profile, start, datetime(2026, 9, 30, 22, 30, tzinfo=UTC),
        timedelta(minutes=10), register="end",
    )
    [index] = monthly(pubs, "2026-09")
    assert index["source"] == "actual"


def test_register_taken_at_the_start_of_the_last_day_is_rejected(processor: ReadingProcessor) -> None:
    """A meter stamping 30 Sept with the value at 00:00 of 30 Sept is a day early: not our cut-off."""
    start = datetime(2026, 9, 25, tzinfo=UTC)
    profile = linear(start, 10.0, 1.0)
    calendar = BillingCalendar(ROME)
    pubs: list[Publication] = []
    at = start
    while at < datetime(2026, 10, 2, tzinfo=UTC):
        cutoff = calendar.latest_at_or_before(at)
        early = cutoff.at - timedelta(days=1)
        reading = Reading(
            "00000002", "KAM", "test", "water", at, total_m3=round(profile(at), 3),
            target_m3=round(profile(early), 3), target_date=early.date(),
        )
        pubs.extend(processor.process(reading, source="test", duplicates=0))
        at += timedelta(hours=1)
    [index] = monthly(pubs, "2026-09")
    assert index["source"] == "interpolated"
    assert processor.store.counters()["registers_rejected"] >= 1


def test_interpolation_is_exact_on_a_linear_profile(processor: ReadingProcessor) -> None:
    start = datetime(2026, 9, 29, 0, 7, tzinfo=UTC)
    profile = linear(start, 200.0, 0.48)
    end = datetime(2026, 10, 2, tzinfo=UTC)
    pubs = feed(processor, "00000003", profile, start, end, timedelta(minutes=47))
    [index] = monthly(pubs)
    cutoff = datetime(2026, 10, 1, tzinfo=ROME)
    assert index["source"] == "interpolated"
    assert index["index_m3"] == pytest.approx(profile(cutoff), abs=0.001)  # readings are rounded to 1 L
    before, after = index["readings"]
    assert datetime.fromisoformat(before["received_at"]) < cutoff
    assert datetime.fromisoformat(after["received_at"]) >= cutoff


@pytest.mark.parametrize("step_h", [1.0, 6.0, 24.0])
def test_interpolation_error_on_a_daytime_profile_is_bounded(tmp_path: Path, step_h: float) -> None:
    """Usage only 06-23 h: interpolating across a night over-estimates at midnight; the error is at
    most what flows between the two readings, and it is reported here for the record."""
    processor = ReadingProcessor(StateStore(tmp_path / "state.db"), BillingSettings(), ROME)
    start = datetime(2026, 9, 28, 0, 13, tzinfo=UTC)
    profile = daytime_only(start, 300.0, 0.03)
    pubs = feed(
        processor, "00000004", profile, start, datetime(2026, 10, 3, tzinfo=UTC), timedelta(hours=step_h)
    )
    [index] = monthly(pubs)
    cutoff = datetime(2026, 10, 1, tzinfo=ROME)
    truth = profile(cutoff)
    before, after = index["readings"]
    flowed = after["total_m3"] - before["total_m3"]
    error = abs(float(index["index_m3"]) - truth)
    print(f"step {step_h} h: interpolation error {error * 1000:.1f} L of {flowed * 1000:.0f} L bracketed")
    assert index["source"] == "interpolated"
    assert error <= flowed + 0.001
    if step_h == 1.0:
        assert error <= 0.001  # the night is flat and sampled: exact to the litre


@pytest.mark.parametrize(
    ("month", "hours"),
    [("2026-10", 745), ("2027-03", 743)],  # the months where Europe/Rome changes offset
)
def test_dst_months_have_their_true_length(tmp_path: Path, month: str, hours: int) -> None:
    processor = ReadingProcessor(StateStore(tmp_path / "state.db"), BillingSettings(), ROME)
    calendar = BillingCalendar(ROME)
    closing = calendar.cutoff_for_month(month)
    opening = calendar.previous(closing)
    assert closing.at_s - opening.at_s == hours * 3600
    start = opening.at.astimezone(UTC) - timedelta(days=2)
    profile = linear(start, 1000.0, 2.4)  # 0.1 m3 an hour
    pubs = feed(
        processor, "00000005", profile, start, closing.at.astimezone(UTC) + timedelta(days=1),
        timedelta(hours=2), register="end",
    )
    indexes = {item["month"]: item for item in monthly(pubs)}
    assert indexes[month]["source"] == "actual"
    assert indexes[month]["cutoff"] == closing.at.isoformat()
    assert indexes[month]["consumption_m3"] == pytest.approx(0.1 * hours, abs=0.002)


def test_provisioned_meter_without_readings_gets_no_index(processor: ReadingProcessor) -> None:
    created = datetime(2026, 9, 1, tzinfo=UTC)
    processor.store.add_meter(ProvisionedMeter("00000006"), created=created)
    processor.store.add_meter(ProvisionedMeter("00000007"), created=created)
    start = datetime(2026, 9, 20, tzinfo=UTC)
    pubs = feed(
        processor, "00000006", linear(start, 1.0, 0.1), start, datetime(2026, 10, 2, tzinfo=UTC),
        timedelta(hours=2),
    )
    pubs += processor.tick(datetime(2026, 10, 20, tzinfo=UTC))
    assert {(pub.meter_id, pub.month) for pub in pubs if pub.kind == "monthly"} == {("00000006", "2026-09")}
    assert processor.store.monthly_indexes(meter_id="00000007") == []
    coverage = processor.coverage_report(datetime(2026, 10, 20, tzinfo=UTC))
    assert (coverage["provisioned"], coverage["read"], coverage["indexed"]) == (2, 1, 1)
    assert coverage["missing"] == ["00000007"]


def test_estimated_is_upgraded_to_actual_with_a_revision(processor: ReadingProcessor) -> None:
    """Silent over the cut-off: estimated after the grace, then actual when the register arrives."""
    start = datetime(2026, 9, 27, tzinfo=UTC)
    profile = linear(start, 80.0, 0.5)
    cutoff = datetime(2026, 10, 1, tzinfo=ROME)
    silent_until = cutoff + timedelta(days=4)  # beyond the interpolation span
    pubs = feed(
        processor, "00000008", profile, start, datetime(2026, 10, 8, tzinfo=UTC), timedelta(hours=1),
        register="end", skip=lambda at: cutoff - timedelta(hours=5) <= at < silent_until,
    )
    first, second = monthly(pubs, "2026-09")
    assert first["source"] == "estimated" and first["revision"] == 0
    assert first["index_m3"] == round(profile(cutoff - timedelta(hours=6)), 3)
    assert first["reading_age_s"] == pytest.approx(6 * 3600)
    assert second["source"] == "actual" and second["revision"] == 1
    assert second["index_m3"] == round(profile(cutoff), 3)


def test_estimated_then_interpolated_then_actual(tmp_path: Path) -> None:
    """A meter that only sends its register now and then: every improvement is republished once."""
    processor = ReadingProcessor(StateStore(tmp_path / "state.db"), BillingSettings(publish_grace_h=1), ROME)
    start = datetime(2026, 9, 29, tzinfo=UTC)
    profile = linear(start, 10.0, 1.0)
    cutoff = datetime(2026, 10, 1, tzinfo=ROME)
    pubs = feed(
        processor, "00000009", profile, start, cutoff.astimezone(UTC), timedelta(hours=1)
    )
    pubs += processor.tick(cutoff + timedelta(hours=2))
    late = cutoff + timedelta(hours=3)
    pubs += processor.process(
        Reading("00000009", "KAM", "test", "water", late, total_m3=round(profile(late), 3)),
        source="test", duplicates=0,
    )
    later = cutoff + timedelta(hours=4)
    with_register = Reading(
        "00000009", "KAM", "test", "water", later, total_m3=round(profile(later), 3),
        target_m3=round(profile(cutoff), 3), target_date=date(2026, 9, 30),
    )
    pubs += processor.process(with_register, source="test", duplicates=0)
    pubs += processor.process(with_register, source="test", duplicates=0)  # nothing new: no republish
    assert [(item["source"], item["revision"]) for item in monthly(pubs)] == [
        ("estimated", 0), ("interpolated", 1), ("actual", 2)
    ]
    stored = processor.store.monthly_index("00000009", "2026-09")
    assert stored is not None and stored.source is IndexSource.ACTUAL and stored.revision == 2


def test_interpolated_index_waits_for_the_grace_then_stays(processor: ReadingProcessor) -> None:
    start = datetime(2026, 9, 30, 12, tzinfo=UTC)
    profile = linear(start, 5.0, 0.24)
    cutoff = datetime(2026, 10, 1, tzinfo=ROME)
    grace_end = cutoff + timedelta(hours=BillingSettings().publish_grace_h)
    pubs = feed(processor, "00000010", profile, start, grace_end.astimezone(UTC), timedelta(minutes=20))
    assert monthly(pubs) == []
    pubs = feed(
        processor, "00000010", profile, grace_end.astimezone(UTC), datetime(2026, 10, 3, tzinfo=UTC),
        timedelta(minutes=20),
    )
    [index] = monthly(pubs)
    assert index["source"] == "interpolated"


def test_consumption_is_the_difference_of_consecutive_indexes(processor: ReadingProcessor) -> None:
    start = datetime(2026, 8, 25, tzinfo=UTC)
    profile = linear(start, 400.0, 0.3)
    pubs = feed(
        processor, "00000011", profile, start, datetime(2026, 10, 5, tzinfo=UTC), timedelta(hours=2),
        register="start",
    )
    [july] = monthly(pubs, "2026-07")  # from the register the first reading carried
    [august] = monthly(pubs, "2026-08")
    [september] = monthly(pubs, "2026-09")
    assert july["consumption_m3"] is None  # no June index
    assert august["consumption_m3"] == pytest.approx(0.3 * 31, abs=0.002)
    assert september["consumption_m3"] == pytest.approx(0.3 * 30, abs=0.002)


def test_replay_and_live_produce_the_same_indexes(tmp_path: Path) -> None:
    """Driven by readings alone, or with ticks every few minutes in between: the same output."""
    start = datetime(2026, 9, 10, tzinfo=UTC)
    end = datetime(2026, 11, 10, tzinfo=UTC)
    profile = daytime_only(start, 20.0, 0.01)

    def run(path: Path, tick: bool) -> list[Publication]:
        processor = ReadingProcessor(StateStore(path), BillingSettings(), ROME)
        out: list[Publication] = []
        at = start
        while at < end:
            if tick:
                out += processor.tick(at - timedelta(minutes=3))
            if not (datetime(2026, 9, 30, 18, tzinfo=UTC) <= at < datetime(2026, 10, 1, 6, tzinfo=UTC)):
                reading = Reading("00000012", "KAM", "test", "water", at, total_m3=round(profile(at), 3))
                out += processor.process(reading, source="test", duplicates=0)
            at += timedelta(hours=3)
        return [pub for pub in out if pub.kind != "reading"]

    assert run(tmp_path / "replay.db", tick=False) == run(tmp_path / "live.db", tick=True)


@given(
    before_h=st.floats(0.01, 100),
    after_h=st.floats(0, 100),
    before_m3=st.floats(0, 1e5),
    used_m3=st.floats(0, 50),
)
def test_an_index_lies_between_the_readings_it_comes_from(
    before_h: float, after_h: float, before_m3: float, used_m3: float
) -> None:
    cutoff_s = 1_790_000_000.0
    before = Sample(cutoff_s - before_h * 3600, before_m3)
    after = Sample(cutoff_s + after_h * 3600, before_m3 + used_m3)
    candidate = best_index(cutoff_s, before, after, None, 72 * 3600.0)
    assert candidate is not None
    assert before.total_m3 - 1e-6 <= candidate.index_m3 <= after.total_m3 + 1e-6
    if after.at_s - before.at_s <= 72 * 3600.0:
        assert candidate.source is IndexSource.INTERPOLATED
        assert candidate.reading_age_s == pytest.approx(max(before_h, after_h) * 3600)
    else:
        assert candidate.source is IndexSource.ESTIMATED and candidate.index_m3 == before_m3
