"""Throughput of parse_records alone over the application payloads of the dev vectors; optional fuzz run.

    .venv/bin/python -m bench.records [--seconds 3] [--fuzz 1000000]

The payloads are the unencrypted TPL telegrams' bytes after the TPL header, with the 0x2F2F check
bytes removed (what telegram.py hands over after decryption).
"""

from __future__ import annotations

import argparse
import random
import time

from gateway.wmbus.errors import RecordError
from gateway.wmbus.records import parse_records
from tests.vectors import radio_vectors

PAYLOAD_START = {0x7A: 15, 0x72: 23, 0x78: 11}


def payloads() -> list[tuple[bytes, int]]:
    """The record payloads of the plain radio vectors that parse completely."""
    found = []
    for vector in radio_vectors():
        frame = vector.telegram[: vector.telegram[0] + 1]
        start = PAYLOAD_START.get(frame[10])
        if vector.key is not None or start is None:
            continue
        payload = frame[start:]
        if payload.startswith(b"\x2f\x2f"):
            payload, start = payload[2:], start + 2
        try:
            parse_records(payload, start)
        except RecordError:
            continue
        found.append((payload, start))
    return found


def throughput(corpus: list[tuple[bytes, int]], seconds: float) -> None:
    """Best and median of timed batches in process CPU time (wall time on a shared machine measures load)."""
    records = sum(len(parse_records(p, s)) for p, s in corpus)
    rates: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(rates) < 5:
        began = time.process_time()
        for _ in range(20):
            for payload, start in corpus:
                parse_records(payload, start)
        rates.append(20 * len(corpus) / (time.process_time() - began))
    rates.sort()
    best, median = rates[-1], rates[len(rates) // 2]
    print(f"payloads: {len(corpus)}, records: {records} ({records / len(corpus):.1f} a payload)")
    print(f"parse_records best:   {best:,.0f} payloads/s, {best * records / len(corpus):,.0f} records/s")
    print(f"parse_records median: {median:,.0f} payloads/s, {median * records / len(corpus):,.0f} records/s")


def fuzz(corpus: list[tuple[bytes, int]], count: int, seed: int) -> None:
    rng = random.Random(seed)
    outcomes = {"records": 0, "RecordError": 0}
    began = time.perf_counter()
    for index in range(count):
        if index % 2:
            data = bytearray(rng.choice(corpus)[0])
            for _ in range(rng.randint(1, 4)):
                if data:
                    data[rng.randrange(len(data))] = rng.randrange(256)
            if rng.random() < 0.3:
                del data[rng.randrange(len(data) + 1) :]
            payload = bytes(data)
        else:
            payload = rng.randbytes(rng.randint(0, 120))
        try:
            parse_records(payload, 0)
            outcomes["records"] += 1
        except RecordError:
            outcomes["RecordError"] += 1
    elapsed = time.perf_counter() - began
    print(f"fuzz: {count:,} inputs (seed {seed}) in {elapsed:.1f} s, outcomes {outcomes}, no other exception")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--fuzz", type=int, default=0, help="number of random/mutated inputs (0: none)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    corpus = payloads()
    throughput(corpus, args.seconds)
    if args.fuzz:
        fuzz(corpus, args.fuzz, args.seed)


if __name__ == "__main__":
    main()
