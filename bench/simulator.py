"""How fast the simulated fleet runs: one simulated month on a virtual clock, and decoding its telegrams.

    .venv/bin/python bench/simulator.py [--days 30] [--meters 36] [--seed 1] [--fast-meters 1] [--decode]

Prints telegrams sent, lost and duplicated, the wall time for the simulated period and telegrams/s;
with --decode every telegram also goes through parse_telegram + decode_reading with the bundled keys,
and the decoded totals are checked against the fleet's ground truth.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.clock import ManualClock
from gateway.decoders import decode_reading
from gateway.radio.simulator import SimulatedFleet, SimulatorSource, load_example_keys
from gateway.wmbus.telegram import parse_telegram


async def run(args: argparse.Namespace) -> None:
    start = datetime(2026, 9, 1, tzinfo=UTC)
    until = start + timedelta(days=args.days)
    fleet = SimulatedFleet(
        args.seed, args.meters, ManualClock(start), start=start, fast_meters=args.fast_meters
    )
    keys = load_example_keys() if args.seed == 1 else None
    lookup = keys.lookup if keys is not None else fleet.keys().get
    source = SimulatorSource(fleet, until=until)
    formats: Counter[str] = Counter()
    mismatches = 0
    last_original: dict[str, tuple[bytes, datetime]] = {}  # meter -> its last telegram and when it was sent
    began, began_cpu = time.perf_counter(), time.process_time()
    async for frame in source.frames():
        formats[fleet.meter(_meter_id(frame.data)).format.value] += 1
        if args.decode:
            reading = decode_reading(parse_telegram(frame.data, lookup), frame.received_at)
            # A duplicate or repeat carries the original's register, built when the original was sent.
            previous = last_original.get(reading.meter_id)
            sent_at = previous[1] if previous and previous[0] == frame.data else frame.received_at
            last_original[reading.meter_id] = (frame.data, sent_at)
            truth = fleet.reported_index_m3(reading.meter_id, sent_at)
            if reading.total_m3 is None or abs(reading.total_m3 - truth) > 1e-6:
                mismatches += 1
    elapsed, cpu = time.perf_counter() - began, time.process_time() - began_cpu
    frames = source.stats.frames
    print(
        f"simulated {args.days} days, {args.meters} meters (seed {args.seed}, fast meters {args.fast_meters})"
    )
    print(
        f"  telegrams on air: {frames}  (sent {fleet.counters.sent}, lost {fleet.counters.lost}, "
        f"copies {fleet.counters.duplicated}, alarms injected {len(fleet.injected_alarms)})"
    )
    print(f"  by format: {dict(formats)}")
    print(
        f"  wall time {elapsed:.1f} s (CPU {cpu:.1f} s), {frames / elapsed:,.0f} telegrams/s, "
        f"{args.days * 86400 / elapsed:,.0f} x real time"
    )
    if args.decode:
        print(
            f"  decoded with the bundled keys: {frames - mismatches} match the ground truth, "
            f"{mismatches} do not"
        )


def _meter_id(frame: bytes) -> str:
    return frame[4:8][::-1].hex()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--meters", type=int, default=36)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fast-meters", type=int, default=1)
    parser.add_argument("--decode", action="store_true")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
