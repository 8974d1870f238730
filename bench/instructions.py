"""CPU instructions a telegram of bench/decode.py's pass, counted by callgrind: steady on a loaded machine.

    .venv/bin/python bench/instructions.py [--readings] [--small 2000] [--large 12000]

Runs a pass of ``small`` and one of ``large`` telegrams (after the same warm-up) under
``valgrind --tool=callgrind`` and divides the difference of the two totals by ``large - small``, so
start-up, imports and the corpus build cancel out. Needs valgrind (Debian package valgrind); ~1 minute
per 10,000 telegrams with --readings.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The child: build the corpus, warm the caches with 300 telegrams, then one pass of N telegrams.
_CHILD = """
import sys
sys.path.insert(0, {root!r})
from bench.decode import build_corpus, run
count, readings = int(sys.argv[1]), sys.argv[2] == "1"
corpus, keys, _ = build_corpus(max(count, 300), 100_000)
if readings:
    import gateway.decoders  # imported before the pass: not part of the difference
run(corpus[:300], keys, readings)
run(corpus[:count], keys, readings)
"""


def instructions(count: int, readings: bool, workdir: Path) -> int:
    """Total instructions callgrind counts for a child that decodes ``count`` telegrams."""
    out = workdir / f"callgrind.{count}.out"
    child = _CHILD.format(root=str(ROOT))
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
         sys.executable, "-c", child, str(count), "1" if readings else "0"],
        check=True, capture_output=True,
    )
    summary = re.search(r"^summary:\s+(\d+)", out.read_text(), re.MULTILINE)
    if summary is None:
        raise RuntimeError(f"no summary line in {out}")
    return int(summary.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", action="store_true", help="parse_telegram + decode_reading")
    parser.add_argument("--small", type=int, default=2_000)
    parser.add_argument("--large", type=int, default=12_000)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (sudo apt-get install valgrind)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        small = instructions(args.small, args.readings, Path(tmp))
        large = instructions(args.large, args.readings, Path(tmp))
    what = "parse_telegram + decode_reading" if args.readings else "parse_telegram, records read"
    per = (large - small) / (args.large - args.small)
    print(f"{what}: {per:,.0f} instructions a telegram "
          f"(callgrind, {args.large:,} minus {args.small:,} telegrams)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
