"""Figures for the billing core: dedup cost against fleet size, processor throughput, memory per meter.

Rates are per second of CPU time (process_time), so that a busy machine does not distort them.
Run: .venv/bin/python bench/dedup.py [--meters 10000] [--readings 100000]
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from gateway.billing.dedup import Deduplicator, payload_digest
from gateway.billing.processor import ReadingProcessor
from gateway.billing.settings import BillingSettings
from gateway.billing.state import StateStore
from gateway.reading import Reading


def bench_dedup(meters: int, telegrams: int) -> float:
    """Checks per second with ``meters`` meters, a third of the copies being duplicates."""
    rng = random.Random(1)
    ids = [f"{number:08d}" for number in range(meters)]
    digests = [payload_digest(bytes([number % 256]) * 16) for number in range(256)]
    dedup = Deduplicator(window_s=120)
    plan = []
    for step in range(telegrams):
        meter = rng.randrange(meters)
        plan.append((ids[meter], step % 256, digests[step % 256], step * 0.01))
        if step % 3 == 0:
            plan.append(plan[-1])
    started = time.process_time()
    for meter_id, access, digest, at_s in plan:
        dedup.check(meter_id, access, digest, at_s, -70.0)
    elapsed = time.process_time() - started
    dedup.closed(1e12)
    return len(plan) / elapsed


def bench_processor(meters: int, readings: int, batch: int) -> tuple[float, float]:
    """Readings per second through ReadingProcessor, and the wall time of the month's cut-off."""
    with tempfile.TemporaryDirectory() as folder:
        store = StateStore(Path(folder) / "state.db")
        processor = ReadingProcessor(store, BillingSettings(), ZoneInfo("Europe/Rome"), autocommit=batch == 1)
        start = datetime(2026, 9, 20, tzinfo=UTC)
        step = timedelta(days=10) / readings  # all before the cut-off of 1 October
        ids = [f"{meter:08d}" for meter in range(meters)]
        totals = [100.0] * meters
        elapsed = 0.0
        for number in range(readings):
            meter = number % meters
            totals[meter] += 0.001
            at = start + step * number
            reading = Reading(ids[meter], "KAM", "bench", "water", at, total_m3=totals[meter])
            started = time.process_time()
            processor.process(reading, source="bench", duplicates=0)
            if batch > 1 and number % batch == 0:
                processor.commit()
            elapsed += time.process_time() - started
        processor.commit()
        cutoff_started = time.process_time()
        processor.tick(datetime(2026, 10, 1, 6, 0, 1, tzinfo=ZoneInfo("Europe/Rome")))  # cut-off and grace
        cutoff_s = time.process_time() - cutoff_started
        store.close()
        return readings / elapsed, cutoff_s


def bench_memory(meters: int) -> float:
    """Python heap per meter state after a cut-off (drafts open), in bytes."""
    with tempfile.TemporaryDirectory() as folder:
        store = StateStore(Path(folder) / "state.db")
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        processor = ReadingProcessor(store, BillingSettings(), ZoneInfo("Europe/Rome"), autocommit=False)
        at = datetime(2026, 9, 30, 20, tzinfo=UTC)
        for day in range(2):
            for meter in range(meters):
                reading = Reading(
                    f"{meter:08d}", "KAM", "bench", "water", at + timedelta(days=day, seconds=meter % 3600),
                    total_m3=100.0 + day,
                )
                processor.process(reading, source="bench", duplicates=0)
            processor.commit()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
        store.close()
        return grown / meters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--meters", type=int, default=10_000)
    parser.add_argument("--readings", type=int, default=100_000)
    args = parser.parse_args()
    for meters in (100, 10_000, 100_000):
        rate = bench_dedup(meters, 300_000)
        print(f"dedup: {rate:,.0f} checks/s (CPU) with {meters:,} meters")
    for batch in (1, 100):
        rate, cutoff_s = bench_processor(args.meters, args.readings, batch)
        label = "commit per reading" if batch == 1 else f"commit every {batch}"
        print(
            f"processor: {rate:,.0f} readings/s (CPU; {label}, {args.meters:,} meters); "
            f"month cut-off and grace for all meters {cutoff_s:.2f} s CPU"
        )
    per_meter = bench_memory(args.meters)
    print(f"processor memory: {per_meter:,.0f} bytes per meter ({per_meter * args.meters / 1e6:.1f} MB "
          f"for {args.meters:,} meters, Python heap)")
    print(f"max RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
