"""rtl_433 as a live source: a script prints real rtl_433 output (../shared/vectors/captures/
serial_rtl433_ok.msg, its -F csv lines) the way rtl_433 does, with its chatter on standard error."""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from pathlib import Path

import pytest

from gateway.clock import SystemClock
from gateway.daemon.config import SourceKind, parse_config
from gateway.daemon.sources import build_source
from gateway.frame import LinkMode
from gateway.radio.base import Backoff
from gateway.radio.rtl433 import DEFAULT_COMMAND, Rtl433LineError, Rtl433Lines, Rtl433Source
from tests.radio.test_dongles import WAIT_S, Collector
from tests.vectors import shared_dir

CAPTURE = shared_dir() / "vectors" / "captures" / "serial_rtl433_ok.msg"


def capture_rows() -> list[dict[str, str]]:
    with CAPTURE.open(newline="") as handle:
        return list(csv.DictReader(handle))


def fake_rtl_433(tmp_path: Path) -> str:
    """A program that behaves like ``rtl_433 -F csv`` on this capture: banner on stderr, lines on stdout."""
    script = tmp_path / "rtl_433"
    script.write_text(
        "import sys, time\n"
        "print('rtl_433 version 22.11 (2022-11-19) inputs file rtl_tcp RTL-SDR SoapySDR', file=sys.stderr)\n"
        "print('Found Rafael Micro R820T tuner', file=sys.stderr)\n"
        f"for line in open({str(CAPTURE)!r}):\n"
        "    sys.stdout.write(line)\n"
        "    sys.stdout.flush()\n"
        "    time.sleep(0.05)\n"
        "time.sleep(600)\n"
    )
    return f"{sys.executable} {script}"


async def test_a_running_rtl_433_delivers_the_wmbus_telegrams_of_its_output(tmp_path: Path) -> None:
    expected = [bytes.fromhex(row["data"]) for row in capture_rows() if row["model"] == "Wireless-MBus"]
    assert len(expected) == 2
    source = Rtl433Source("sdr", fake_rtl_433(tmp_path), backoff=Backoff(0.05, 0.1))
    collector = Collector(source.frames())
    try:
        frames = [await collector.next() for _ in expected]
    finally:
        await collector.close()
    assert [frame.data for frame in frames] == expected
    assert all(f.link_mode is LinkMode.UNKNOWN and f.rssi_dbm is None and f.source == "sdr" for f in frames)
    assert source.stats.frames == 2 and source.stats.error_total == 0 and source.stats.garbage_bytes == 0


def test_json_output_reads_the_same_telegrams() -> None:
    """``-F json`` prints the same message as an object of its non-empty fields."""
    lines = Rtl433Lines()
    for row in capture_rows():
        message = {key: value for key, value in row.items() if value}
        telegram = lines.feed(json.dumps(message))
        assert telegram is not None and telegram.data == bytes.fromhex(row["data"])
        assert telegram.timestamp is not None and telegram.timestamp.isoformat()[:19] == row["time"].replace(
            " ", "T"
        )


def test_rows_of_other_devices_are_skipped_and_broken_ones_refused() -> None:
    lines = Rtl433Lines()
    header = CAPTURE.read_text().splitlines()[0]
    assert lines.feed("Found Rafael Micro R820T tuner") is None  # chatter before the header
    assert lines.feed(header) is None
    columns = header.split(",")
    other = ["" for _ in columns]
    other[columns.index("time")], other[columns.index("model")] = "2020-08-10 20:41:00", "Acurite-Tower"
    assert lines.feed(",".join(other)) is None
    broken = list(other)
    broken[columns.index("model")], broken[columns.index("data")] = "Wireless-MBus", "2e4433"
    with pytest.raises(Rtl433LineError, match="shorter than its L field"):
        lines.feed(",".join(broken))


def test_type_rtl_433_runs_rtl_433_by_default_or_reads_stdin() -> None:
    config = parse_config(
        '[[radio]]\ntype = "rtl_433"\n\n[[radio]]\ntype = "rtl_433"\nname = "pipe"\ncommand = "-"\n'
    )
    default, piped = config.sources
    assert default.kind is SourceKind.RTL_433
    running = build_source(default, SystemClock())
    assert isinstance(running, Rtl433Source) and running.command == DEFAULT_COMMAND
    reading = build_source(piped, SystemClock())
    assert isinstance(reading, Rtl433Source) and reading.command is None


async def test_an_rtl_433_that_finds_no_dongle_is_a_loud_fault(caplog: pytest.LogCaptureFixture) -> None:
    program = "import sys; print('No supported devices found.', file=sys.stderr); sys.exit(1)"
    command = f'{sys.executable} -c "{program}"'
    source = Rtl433Source("sdr", command, backoff=Backoff(0.02, 0.05))
    collector = Collector(source.frames())
    try:
        async with asyncio.timeout(WAIT_S):
            while source.stats.errors.get("process_exit", 0) < 2:
                await asyncio.sleep(0.01)
    finally:
        await collector.close()
    assert (
        source.stats.down_reason
        == "the receiver program ended: ended with status 1: No supported devices found."
    )
    assert any(
        "No supported devices found." in r.getMessage() for r in caplog.records if r.levelname == "WARNING"
    )
