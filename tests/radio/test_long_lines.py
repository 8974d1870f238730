"""A line far longer than any telegram (issue 16 item 6): skipped and counted, the lines after it read.

Before: a 5 MB hex line in a recording held the event loop for ~19 s while it was searched for frames,
and on the rtl_wmbus source a line over asyncio's 64 KiB stream limit ended the read, restarted the
pipeline and lost what followed it.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import sys
from collections.abc import AsyncGenerator
from pathlib import Path

import pytest

from gateway.radio.base import Backoff
from gateway.radio.lines import LineSplitter
from gateway.radio.replay import ReplaySource
from gateway.radio.rtlwmbus import RtlWmbusSource, parse_rtl_wmbus_line
from tests.radio.fakes import FakeCul
from tests.radio.test_dongles import DONGLES, TELEGRAM_1, TELEGRAM_2, _configure, _source
from tests.vectors import captures_dir

HUGE_HEX_BYTES = 5_000_000  # the fault run's line


def test_the_splitter_skips_a_long_line_across_chunks_and_keeps_offsets() -> None:
    splitter = LineSplitter(max_bytes=8)
    lines = []
    for chunk in (b"ab\n0123", b"456789", b"abc\nxy", b"\nlast"):
        lines += splitter.feed(chunk)
    lines += splitter.close()
    assert [(line.data, line.length, line.offset, line.end) for line in lines] == [
        (b"ab", 2, 0, 3),
        (None, 13, 3, 17),
        (b"xy", 2, 17, 20),
        (b"last", 4, 20, 24),
    ]


async def test_a_huge_hex_line_in_a_recording_is_skipped_and_the_rest_replayed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = (captures_dir() / "serial_rtlwmbus_ok.msg").read_text().splitlines()
    path = tmp_path / "recording.msg"
    with path.open("w") as out:
        out.write(good[0] + "\n")
        out.write("2e44" * (HUGE_HEX_BYTES // 4) + "\n")  # hex that parses, megabytes of it
        out.write(good[1] + "\n")
        out.write("ab" * 20_000 + "\n")
        out.write(good[0] + "\n")
    caplog.set_level(logging.WARNING, "gateway.radio")
    source = ReplaySource("replay", path)
    frames = [frame async for frame in source.frames()]
    expected = [parse_rtl_wmbus_line(line).data for line in (good[0], good[1], good[0])]
    assert [frame.data for frame in frames] == expected
    assert source.stats.errors == {"line_too_long": 2}
    assert source.stats.garbage_bytes == 0  # the long lines were never searched for frames
    assert source.stats.to_json()["errors"]["line_too_long"] == 2  # in the status message
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1  # rate-limited: the second long line is only counted
    assert "radio replay" in warnings[0] and f"{HUGE_HEX_BYTES} bytes at line 2" in warnings[0]


LONG_PREFIX = "T1;1;1;2019-04-03 19:00:42.000;97;148;88888888;0x"


def _fake_rtl_wmbus(tmp_path: Path, lines: list[str], long_line_bytes: int) -> str:
    """A program printing rtl_wmbus' output: lines, one garbage line over 64 KiB, lines, then waiting."""
    script = tmp_path / "rtl_wmbus"
    script.write_text(
        "import sys, time\n"
        f"lines = {lines!r}\n"
        "out = sys.stdout\n"
        "out.write(lines[0] + '\\n'); out.flush()\n"
        f"out.write({LONG_PREFIX!r} + '2e' * {long_line_bytes // 2} + '\\n')\n"
        "for line in lines[1:]:\n"
        "    out.write(line + '\\n')\n"
        "out.flush()\n"
        "time.sleep(60)\n"
    )
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}"


async def test_rtl_wmbus_line_over_the_stream_limit_costs_no_restart_and_no_telegram(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = (captures_dir() / "serial_rtlwmbus_ok.msg").read_text().splitlines()
    lines = [good[0], good[1], good[0], good[1]]
    command = _fake_rtl_wmbus(tmp_path, lines, long_line_bytes=100_000)
    caplog.set_level(logging.WARNING, "gateway.radio")
    source = RtlWmbusSource("sdr", command, backoff=Backoff(initial_s=0.01, maximum_s=0.02))
    frames = source.frames()
    try:
        got = [await asyncio.wait_for(anext(frames), 10) for _ in lines]
    finally:
        assert isinstance(frames, AsyncGenerator)
        await frames.aclose()
    assert [frame.data for frame in got] == [parse_rtl_wmbus_line(line).data for line in lines]
    assert source.stats.reconnects == 0
    assert source.stats.errors == {"line_too_long": 1}
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "radio sdr" in warnings[0]
    assert f"{len(LONG_PREFIX) + 100_000} bytes" in warnings[0]


async def test_cul_line_too_long_is_counted_and_the_next_telegram_read(tmp_path: Path) -> None:
    fake = FakeCul(tmp_path)
    fake.plug()
    source = _source(DONGLES[3], fake)
    collector = await _configure(fake, source)
    try:
        fake.send_telegram(TELEGRAM_1)
        first = await collector.next()
        await fake.ainject(b"b" + b"00" * 3000 + b"\r\n")  # culfw's lines are under 1 KiB
        fake.send_telegram(TELEGRAM_2)
        second = await collector.next()
    finally:
        await collector.close()
        fake.unplug()
    assert (first.data, second.data) == (TELEGRAM_1, TELEGRAM_2)
    assert source.stats.errors == {"line_too_long": 1}
