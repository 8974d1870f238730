"""The AMB8465 in the settings a stick is found in: transparent output (UART_CMD_Out_Enable off) and
RSSI off, each set once in its flash; telegrams around the restart that turns RSSI on keep all their bytes."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from gateway.frame import LinkMode
from gateway.radio.amber import AmberSource
from gateway.radio.base import Backoff
from tests.radio.fakes import FakeAmber
from tests.radio.test_dongles import TELEGRAM_1, TELEGRAM_2, WAIT_S, Collector

SET_REQ, GET_REQ, RESET_REQ = 0x09, 0x0A, 0x05


def _source(fake: FakeAmber) -> AmberSource:
    return AmberSource(
        "amb", str(fake.path), link_modes=(LinkMode.T1,), backoff=Backoff(0.02, 0.1), reply_timeout_s=0.5
    )


@pytest.mark.parametrize("rssi_enabled", [False, True], ids=["rssi off", "rssi on"])
async def test_a_stick_in_transparent_mode_is_switched_to_command_output_once(
    tmp_path: Path, rssi_enabled: bool, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeAmber(tmp_path, rssi_enabled=rssi_enabled, cmd_out=False)
    fake.plug()
    source = _source(fake)
    collector = Collector(source.frames())
    try:
        await asyncio.wait_for(fake.configured.wait(), WAIT_S)
        fake.send_telegram(TELEGRAM_2, rssi_raw=0xE8)
        frame = await collector.next()
        await source.reinitialise()  # a second start writes nothing
    finally:
        await collector.close()
        fake.unplug()
    assert frame.data == TELEGRAM_2 and frame.rssi_dbm == -86.0
    assert fake.nvm == {0x05: 1, 0x45: 1} and fake.resets == 1
    writes = [payload for command, payload in fake.commands if command == SET_REQ]
    assert writes == [bytes([0x05, 1, 1])] + ([] if rssi_enabled else [bytes([0x45, 1, 1])])
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert (
        f"radio amb ({fake.path}): UART_CMD_Out_Enable is off; turning it on in the stick's flash (once)"
        in warned
    )


async def test_raw_telegrams_of_transparent_mode_are_garbage_not_frames(tmp_path: Path) -> None:
    fake = FakeAmber(tmp_path, cmd_out=False)
    fake.plug()
    fake.heard_before[GET_REQ] = TELEGRAM_1  # raw on the line while the gateway starts
    source = _source(fake)
    collector = Collector(source.frames())
    try:
        await asyncio.wait_for(fake.configured.wait(), WAIT_S)
        fake.send_telegram(TELEGRAM_2)
        frame = await collector.next()
    finally:
        await collector.close()
        fake.unplug()
    assert frame.data == TELEGRAM_2
    assert source.stats.frames == 1 and source.stats.garbage_bytes >= len(TELEGRAM_1) - 1


async def test_each_frame_knows_whether_it_carries_rssi(tmp_path: Path) -> None:
    """Before the setting is read the telegram is held; before the restart it has no RSSI; after, it has."""
    fake = FakeAmber(tmp_path, rssi_enabled=False)
    fake.plug()
    fake.heard_before[GET_REQ] = TELEGRAM_1  # before the gateway knows the RSSI setting
    fake.heard_before[RESET_REQ] = TELEGRAM_2  # after RSSI_Enable is written, before the restart
    source = _source(fake)
    collector = Collector(source.frames())
    try:
        await asyncio.wait_for(fake.configured.wait(), WAIT_S)
        fake.send_telegram(TELEGRAM_1, rssi_raw=0xE8)
        frames = [await collector.next() for _ in range(3)]
    finally:
        await collector.close()
        fake.unplug()
    assert [f.data for f in frames] == [TELEGRAM_1, TELEGRAM_2, TELEGRAM_1]  # none a byte short
    assert [f.rssi_dbm for f in frames] == [None, None, -86.0]
    assert source.stats.error_total == 0
