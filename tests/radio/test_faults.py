"""Faults are loud: each fault that stops data is one WARNING line naming source, device and reason, at
once and rate-limited; its recovery is one more line. Dongles are the pseudo-terminal fakes."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.radio.base import Backoff
from gateway.radio.faults import FaultLog, in_words
from gateway.radio.imst import Im871aSource
from gateway.radio.rtlwmbus import RtlWmbusSource
from tests.radio.fakes import FakeIm871a
from tests.radio.test_dongles import TELEGRAM_1, TELEGRAM_2, WAIT_S, Collector

RADIO = "gateway.radio"


def lines(caplog: pytest.LogCaptureFixture, level: int = logging.WARNING) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith(RADIO) and r.levelno >= level]


def recoveries(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == RADIO and r.levelno == logging.INFO]


async def _eventually(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT_S):
        while not condition():
            await asyncio.sleep(0.01)


def _source(fake: FakeIm871a) -> Im871aSource:
    return Im871aSource(
        "roof", str(fake.path), backoff=Backoff(initial_s=0.02, maximum_s=0.05), reply_timeout_s=0.3
    )


@pytest.fixture(autouse=True)
def _info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=RADIO)


async def test_a_missing_device_is_one_warning_and_its_arrival_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeIm871a(tmp_path)
    source = _source(fake)
    collector = Collector(source.frames())
    try:
        await _eventually(lambda: source.stats.errors.get("open_failed", 0) >= 5)  # retried, quietly
        fake.plug()
        await _eventually(lambda: source.stats.connected)
    finally:
        await collector.close()
        fake.unplug()
    (warning,) = lines(caplog)
    assert warning.startswith(f"radio roof ({fake.path}): cannot open the device: ")
    assert "No such file or directory" in warning
    (recovered,) = recoveries(caplog)
    assert recovered.startswith(f"radio roof ({fake.path}): opened and configured after ")
    assert "(was: cannot open the device)" in recovered


async def test_a_dongle_that_refuses_its_configuration(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeIm871a(tmp_path)
    fake.plug()
    fake.responding = False
    source = _source(fake)
    collector = Collector(source.frames())
    try:
        await _eventually(lambda: source.stats.errors.get("init_failed", 0) >= 2)
        assert source.stats.down_reason is not None and "did not accept" in source.stats.down_reason
        fake.responding = True
        await _eventually(lambda: source.stats.connected)
    finally:
        await collector.close()
        fake.unplug()
    (warning,) = lines(caplog)
    refused = f"radio roof ({fake.path}): the dongle did not accept its configuration: no reply"
    assert warning.startswith(refused)
    assert len(recoveries(caplog)) == 1 and source.stats.down_reason is None


async def test_unplug_and_replug(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeIm871a(tmp_path)
    fake.plug()
    source = _source(fake)
    collector = Collector(source.frames())
    try:
        await asyncio.wait_for(fake.configured.wait(), WAIT_S)
        await _eventually(lambda: source.stats.connected)
        assert lines(caplog) == [] and recoveries(caplog) == []  # a clean start says nothing here
        fake.unplug()
        await _eventually(lambda: source.stats.errors.get("open_failed", 0) >= 2)
        fake.plug()
        await _eventually(lambda: source.stats.connected)
        fake.send_telegram(TELEGRAM_1)
        await collector.next()
    finally:
        await collector.close()
        fake.unplug()
    warnings = lines(caplog)
    assert warnings[0] == f"radio roof ({fake.path}): the device went away (unplugged?): end of file" or (
        warnings[0].startswith(f"radio roof ({fake.path}): the device went away (unplugged?)")
    )
    assert warnings[1].startswith(f"radio roof ({fake.path}): cannot open the device")
    assert len(warnings) == 2  # the retries while it is away are counted, not logged
    (recovered,) = recoveries(caplog)
    assert recovered.startswith(f"radio roof ({fake.path}): reconnected after ")
    assert "was: the device went away" in recovered


async def test_garbage_without_telegrams_is_a_fault_until_a_telegram_reads(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeIm871a(tmp_path)
    fake.plug()
    source = _source(fake)
    collector = Collector(source.frames())
    try:
        await asyncio.wait_for(fake.configured.wait(), WAIT_S)
        await _eventually(lambda: source.stats.connected)
        fake.inject(bytes(range(0x10, 0x90)) * 3)  # 384 bytes, no 0xA5 start byte
        await _eventually(lambda: source.stats.down_reason is not None)
        fake.send_telegram(TELEGRAM_2)
        await collector.next()
    finally:
        await collector.close()
        fake.unplug()
    (warning,) = lines(caplog)
    assert warning.startswith(f"radio roof ({fake.path}): only unreadable bytes, no telegram: 384 bytes")
    (recovered,) = recoveries(caplog)
    assert "telegrams readable again" in recovered and source.stats.down_reason is None


async def test_a_receiver_program_that_exits_names_its_last_words(caplog: pytest.LogCaptureFixture) -> None:
    command = f"{sys.executable} -c \"import sys; print('usb_open error -3', file=sys.stderr); sys.exit(1)\""
    source = RtlWmbusSource("sdr", command, backoff=Backoff(initial_s=0.02, maximum_s=0.05))
    collector = Collector(source.frames())
    try:
        await _eventually(lambda: source.stats.errors.get("process_exit", 0) >= 3)
    finally:
        await collector.close()
    (warning,) = lines(caplog)  # it keeps failing: one line, the repeats counted
    said = "the receiver program ended: ended with status 1: usb_open error -3"
    assert warning == f"radio sdr (command: {command}): {said}"
    assert in_words(source.stats.last_error).startswith("the receiver program ended")


def test_a_flapping_stick_logs_once_per_interval_and_says_how_often(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    faults = FaultLog("roof", "/dev/wmbus-im871a", interval_s=300.0, monotonic=lambda: now[0])
    for _ in range(10):  # unplugged and back every 10 s
        faults.fault("read_failed", "end of file")
        now[0] += 1.0
        faults.recovered("reconnected")
        now[0] += 9.0
    assert lines(caplog) == ["radio roof (/dev/wmbus-im871a): the device went away (unplugged?): end of file"]
    assert recoveries(caplog) == [
        "radio roof (/dev/wmbus-im871a): reconnected after 1 s (was: the device went away (unplugged?))"
    ]
    now[0] = 400.0
    faults.fault("read_failed", "end of file")
    assert lines(caplog)[-1] == (
        "radio roof (/dev/wmbus-im871a): the device went away (unplugged?): end of file"
        " (9 more times in the last 400 s)"
    )
