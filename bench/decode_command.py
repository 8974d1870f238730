"""The ``decode`` command as a user runs it: a file of mixed water telegrams in, JSON lines out.

    .venv/bin/python -m bench.decode_command [--count 30000] [--repeat 3] [--reference CMD]

Writes --count water telegrams of ../shared/vectors (each with its key where it has one, shuffled) to a
file, then times ``wmbus-gateway decode --input FILE`` end to end (a fresh process: start-up, parse,
decoders, JSON encoding, writing) and, in the same run and alternately, the reference decoder over the
same telegrams. The reference is wmbusmeters, given as a command (``--reference``, default: wmbusmeters
on PATH) that reads a simulation file (one ``telegram=|HEX|`` a line) with ``auto`` drivers; when it is
not installed the bench says so and prints only our figure.
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.vectors import water_vectors

GATEWAY = Path(sys.executable).with_name("wmbus-gateway")


def write_corpus(directory: Path, count: int, seed: int = 18) -> tuple[Path, Path, int]:
    """The telegrams as our ``--input`` file (HEX KEY) and as a reference simulation file."""
    vectors = [v for v in water_vectors() if not v.wired]
    rng = random.Random(seed)
    chosen = [vectors[n % len(vectors)] for n in range(count)]
    rng.shuffle(chosen)
    ours = directory / "telegrams.txt"
    ours.write_text(
        "".join(f"{v.telegram.hex()} {v.key.hex()}\n" if v.key else f"{v.telegram.hex()}\n" for v in chosen)
    )
    reference = directory / "simulation.txt"
    reference.write_text("".join(f"telegram=|{v.telegram.hex().upper()}|\n" for v in chosen))
    return ours, reference, len(vectors)


def timed(command: list[str], output: Path) -> tuple[float, int]:
    """Wall seconds of one run of ``command`` (stdout to ``output``) and the lines it printed."""
    started = time.perf_counter()
    with output.open("wb") as sink:
        subprocess.run(command, stdout=sink, stderr=subprocess.DEVNULL, check=False)
    elapsed = time.perf_counter() - started
    with output.open("rb") as printed:
        return elapsed, sum(1 for _ in printed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=30_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (the best counts)")
    parser.add_argument("--reference", help="reference decoder command; the simulation file is appended")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        ours_file, reference_file, distinct = write_corpus(directory, args.count)
        reference = shlex.split(args.reference) if args.reference else None
        if reference is None and shutil.which("wmbusmeters"):
            reference = ["wmbusmeters", "--format=json", "--silent"]
        print(f"machine load average: {' '.join(Path('/proc/loadavg').read_text().split()[:3])} "
              f"on {os.cpu_count()} CPUs")
        print(f"corpus: {args.count} water telegrams ({distinct} distinct vectors, keys where they have one)")
        ours: list[float] = []
        theirs: list[float] = []
        for _ in range(args.repeat):
            elapsed, lines = timed([str(GATEWAY), "decode", "--input", str(ours_file)], directory / "o.jsonl")
            ours.append(elapsed)
            if reference is not None:
                command = [*reference, str(reference_file), "Meter", "auto", "*", "NOKEY"]
                theirs.append(timed(command, directory / "r.jsonl")[0])
        best = min(ours)
        print(f"wmbus-gateway decode --input: {lines} JSON lines, best of {len(ours)} runs {best:.2f} s = "
              f"{args.count / best:,.0f} telegrams/s (runs: {', '.join(f'{t:.2f}' for t in ours)} s)")
        if reference is None:
            print("reference decoder: wmbusmeters is not installed here (not packaged for this system); "
                  "give --reference CMD to compare")
            return 0
        best_ref = min(theirs)
        print(f"reference ({shlex.join(reference)}): best {best_ref:.2f} s = {args.count / best_ref:,.0f} "
              f"telegrams/s; ours is {best_ref / best:.1f}x the reference (target >= 37x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
