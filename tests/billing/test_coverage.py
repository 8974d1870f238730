"""Coverage: provisioned meters read this billing month, and with an actual index last month."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from gateway.billing.coverage import compute_coverage
from gateway.billing.monthly_index import BillingCalendar
from gateway.billing.processor import ReadingProcessor
from gateway.billing.state import ProvisionedMeter, StateStore
from gateway.reading import Reading

ROME = ZoneInfo("Europe/Rome")


def test_compute_coverage_counts_only_provisioned_meters() -> None:
    cutoff = BillingCalendar(ROME).cutoff_for_month("2026-09")
    since = cutoff.at_s
    coverage = compute_coverage(
        provisioned={"A", "B", "C", "D"},
        last_read_s={"A": since + 10, "B": since - 10, "C": since, "Z": since + 5},
        previous_sources={"A": "actual", "B": "interpolated", "Z": "actual"},
        last_cutoff=cutoff,
        running_month="2026-10",
    )
    report = coverage.to_json()
    assert (report["provisioned"], report["read"], report["actual"], report["indexed"]) == (4, 2, 1, 2)
    assert report["read_ratio"] == 0.5 and report["actual_ratio"] == 0.25
    assert report["missing"] == ["B", "D"]
    assert (report["month"], report["previous_month"]) == ("2026-10", "2026-09")


def test_no_provisioned_meters_gives_no_ratio() -> None:
    cutoff = BillingCalendar(ROME).cutoff_for_month("2026-09")
    report = compute_coverage(set(), {}, {}, cutoff, "2026-10").to_json()
    assert report["read_ratio"] is None and report["provisioned"] == 0


def test_processor_coverage_report(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    created = datetime(2026, 9, 1, tzinfo=UTC)
    for meter_id in ("00000001", "00000002", "00000003", "00000004"):
        store.add_meter(ProvisionedMeter(meter_id), created=created)
    processor = ReadingProcessor(store, tz=ROME)
    start = datetime(2026, 9, 29, tzinfo=UTC)
    cutoff = datetime(2026, 9, 30, 22, tzinfo=UTC)
    at = start
    while at < datetime(2026, 10, 3, tzinfo=UTC):
        hours = (at - start).total_seconds() / 3600
        for meter_id, register in (("00000001", True), ("00000002", False), ("00000099", True)):
            sends_register = register and at > cutoff
            reading = Reading(
                meter_id, "KAM", "test", "water", at, total_m3=round(10 + 0.01 * hours, 3),
                target_m3=10.46 if sends_register else None,
                target_date=date(2026, 9, 30) if sends_register else None,
            )
            processor.process(reading, source="test", duplicates=0)
        if at < datetime(2026, 9, 30, tzinfo=UTC):  # meter 3 falls silent before the cut-off
            silent = Reading("00000003", "KAM", "test", "water", at, total_m3=5.0)
            processor.process(silent, source="test", duplicates=0)
        at += timedelta(hours=1)
    report = processor.coverage_report(datetime(2026, 10, 3, tzinfo=UTC))
    assert report["month"] == "2026-10" and report["previous_month"] == "2026-09"
    assert report["provisioned"] == 4
    assert report["read"] == 2  # 1 and 2; 3 is silent, 4 never heard, 99 is not ours
    assert report["actual"] == 1  # meter 1 sent its register
    assert report["indexed"] == 3  # 2 interpolated, 3 estimated
    assert report["missing"] == ["00000003", "00000004"]


def test_missing_lists_the_first_ids_in_order_whatever_the_order_read() -> None:
    cutoff = BillingCalendar(ROME).cutoff_for_month("2026-09")
    ids = [f"{(n * 37) % 100:08d}" for n in range(100)]  # all 100 ids, shuffled
    read = {meter_id: cutoff.at_s + 1 for meter_id in ids if int(meter_id) % 3 == 0}
    coverage = compute_coverage(ids, read, {}, cutoff, "2026-10", missing_limit=5)
    assert coverage.missing == ("00000001", "00000002", "00000004", "00000005", "00000007")
    assert (coverage.provisioned, coverage.read) == (100, 34)
