"""The iU891A-XL in the states a stick is found in, and end to end from its configuration to a reading.

The fake (tests/radio/fakes.py) follows IMST's WM-Bus gateway HCI specification: factory default
configuration with the receiver off, an address filter left on by another tool, a reboot by itself.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from gateway.billing.meters import MeterEntry, Provisioning
from gateway.clock import SystemClock
from gateway.daemon.config import SourceKind, parse_config
from gateway.daemon.runner import Daemon
from gateway.daemon.sources import build_source
from gateway.frame import LinkMode
from gateway.publication import Publication
from gateway.radio.base import Backoff
from gateway.radio.iu891a import Iu891aSource
from tests.daemon.test_pipeline import encrypted_water_vectors
from tests.radio.fakes import FakeIu891a
from tests.radio.test_dongles import TELEGRAM_1, TELEGRAM_2, WAIT_S, Collector

FILTER = FakeIu891a.OPTION_ADDRESS_FILTER
RX_NOTIFY = FakeIu891a.OPTION_RX_NOTIFY


def _source(fake: FakeIu891a, modes: tuple[LinkMode, ...] = (LinkMode.T1,)) -> Iu891aSource:
    return Iu891aSource(
        "iu", str(fake.path), link_modes=modes, backoff=Backoff(0.02, 0.1), reply_timeout_s=0.5
    )


@pytest.mark.parametrize(
    ("found_options", "found_as"),
    [(0x000E, "factory default, receiver off"), (0x000F, "address filter on"), (0x000C, "Rx notify off")],
)
async def test_every_state_the_stick_is_found_in_ends_up_forwarding_every_telegram(
    tmp_path: Path, found_options: int, found_as: str
) -> None:
    fake = FakeIu891a(tmp_path, default_options=found_options)
    fake.plug()
    fake.send_telegram(TELEGRAM_1)  # before the gateway configured it: not heard or not forwarded
    assert fake.dropped == 1, found_as
    source = _source(fake)
    collector = Collector(source.frames())
    try:
        await asyncio.wait_for(fake.configured.wait(), WAIT_S)
        fake.send_telegram(TELEGRAM_2, rssi_raw=0xB5)  # a meter not in the stick's device list
        frame = await collector.next()
    finally:
        await collector.close()
        fake.unplug()
    assert frame.data == TELEGRAM_2 and frame.rssi_dbm == -75.0
    assert fake.link_mode == 2  # T mode
    assert fake.options & RX_NOTIFY and not fake.options & FILTER, found_as
    assert source.stats.error_total == 0  # the boot notice before the start-up is not an error


async def test_a_stick_that_reboots_by_itself_is_configured_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeIu891a(tmp_path)
    fake.plug()
    source = _source(fake, (LinkMode.C1, LinkMode.T1))
    collector = Collector(source.frames())
    try:
        await asyncio.wait_for(fake.configured.wait(), WAIT_S)
        async with asyncio.timeout(WAIT_S):
            while not source.stats.connected:  # its start-up is over
                await asyncio.sleep(0.01)
        fake.reboot()  # receiver off again, start-up indication sent
        fake.send_telegram(TELEGRAM_1)
        assert fake.dropped == 1
        await asyncio.wait_for(fake.configured.wait(), WAIT_S)
        fake.send_telegram(TELEGRAM_2)
        frame = await collector.next()
    finally:
        await collector.close()
        fake.unplug()
    assert frame.data == TELEGRAM_2
    assert fake.link_mode == 3  # C/T
    assert "the stick restarted by itself; configuring it again" in caplog.text
    assert source.stats.reconnects == 0  # the port stayed open


def test_type_iu891a_is_built_from_the_configuration(tmp_path: Path) -> None:
    config = parse_config('[[radio]]\ntype = "iu891a"\ndevice = "/dev/wmbus-iu891a"\nlink_mode = "C1"\n')
    (radio,) = config.sources
    assert radio.kind is SourceKind.IU891A
    source = build_source(radio, SystemClock())
    assert isinstance(source, Iu891aSource)
    assert source.device_path == "/dev/wmbus-iu891a" and source.link_modes == (LinkMode.C1,)


def test_end_to_end_from_the_configuration_file_through_the_pseudo_terminal(tmp_path: Path) -> None:
    vector = encrypted_water_vectors()[0]
    state = tmp_path / "state"
    Provisioning(state / "meters.toml", state / "keys.toml").add(MeterEntry(vector.meter_id), vector.key)
    published: list[Publication] = []

    async def scenario() -> None:
        fake = FakeIu891a(tmp_path)
        fake.plug()
        text = f'[gateway]\nstate_dir = "{state}"\n\n[[radio]]\ntype = "iu891a"\ndevice = "{fake.path}"\n'
        config_path = tmp_path / "gateway.toml"
        config_path.write_text(text)
        daemon = Daemon(
            parse_config(text, config_path), printer=lambda line: None, on_publication=published.append
        )
        run = asyncio.create_task(daemon.run())
        try:
            await asyncio.wait_for(fake.configured.wait(), WAIT_S)
            fake.send_telegram(vector.telegram, rssi_raw=0xC4)  # -60 dBm
            async with asyncio.timeout(WAIT_S):
                while not any(p.kind == "reading" for p in published):
                    await asyncio.sleep(0.01)
        finally:
            daemon.stop()
            assert await run == 0
            fake.unplug()

    asyncio.run(scenario())
    reading = next(p for p in published if p.kind == "reading")
    assert reading.meter_id == vector.meter_id
    assert reading.payload.get("rssi_dbm") == -60.0


@pytest.mark.parametrize("on_air_l", [False, True], ids=["L rewritten", "L as on air"])
async def test_each_telegram_carries_the_mode_it_was_heard_in(tmp_path: Path, on_air_l: bool) -> None:
    fake = FakeIu891a(tmp_path)
    fake.plug()
    source = _source(fake, (LinkMode.C1, LinkMode.T1))
    long_telegram = (
        bytes([len(TELEGRAM_2) + 80 - 1]) + TELEGRAM_2[1:] + bytes(80)
    )  # past format B's first part
    collector = Collector(source.frames())
    try:
        await asyncio.wait_for(fake.configured.wait(), WAIT_S)
        fake.send_telegram(TELEGRAM_1, sent_in="T")
        fake.send_telegram(TELEGRAM_2, sent_in="C")
        fake.send_telegram(TELEGRAM_1, sent_in="C", format_b=True, on_air_l=on_air_l)
        fake.send_telegram(long_telegram, sent_in="C", format_b=True, on_air_l=on_air_l)
        frames = [await collector.next() for _ in range(4)]
    finally:
        await collector.close()
        fake.unplug()
    assert [(frame.data, frame.link_mode) for frame in frames] == [
        (TELEGRAM_1, LinkMode.T1),
        (TELEGRAM_2, LinkMode.C1),
        (TELEGRAM_1, LinkMode.C1),  # L = length - 1, as from every source
        (long_telegram, LinkMode.C1),
    ]
    assert source.stats.error_total == 0


async def test_a_stick_listening_to_t1_alone_stamps_t1_and_hears_no_c1(tmp_path: Path) -> None:
    fake = FakeIu891a(tmp_path)
    fake.plug()
    source = _source(fake, (LinkMode.T1,))
    collector = Collector(source.frames())
    try:
        await asyncio.wait_for(fake.configured.wait(), WAIT_S)
        fake.send_telegram(TELEGRAM_2, sent_in="C")
        fake.send_telegram(TELEGRAM_1, sent_in="T")
        frame = await collector.next()
    finally:
        await collector.close()
        fake.unplug()
    assert (frame.data, frame.link_mode) == (TELEGRAM_1, LinkMode.T1)
    assert fake.dropped == 1


async def test_a_stick_left_in_scan_mode_is_taken_out_of_it_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.radio")
    fake = FakeIu891a(tmp_path)
    fake.plug()
    fake.scan_mode = True  # another tool scanned with the stick and let it run
    source = _source(fake)
    collector = Collector(source.frames())
    try:
        await asyncio.wait_for(fake.configured.wait(), WAIT_S)
        fake.send_telegram(TELEGRAM_1)  # comes as a scan result: its header only
        async with asyncio.timeout(WAIT_S):
            while fake.scan_mode:
                await asyncio.sleep(0.01)
        fake.send_telegram(TELEGRAM_2)
        frame = await collector.next()
        async with asyncio.timeout(WAIT_S):  # configured again after leaving scan mode
            while "scan mode off, telegrams come whole again" not in caplog.text:
                await asyncio.sleep(0.01)
    finally:
        await collector.close()
        fake.unplug()
    assert frame.data == TELEGRAM_2 and source.stats.frames == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        f"radio iu ({fake.path}): the stick is in scan mode (left by another tool; telegrams"
        " come as headers only): turning it off"
    ]
    assert "scan mode off, telegrams come whole again" in caplog.text
