"""Replay of ../shared/vectors/captures (rtl_wmbus lines, rtl_433 CSV, raw hex streams) and rtl_wmbus."""

from __future__ import annotations

import asyncio
import csv
import re
import shlex
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.clock import ManualClock
from gateway.frame import LinkMode, ReceivedFrame
from gateway.radio.base import Backoff
from gateway.radio.hexstream import find_frames
from gateway.radio.replay import ReplaySource
from gateway.radio.rtlwmbus import RtlWmbusSource, parse_rtl_wmbus_line
from gateway.wmbus.phl import add_format_a_crcs
from tests.vectors import captures_dir


def _expected_telegrams(path: Path) -> list[bytes]:
    """What a capture holds, read the simplest way for each format (independent of the source)."""
    text = path.read_text()
    if path.name.startswith("serial_rtlwmbus"):
        return [bytes.fromhex(hit) for hit in re.findall(r";0x([0-9a-fA-F]+)", text)]
    if path.name.startswith("serial_rtl433"):
        rows = list(csv.DictReader(text.splitlines()))
        return [bytes.fromhex(row["data"]) for row in rows if row["data"]]
    # The raw streams: the _ok file has the clean frames one a line; _bad has noise around the same.
    clean = (path.parent / "serial_rawtty_ok.hex").read_text().split()
    return [bytes.fromhex(line) for line in clean]


async def _collect(source: ReplaySource) -> list[ReceivedFrame]:
    return [frame async for frame in source.frames()]


@pytest.mark.parametrize("name", sorted(p.name for p in captures_dir().iterdir()))
async def test_replaying_a_capture_yields_every_telegram(name: str) -> None:
    path = captures_dir() / name
    source = ReplaySource("replay", path)
    frames = await _collect(source)
    assert [frame.data for frame in frames] == _expected_telegrams(path)
    assert source.stats.frames == len(frames) > 0
    assert source.stats.error_total == 0


async def test_garbage_in_the_raw_stream_is_skipped_and_counted() -> None:
    source = ReplaySource("replay", captures_dir() / "serial_rawtty_bad.hex")
    await _collect(source)
    ok = (captures_dir() / "serial_rawtty_ok.hex").read_text().split()
    bad = (captures_dir() / "serial_rawtty_bad.hex").read_text().split()
    assert source.stats.garbage_bytes == sum(len(b) - len(o) for b, o in zip(bad, ok, strict=True)) // 2


async def test_rtl_wmbus_timestamps_and_link_modes_are_kept() -> None:
    frames = await _collect(ReplaySource("replay", captures_dir() / "serial_rtlwmbus_linkmodes.msg"))
    assert [f.link_mode for f in frames] == [LinkMode.C1, LinkMode.T1]
    assert frames[0].received_at == datetime(2019, 2, 9, 7, 14, 18, tzinfo=UTC)


async def test_recorded_timing_and_acceleration_follow_the_clock(tmp_path: Path) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for speed, gap_s in ((1.0, 600.0), (60.0, 10.0)):
        clock = ManualClock(start)
        source = ReplaySource("replay", captures_dir() / "serial_rtlwmbus_ok.msg", clock=clock, speed=speed)
        frames = source.frames()
        await anext(frames)
        second = asyncio.ensure_future(anext(frames))
        await asyncio.sleep(0.01)  # let it reach its sleep on the clock
        clock.advance(gap_s - 1)
        await asyncio.sleep(0.01)
        assert not second.done()
        clock.advance(1)
        assert (await asyncio.wait_for(second, 1)).received_at == datetime(2019, 4, 3, 19, 10, 42, tzinfo=UTC)
        start = clock.now()


async def test_hex_lines_with_timestamp_comments_and_crcs(tmp_path: Path) -> None:
    telegram = bytes.fromhex(_expected_telegrams(captures_dir() / "serial_rawtty_ok.hex")[0].hex())
    path = tmp_path / "mixed.txt"
    path.write_text(
        f"# a comment\n#2026-03-01T10:00:00Z\n{telegram.hex()}\n{add_format_a_crcs(telegram).hex()}\nzz\n"
    )
    source = ReplaySource("replay", path, use_recorded_time=True)
    frames = await _collect(source)
    assert [f.data for f in frames] == [telegram, telegram]
    assert frames[0].received_at == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert source.stats.errors == {"malformed": 1}


def test_find_frames_rejects_noise_that_looks_like_a_length() -> None:
    result = find_frames(bytes(range(256)))
    assert result.frames == () and result.garbage_bytes == 256


def test_parse_rtl_wmbus_line_rejects_bad_lines() -> None:
    with pytest.raises(ValueError):
        parse_rtl_wmbus_line("T1;1;1;2019-04-03 19:00:42.000;97;148;88888888")
    with pytest.raises(ValueError):
        parse_rtl_wmbus_line("T1;1;1;2019-04-03 19:00:42.000;97;148;88888888;0x2e4433")


async def test_rtl_wmbus_pipeline_is_restarted_when_it_dies() -> None:
    capture = captures_dir() / "serial_rtlwmbus_with_timestamps.msg"
    source = RtlWmbusSource(
        "sdr", f"cat {shlex.quote(str(capture))}", backoff=Backoff(initial_s=0.01, maximum_s=0.02)
    )
    frames = source.frames()
    got = [await asyncio.wait_for(anext(frames), 5) for _ in range(4)]
    assert isinstance(frames, AsyncGenerator)
    await frames.aclose()
    # The crc_ok=0 line is counted and dropped; after the two good ones the pipeline ends and restarts.
    expected = [
        parse_rtl_wmbus_line(line).data for line in capture.read_text().splitlines() if ";1;1;" in line
    ]
    assert [f.data for f in got] == expected * 2
    assert source.stats.reconnects >= 1
    assert source.stats.errors["process_exit"] >= 1 and source.stats.errors["link_crc"] >= 1
    assert not source.stats.connected


async def test_rtl_wmbus_reopen_restarts_a_running_pipeline() -> None:
    line = (captures_dir() / "serial_rtlwmbus_ok.msg").read_text().splitlines()[0]
    command = f"while true; do echo {shlex.quote(line)}; sleep 0.05; done"
    source = RtlWmbusSource("sdr", command, backoff=Backoff(initial_s=0.01, maximum_s=0.02))
    frames = source.frames()
    await asyncio.wait_for(anext(frames), 5)
    await source.reopen()
    frame = await asyncio.wait_for(anext(frames), 5)
    assert isinstance(frames, AsyncGenerator)
    await frames.aclose()
    assert frame.data == parse_rtl_wmbus_line(line).data
    assert source.stats.reconnects == 1
    assert "process_exit" not in source.stats.errors


async def test_rtl_wmbus_from_stdin_counts_bad_lines() -> None:
    reader = asyncio.StreamReader()
    lines = (captures_dir() / "serial_rtlwmbus_ok.msg").read_text()
    reader.feed_data(b"rtl_wmbus: starting\n" + lines.encode())
    reader.feed_eof()
    source = RtlWmbusSource("stdin", stdin=reader)
    frames = [frame async for frame in source.frames()]
    assert len(frames) == 2 and frames[0].link_mode is LinkMode.T1 and frames[0].rssi_dbm is None
    assert source.stats.errors == {"malformed": 1}


@pytest.mark.parametrize("name", ["serial_rtl433_ok.msg", "serial_rawtty_ok.hex", "serial_rtlwmbus_ok.msg"])
async def test_a_replay_restored_from_any_checkpoint_yields_exactly_the_rest(
    name: str, tmp_path: Path
) -> None:
    path = tmp_path / name
    text = (captures_dir() / name).read_text()
    if name.endswith(".hex"):  # two frames on one line, after a time comment: a resume inside a line
        frames_hex = text.split()
        text = (
            "#2026-03-01T10:00:00Z\n"
            + frames_hex[0]
            + frames_hex[1]
            + "\n"
            + "\n".join(frames_hex[2:])
            + "\n"
        )
    path.write_text(text)
    whole = await _collect(ReplaySource("replay", path))
    assert len(whole) >= 2
    for cut in range(1, len(whole) + 1):
        first = ReplaySource("replay", path)
        frames = first.frames()
        for _ in range(cut):
            await anext(frames)
        checkpoint = first.checkpoint()
        assert isinstance(frames, AsyncGenerator)
        await frames.aclose()
        again = ReplaySource("replay", path)
        assert "resuming" in again.restore(checkpoint) or cut == len(whole)
        rest = await _collect(again)
        assert [(f.data, f.received_at) for f in rest] == [(f.data, f.received_at) for f in whole[cut:]]
    other = tmp_path / "other.msg"
    other.write_text("#2026-01-01T00:00:00Z\n" + text)
    assert ReplaySource("replay", other).restore(checkpoint).startswith("from the start")
