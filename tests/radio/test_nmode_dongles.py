"""The 169 MHz sticks (AMB3665, iM170A) against fakes on pseudo-terminals, fed by simulated N-mode meters.

Each stick is started in the states it can be found in (factory settings, a previous configuration,
another channel, configured as a meter) and must end up hearing the meters of its channel.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

import pytest

from gateway.clock import ManualClock
from gateway.frame import LinkMode, ReceivedFrame
from gateway.radio import amb3665, im170a
from gateway.radio.amb3665 import Amb3665Source
from gateway.radio.base import Backoff, SourceError
from gateway.radio.im170a import Im170aSource
from gateway.radio.imst import Im871aSource
from gateway.radio.nmode import CHANNELS, N_MODES
from gateway.radio.serial_source import SerialSource
from gateway.radio.simulator import SimulatedFleet, Transmission
from tests.radio.nmode_fakes import IM170A_LINK_MODES, FakeAmb3665, FakeIm170a
from tests.radio.test_dongles import Collector

START = datetime(2026, 9, 30, 22, 30, tzinfo=UTC)
WAIT_S = 10.0  # generous: the build machine runs several suites at once


def n_transmissions(mode: LinkMode, count: int, meters: int = 4) -> list[Transmission]:
    fleet = SimulatedFleet(7, meters, ManualClock(START), start=START, n_mode=mode, loss_rate=0.0)
    return list(islice(fleet.transmissions(), count))


def _options() -> dict[str, object]:
    return {"backoff": Backoff(initial_s=0.02, maximum_s=0.1), "reply_timeout_s": 2.0}


async def _eventually(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT_S):
        while not condition():
            await asyncio.sleep(0.01)


@pytest.fixture
async def collectors() -> AsyncIterator[list[Collector]]:
    made: list[Collector] = []
    yield made
    for collector in made:
        await collector.close()


async def _start(source: SerialSource, collectors: list[Collector]) -> Collector:
    collector = Collector(source.frames())
    collectors.append(collector)
    return collector


def test_mode_codes_follow_the_makers_tables() -> None:
    assert amb3665.receive_mode((LinkMode.N1A,)) == amb3665.receive_mode((LinkMode.N2A,)) == 0x02
    assert amb3665.receive_mode((LinkMode.N1C,)) == 0x06
    assert amb3665.receive_mode((LinkMode.N2F,)) == 0x0C
    assert im170a.link_mode_code((LinkMode.N1A,)) == 0x0A
    assert im170a.link_mode_code((LinkMode.N2C,)) == 0x0F
    assert im170a.link_mode_code((LinkMode.N1F,)) == 0x14
    assert {mode.value: im170a.link_mode_code((mode,)) for mode in N_MODES} == IM170A_LINK_MODES
    for code in (amb3665.receive_mode, im170a.link_mode_code):
        with pytest.raises(SourceError, match="cannot listen to T1"):
            code((LinkMode.T1,))
        with pytest.raises(SourceError, match=r"cannot listen to N1a\+N1b"):
            code((LinkMode.N1A, LinkMode.N1B))


def test_channels_are_the_standards() -> None:
    assert CHANNELS[LinkMode.N1A].frequency_mhz == CHANNELS[LinkMode.N2A].frequency_mhz == 169.40625
    assert CHANNELS[LinkMode.N1C].describe() == "channel 2a, 169.431250 MHz, 2.4 kbit/s"
    assert {CHANNELS[mode].bit_rate_kbps for mode in N_MODES} == {2.4, 4.8}


# --------------------------------------------------------------------------------------------------
# AMB3665


async def test_amb3665_from_factory_settings_enables_output_and_rssi_once(
    tmp_path: Path, collectors: list[Collector]
) -> None:
    fake = FakeAmb3665(tmp_path, uart_cmd_out=False, rssi_enabled=False, preselect=0x02)
    fake.plug()
    source = Amb3665Source("n", str(fake.path), link_modes=(LinkMode.N1C,), **_options())  # type: ignore[arg-type]
    collector = await _start(source, collectors)
    await asyncio.wait_for(fake.configured.wait(), WAIT_S)
    assert sorted(fake.nvm_writes) == [(0x05, b"\x01"), (0x45, b"\x01")]
    assert fake.resets == 1
    assert fake.mode == 0x06  # N2c: channel 2a, the meters' N1c
    assert fake.nvm[0x46] == 0x02  # the mode goes to volatile memory only

    for tx in n_transmissions(LinkMode.N1C, 6):
        assert fake.hear(tx.on_air, tx.link_mode, rssi_raw=0xE8)
        frame = await collector.next()
        assert frame.data == tx.data  # CRCs removed, L = length - 1
        assert frame.link_mode is LinkMode.N1C
        assert frame.rssi_dbm == -86.0  # -24 / 2 - 74

    # Opened again (a replug, a restart): the flash is right now, nothing is written.
    await source.reopen()
    await _eventually(lambda: fake.commands.count((0x04, b"\x06")) == 2)
    assert len(fake.nvm_writes) == 2
    assert fake.resets == 1
    assert source.nvm_writes == 2


async def test_amb3665_already_set_up_is_not_written_and_hears_only_its_channel(
    tmp_path: Path, collectors: list[Collector]
) -> None:
    fake = FakeAmb3665(tmp_path, uart_cmd_out=True, rssi_enabled=True, preselect=0x0B)
    fake.plug()
    source = Amb3665Source("n", str(fake.path), link_modes=(LinkMode.N2E,), **_options())  # type: ignore[arg-type]
    collector = await _start(source, collectors)
    await asyncio.wait_for(fake.configured.wait(), WAIT_S)
    assert fake.nvm_writes == []
    assert fake.resets == 0
    assert [command for command, _ in fake.commands] == [0x0B, 0x0C, 0x0A, 0x0A, 0x04]
    other_channel = n_transmissions(LinkMode.N1C, 2)
    own_channel = n_transmissions(LinkMode.N1E, 2)
    assert not fake.hear(other_channel[0].on_air, other_channel[0].link_mode)
    broken = bytearray(own_channel[0].on_air)
    broken[12] ^= 0x10
    assert not fake.hear(bytes(broken), own_channel[0].link_mode)  # a failed CRC never leaves the module
    assert fake.hear(own_channel[1].on_air, own_channel[1].link_mode)
    frame = await collector.next()
    assert frame.data == own_channel[1].data
    assert frame.link_mode is LinkMode.N2E
    assert source.stats.frames == 1


async def test_amb3665_that_refuses_the_mode_fails_its_start_loudly(tmp_path: Path) -> None:
    fake = FakeAmb3665(tmp_path, uart_cmd_out=True, rssi_enabled=True)
    fake.plug()
    fake.responding = False
    source = Amb3665Source("n", str(fake.path), link_modes=(LinkMode.N1A,), **_options())  # type: ignore[arg-type]
    collector = Collector(source.frames())
    try:
        await _eventually(lambda: "init_failed" in source.stats.errors)
        assert source.stats.last_error is not None and "no reply" in source.stats.last_error
        assert not source.stats.connected
    finally:
        await collector.close()


# --------------------------------------------------------------------------------------------------
# iM170A


@pytest.mark.parametrize("with_crc", [True, False])
async def test_im170a_found_as_a_meter_on_another_channel_becomes_a_collector(
    tmp_path: Path, collectors: list[Collector], with_crc: bool
) -> None:
    fake = FakeIm170a(
        tmp_path,
        with_crc=with_crc,
        device_mode=0x01,
        link_mode=0x0A,
        attach_rssi=False,
        attach_timestamp=False,
    )
    fake.plug()
    source = Im170aSource("n", str(fake.path), link_modes=(LinkMode.N1C,), **_options())  # type: ignore[arg-type]
    collector = await _start(source, collectors)
    await asyncio.wait_for(fake.configured.wait(), WAIT_S)
    assert (fake.device_mode, fake.link_mode, fake.attach_rssi, fake.attach_timestamp) == (
        0x00,
        0x0E,
        True,
        True,
    )
    assert source.device_info is not None and source.device_info.module_type == 0x36
    for tx in n_transmissions(LinkMode.N1C, 5):
        assert fake.hear(tx.on_air, tx.link_mode, rssi_raw=0xCD)
        frame: ReceivedFrame = await collector.next()
        assert frame.data == tx.data
        assert frame.link_mode is LinkMode.N1C
        assert frame.rssi_dbm == -20.0
    assert not fake.hear(n_transmissions(LinkMode.N1D, 1)[0].on_air, LinkMode.N1D)


async def test_im170a_and_im871a_each_refuse_the_other_stick(tmp_path: Path) -> None:
    im871a_stick = FakeIm170a(tmp_path, name="ttyA", module_type=0x33)
    im170a_stick = FakeIm170a(tmp_path, name="ttyB")
    im871a_stick.plug()
    im170a_stick.plug()
    wrong_n = Im170aSource("n", str(im871a_stick.path), link_modes=(LinkMode.N1A,), **_options())  # type: ignore[arg-type]
    wrong_868 = Im871aSource("t", str(im170a_stick.path), link_modes=(LinkMode.T1,), **_options())  # type: ignore[arg-type]
    running = [Collector(wrong_n.frames()), Collector(wrong_868.frames())]
    try:
        await _eventually(
            lambda: "init_failed" in wrong_n.stats.errors and "init_failed" in wrong_868.stats.errors
        )
        assert wrong_n.stats.last_error is not None and 'type = "im871a"' in wrong_n.stats.last_error
        assert wrong_868.stats.last_error is not None and 'type = "im170a"' in wrong_868.stats.last_error
        assert not im871a_stick.configured.is_set() and not im170a_stick.configured.is_set()
    finally:
        for collector in running:
            await collector.close()


@pytest.mark.parametrize("stick", ["amb3665", "im170a"])
async def test_unplugged_169_mhz_stick_comes_back_by_itself(
    tmp_path: Path, collectors: list[Collector], stick: str
) -> None:
    fake: FakeAmb3665 | FakeIm170a
    if stick == "amb3665":
        fake = FakeAmb3665(tmp_path)
        source: SerialSource = Amb3665Source("n", str(fake.path), link_modes=(LinkMode.N1B,), **_options())  # type: ignore[arg-type]
    else:
        fake = FakeIm170a(tmp_path)
        source = Im170aSource("n", str(fake.path), link_modes=(LinkMode.N1B,), **_options())  # type: ignore[arg-type]
    fake.plug()
    collector = await _start(source, collectors)
    await asyncio.wait_for(fake.configured.wait(), WAIT_S)
    await _eventually(lambda: source.stats.connected)  # the source has read the last reply too
    fake.unplug()
    await _eventually(lambda: not source.stats.connected)
    await asyncio.sleep(0.2)
    fake.plug()
    await asyncio.wait_for(fake.configured.wait(), WAIT_S)
    await _eventually(lambda: source.stats.reconnects == 1)
    tx = n_transmissions(LinkMode.N1B, 1)[0]
    assert fake.hear(tx.on_air, tx.link_mode)
    assert (await collector.next()).data == tx.data
