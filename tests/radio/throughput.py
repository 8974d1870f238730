"""Figures, not a test: frames/s each dongle source sustains through a pseudo-terminal, and reconnect time.

    .venv/bin/python -m tests.radio.throughput [--frames 2000] [--gone 0.5]

Each fake dongle (tests/radio/fakes.py) writes --frames telegram indications as fast as the pty takes
them; the source's frames are counted until all arrived. Then the fake is unplugged, plugged back --gone s
later, and the time from plug to the first frame is measured with the sources' default back-off.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import AsyncGenerator, Callable
from pathlib import Path

from gateway.radio.amber import AmberSource
from gateway.radio.cul import CulSource
from gateway.radio.imst import Im871aSource
from gateway.radio.iu891a import Iu891aSource
from gateway.radio.serial_source import SerialSource
from tests.radio.fakes import FakeAmber, FakeCul, FakeDongle, FakeIm871a, FakeIu891a

TELEGRAM = bytes.fromhex(
    "2e44333003020100071b7a634820252f2f0265840842658308820165950802fb1aae0142fb1aae018201fb1aa9012f"
)
RIGS: list[tuple[str, Callable[[Path], FakeDongle], type[SerialSource]]] = [
    ("im871a", FakeIm871a, Im871aSource),
    ("iu891a", FakeIu891a, Iu891aSource),
    ("amb8465", FakeAmber, AmberSource),
    ("cul", FakeCul, CulSource),
]


def _wire(fake: FakeDongle) -> bytes:
    """The bytes one indication takes on the wire, captured from the fake."""
    captured = bytearray()
    original = fake.inject
    fake.inject = captured.extend  # type: ignore[method-assign,assignment]
    fake.send_telegram(TELEGRAM)
    fake.inject = original  # type: ignore[method-assign]
    return bytes(captured)


async def measure(
    name: str, make_fake: Callable[[Path], FakeDongle], kind: type[SerialSource], count: int, gone_s: float
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        fake = make_fake(Path(directory))
        fake.plug()
        source = kind(name, str(fake.path))
        frames = source.frames()
        first = asyncio.ensure_future(anext(frames))
        await asyncio.wait_for(fake.configured.wait(), 10)
        wire = _wire(fake)
        began = time.perf_counter()
        writer = asyncio.ensure_future(fake.ainject(wire * count))
        await first
        for _ in range(count - 1):
            await anext(frames)
        elapsed = time.perf_counter() - began
        await writer
        fake.unplug()
        following = asyncio.ensure_future(anext(frames))  # drives the reconnect loop
        await asyncio.sleep(gone_s)
        fake.plug()
        plugged = time.perf_counter()
        await asyncio.wait_for(fake.configured.wait(), 60)
        fake.send_telegram(TELEGRAM)
        await following
        reconnect = time.perf_counter() - plugged
        assert isinstance(frames, AsyncGenerator)
        await frames.aclose()
        fake.unplug()
    print(
        f"{name:8s} {count / elapsed:8.0f} frames/s ({len(wire)} bytes each, "
        f"{count * len(wire) / elapsed / 1024:6.0f} KiB/s)"
        f"   plug-to-first-frame after an unplug: {reconnect:.2f} s   errors {source.stats.errors}"
    )


async def main(count: int, gone_s: float) -> None:
    for name, make_fake, kind in RIGS:
        await measure(name, make_fake, kind, count, gone_s)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--gone", type=float, default=0.5, help="seconds the stick stays unplugged")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.frames, arguments.gone))
