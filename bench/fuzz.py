"""Fuzz parse_telegram: random bytes and mutated vectors; every input must give a Telegram or a WMBusError.

    .venv/bin/python bench/fuzz.py [--count 1000000] [--seed 1]

Prints the number of inputs, failures (other exceptions, or the catch-all firing), the slowest input
and the duration. Exit status 1 when anything failed.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.wmbus.errors import WMBusError
from gateway.wmbus.telegram import parse_telegram
from tests.vectors import all_vectors

SAFETY_NET = "malformed telegram ("
CIS = (0x72, 0x73, 0x78, 0x79, 0x7A, 0x7B, 0x8C, 0x8D, 0x8E, 0x8F, 0x90, 0xA0)


def _fix_length(frame: bytearray) -> bytearray:
    if frame and frame[0] != 0x68:
        frame[0] = (len(frame) - 1) & 0xFF
    return frame


def mutate(rng: random.Random, vectors: list[bytes]) -> bytes:
    """One fuzz input: random bytes, a random body behind a header, or a mutated vector."""
    kind = rng.random()
    if kind < 0.15:
        return rng.randbytes(rng.randrange(0, 300))
    if kind < 0.3:
        head = bytearray((0, rng.choice((0x44, 0x46, 0x08)))) + rng.randbytes(8) + bytes((rng.choice(CIS),))
        return bytes(_fix_length(head + rng.randbytes(rng.randrange(0, 200))))
    frame = bytearray(rng.choice(vectors))
    for _ in range(rng.randrange(1, 4)):
        action = rng.randrange(3)
        if action == 0 and frame:
            index = rng.randrange(len(frame))
            frame[index] ^= 1 << rng.randrange(8)
        elif action == 1:
            del frame[rng.randrange(len(frame) + 1) :]
        else:
            at = rng.randrange(len(frame) + 1)
            frame[at:at] = rng.randbytes(rng.randrange(1, 16))
    return bytes(_fix_length(frame) if rng.random() < 0.7 else frame)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    vectors = [v.telegram for v in all_vectors()]
    keys = [v.key for v in all_vectors() if v.key] + [None, None, bytes(16)]
    outcomes = {"telegram": 0, "error": 0}
    failures: list[str] = []
    slowest = (0.0, b"")
    started = time.perf_counter()
    for _ in range(args.count):
        data = mutate(rng, vectors)
        key = rng.choice(keys)
        begin = time.perf_counter()
        try:
            parse_telegram(data, key)
            outcomes["telegram"] += 1
        except WMBusError as exc:
            outcomes["error"] += 1
            if SAFETY_NET in str(exc):
                failures.append(f"{data.hex()}: {exc!r} from {exc.__context__!r}")
        except Exception as exc:  # the point of the run: anything else is a bug
            failures.append(f"{data.hex()}: {exc!r}")
        spent = time.perf_counter() - begin
        if spent > slowest[0]:
            slowest = (spent, data)
    duration = time.perf_counter() - started
    print(f"inputs: {args.count} (seed {args.seed})")
    print(f"telegrams: {outcomes['telegram']}, typed errors: {outcomes['error']}, failures: {len(failures)}")
    print(f"slowest input: {slowest[0] * 1e3:.2f} ms ({slowest[1].hex()})")
    print(f"duration: {duration:.1f} s ({args.count / duration:,.0f} inputs/s)")
    for line in failures[:20]:
        print("FAIL", line)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
