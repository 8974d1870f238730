"""Figures for issue 16 item 6: a 5 MB hex line in a replay, a 100 KB line from an rtl_wmbus program.

Prints how long the event loop was held (a 10 ms ticker's longest gap), the telegrams read of those
around the long line, and the source's restarts and error counters.
Run: .venv/bin/python bench/long_lines.py   (PYTHONPATH=<another checkout> to measure that one)
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from gateway.radio.base import Backoff
from gateway.radio.replay import ReplaySource
from gateway.radio.rtlwmbus import RtlWmbusSource

CAPTURE = Path(__file__).resolve().parents[2] / "shared/vectors/captures/serial_rtlwmbus_ok.msg"
LONG_PREFIX = "T1;1;1;2019-04-03 19:00:42.000;97;148;88888888;0x"


async def replay(folder: Path, good: list[str]) -> None:
    recording = folder / "recording.msg"
    recording.write_text(good[0] + "\n" + "2e44" * 1_250_000 + "\n" + good[1] + "\n")
    source = ReplaySource("replay", recording)
    longest = 0.0
    done = False

    async def ticker() -> None:
        nonlocal longest
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            longest, last = max(longest, now - last), now

    task = asyncio.create_task(ticker())
    frames = 0
    async for _ in source.frames():
        frames += 1
        await asyncio.sleep(0)
    done = True
    await task
    print(
        f"replay, 5 MB line between 2 telegrams: {frames} of 2 read, event loop held up to {longest:.1f} s,"
        f" errors {source.stats.errors}"
    )


async def rtl_wmbus(folder: Path, good: list[str]) -> None:
    script = folder / "rtl_wmbus.py"
    lines = [good[0], LONG_PREFIX + "2e" * 50_000, good[1], good[0]]
    script.write_text(f"import sys, time\nprint('\\n'.join({lines!r}), flush=True)\ntime.sleep(30)\n")
    source = RtlWmbusSource("sdr", f"{sys.executable} {script}", backoff=Backoff(0.5, 0.5))
    got = 0

    async def read() -> None:
        nonlocal got
        async for _ in source.frames():
            got += 1

    task = asyncio.create_task(read())
    await asyncio.sleep(3)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    print(
        f"rtl_wmbus, 100 KB line after the 1st of 3 telegrams (printed once): {got} telegrams in 3 s,"
        f" {source.stats.reconnects} restarts, errors {source.stats.errors}"
    )


def main() -> None:
    good = CAPTURE.read_text().splitlines()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(replay(Path(tmp), good))
        asyncio.run(rtl_wmbus(Path(tmp), good))


if __name__ == "__main__":
    main()
