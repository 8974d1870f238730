"""USB dongle sources against fake dongles on pseudo-terminals speaking the real wire protocols.

Wire formats follow the public descriptions cited in tests/radio/fakes.py: IMST "WMBus HCI
Specification" v1.6 (iM871A), the iU891A-XL HCI (SLIP, RFC 1055), the Amber "AMB8465 Manual" (command
mode), the culfw command reference (CUL), and EN 13757-4 frame formats A and B for CUL's CRCs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.frame import LinkMode, ReceivedFrame
from gateway.radio import amber, imst, iu891a
from gateway.radio.amber import AmberSource
from gateway.radio.base import Backoff, SourceError
from gateway.radio.cul import CulSource
from gateway.radio.imst import Im871aSource
from gateway.radio.iu891a import Iu891aSource
from gateway.radio.serial_source import SerialSource
from tests.radio.fakes import FakeAmber, FakeCul, FakeDongle, FakeIm871a, FakeIu891a, add_crcs_a

# Two telegrams from ../shared/vectors/captures/serial_rtlwmbus_ok.msg (L first, CRCs removed).
TELEGRAM_1 = bytes.fromhex(
    "2e44333003020100071b7a634820252f2f0265840842658308820165950802fb1aae0142fb1aae018201fb1aa9012f"
)
TELEGRAM_2 = bytes.fromhex(
    "5744b40988227711101b7ab20800000265a00842658f088201659f08226589081265a0086265510852652b0902fb1a"
    "ba0142fb1ab0018201fb1abd0122fb1aa90112fb1aba0162fb1aa60152fb1af501066d3b3bb36b2a00"
)
WAIT_S = 5.0


@dataclass(frozen=True)
class Dongle:
    name: str
    fake: Callable[[Path], FakeDongle]
    source: type[SerialSource]
    rssi_raw: int
    rssi_dbm: float
    corrupt: Callable[[FakeDongle, bytes], bytes]  # a telegram frame with its checksum broken


def _corrupt_last(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0x55])


DONGLES = [
    Dongle(
        "im871a",
        FakeIm871a,
        Im871aSource,
        0xCD,  # 205: -20 dBm on the receiver's curve
        -20.0,
        lambda fake, frame: _corrupt_last(
            fake.hci(0x02, 0x03, frame[1:], rssi=0x80, ts=True)  # type: ignore[attr-defined]
        ),
    ),
    Dongle(
        "iu891a",
        FakeIu891a,
        Iu891aSource,
        0xE7,  # signed: -25 dBm
        -25.0,
        lambda fake, frame: _corrupt_last(fake.message(0x09, 0x20, bytes(8) + frame)[:-1]) + b"\xc0",  # type: ignore[attr-defined]
    ),
    Dongle(
        "amb8465",
        lambda path: FakeAmber(path, rssi_enabled=False),
        AmberSource,
        0xE8,  # -24 -> -24/2 - 74 = -86 dBm
        -86.0,
        lambda fake, frame: _corrupt_last(fake.frame(0x03, frame[1:] + b"\x80")),  # type: ignore[attr-defined]
    ),
    Dongle(
        "cul",
        FakeCul,
        CulSource,
        0x10,  # 16 -> 8 - 74 = -66 dBm
        -66.0,
        lambda fake, frame: (
            b"b" + (bytes([frame[0]]) + frame[1:10] + b"\x00\x00" + frame[10:]).hex().encode() + b"3010\r\n"
        ),
    ),
]


class Collector:
    """Runs ``source.frames()`` in a task and queues what it yields."""

    def __init__(self, frames: AsyncIterator[ReceivedFrame]) -> None:
        self.queue: asyncio.Queue[ReceivedFrame] = asyncio.Queue()
        self._frames = frames
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for frame in self._frames:
            await self.queue.put(frame)

    async def next(self) -> ReceivedFrame:
        return await asyncio.wait_for(self.queue.get(), WAIT_S)

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def _eventually(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT_S):
        while not condition():
            await asyncio.sleep(0.01)


def _source(dongle: Dongle, fake: FakeDongle, **options: object) -> SerialSource:
    return dongle.source(
        dongle.name,
        str(fake.path),
        backoff=Backoff(initial_s=0.02, maximum_s=0.1),
        reply_timeout_s=0.5,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture(params=DONGLES, ids=lambda d: d.name)
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Dongle, FakeDongle]]:
    dongle: Dongle = request.param
    fake = dongle.fake(tmp_path)
    fake.plug()
    yield dongle, fake
    fake.unplug()


async def test_initialises_and_yields_telegrams_with_rssi(rig: tuple[Dongle, FakeDongle]) -> None:
    dongle, fake = rig
    source = _source(dongle, fake)
    collector = Collector(source.frames())
    try:
        await asyncio.wait_for(fake.configured.wait(), WAIT_S)
        fake.send_telegram(TELEGRAM_1, rssi_raw=dongle.rssi_raw)
        fake.send_telegram(TELEGRAM_2, rssi_raw=dongle.rssi_raw)
        first, second = await collector.next(), await collector.next()
    finally:
        await collector.close()
    assert (first.data, second.data) == (TELEGRAM_1, TELEGRAM_2)
    assert first.rssi_dbm == pytest.approx(dongle.rssi_dbm)
    assert first.source == dongle.name and first.link_mode is LinkMode.T1
    assert source.stats.frames == 2 and source.stats.error_total == 0
    assert source.stats.last_frame_at == second.received_at


async def test_noise_and_broken_frames_are_counted_and_skipped(rig: tuple[Dongle, FakeDongle]) -> None:
    dongle, fake = rig
    source = _source(dongle, fake)
    collector = Collector(source.frames())
    try:
        await asyncio.wait_for(fake.configured.wait(), WAIT_S)
        fake.inject(b"\x00\x13\x37garbage\x42" if dongle.name != "cul" else b"\x00\x13garbage\r\n")
        fake.inject(dongle.corrupt(fake, TELEGRAM_1))
        fake.send_telegram(TELEGRAM_2, rssi_raw=dongle.rssi_raw)
        frame = await collector.next()
    finally:
        await collector.close()
    assert frame.data == TELEGRAM_2
    assert source.stats.frames == 1
    assert source.stats.error_total >= 1  # the broken frame
    assert source.stats.garbage_bytes > 0


async def test_unplug_backs_off_and_resumes_by_itself(rig: tuple[Dongle, FakeDongle]) -> None:
    dongle, fake = rig
    source = _source(dongle, fake)
    collector = Collector(source.frames())
    try:
        await asyncio.wait_for(fake.configured.wait(), WAIT_S)
        fake.send_telegram(TELEGRAM_1)
        await collector.next()
        fake.unplug()
        await _eventually(lambda: not source.stats.connected)
        await _eventually(lambda: source.stats.errors.get("open_failed", 0) >= 1)  # retried while gone
        fake.plug()
        await asyncio.wait_for(fake.configured.wait(), WAIT_S)
        fake.send_telegram(TELEGRAM_2)
        frame = await collector.next()
    finally:
        await collector.close()
    assert frame.data == TELEGRAM_2
    assert source.stats.reconnects == 1
    assert source.stats.errors.get("read_failed", 0) == 1


async def test_reinitialise_and_reopen(rig: tuple[Dongle, FakeDongle]) -> None:
    dongle, fake = rig
    source = _source(dongle, fake)
    collector = Collector(source.frames())
    try:
        await asyncio.wait_for(fake.configured.wait(), WAIT_S)
        before = len(fake.commands)
        await source.reinitialise()
        assert len(fake.commands) > before

        fake.responding = False  # port stays open, the dongle is mute
        with pytest.raises(SourceError):
            await source.reinitialise()
        assert source.stats.errors["init_failed"] == 1

        fake.responding = True
        fake.configured.clear()
        await source.reopen()
        await asyncio.wait_for(fake.configured.wait(), WAIT_S)
        await _eventually(lambda: source.stats.connected)
        fake.send_telegram(TELEGRAM_1)
        assert (await collector.next()).data == TELEGRAM_1
    finally:
        await collector.close()
    assert source.stats.reconnects == 1


async def test_missing_device_is_retried_not_fatal(tmp_path: Path) -> None:
    fake = FakeIm871a(tmp_path)
    source = _source(DONGLES[0], fake)
    collector = Collector(source.frames())
    try:
        await _eventually(lambda: source.stats.errors.get("open_failed", 0) >= 2)
        fake.plug()
        await asyncio.wait_for(fake.configured.wait(), WAIT_S)
        fake.send_telegram(TELEGRAM_1)
        assert (await collector.next()).data == TELEGRAM_1
    finally:
        await collector.close()
        fake.unplug()


async def _configure(fake: FakeDongle, source: SerialSource) -> Collector:
    collector = Collector(source.frames())
    await asyncio.wait_for(fake.configured.wait(), WAIT_S)
    return collector


async def test_im871a_sets_t1_c1_with_rssi_and_timestamp(tmp_path: Path) -> None:
    fake = FakeIm871a(tmp_path)
    fake.plug()
    source = _source(DONGLES[0], fake, link_modes=(LinkMode.T1, LinkMode.C1))
    collector = await _configure(fake, source)
    try:
        fake.send_telegram(TELEGRAM_1)
        frame = await collector.next()
    finally:
        await collector.close()
        fake.unplug()
    # SetConfig: volatile, IIFlag1 link mode, C1/T1 combined, IIFlag2 RSSI+timestamp, both on.
    assert (0x01, 0x03, bytes([0x00, 0x02, 0x0A, 0x30, 0x01, 0x01])) in fake.commands
    assert [c[:2] for c in fake.commands] == [(1, 0x01), (1, 0x0F), (1, 0x13), (1, 0x03)]
    assert frame.link_mode is LinkMode.UNKNOWN  # the dongle does not say which of the two
    assert source.device_info is not None and source.device_info.firmware_version == 0x15  # type: ignore[attr-defined]


async def test_amber_enables_rssi_once_and_sets_mode_volatile(tmp_path: Path) -> None:
    fake = FakeAmber(tmp_path, rssi_enabled=False)
    fake.plug()
    source = _source(DONGLES[2], fake, link_modes=(LinkMode.C1,))
    collector = await _configure(fake, source)
    try:
        await source.reinitialise()
    finally:
        await collector.close()
        fake.unplug()
    assert fake.nvm[0x45] == 1 and fake.resets == 1  # written and restarted only the first time
    assert fake.mode == 0x0E  # C2-Other: the collector's receive mode for C1 meters
    assert [c for c, _ in fake.commands].count(0x09) == 1


async def test_cul_format_b_and_link_crc_errors(tmp_path: Path) -> None:
    fake = FakeCul(tmp_path)
    fake.plug()
    source = _source(DONGLES[3], fake, link_modes=(LinkMode.C1,))
    collector = await _configure(fake, source)
    try:
        fake.send_telegram(TELEGRAM_1, rssi_raw=0xF0, format_b=True)
        frame = await collector.next()
        damaged = bytearray(add_crcs_a(TELEGRAM_2))
        damaged[20] ^= 0x01  # one bit flipped on air
        fake.inject(b"b" + bytes(damaged).hex().encode() + b"3080\r\n")
        fake.send_telegram(TELEGRAM_2)
        second = await collector.next()
    finally:
        await collector.close()
        fake.unplug()
    assert fake.commands[:3] == ["V", "X21", "brc"]
    assert frame.data == TELEGRAM_1 and frame.link_mode is LinkMode.C1
    assert frame.rssi_dbm == pytest.approx(-16 / 2 - 74)
    assert second.data == TELEGRAM_2
    assert source.stats.errors == {"link_crc": 1}


@pytest.mark.parametrize(
    ("mode_code", "t1", "both"),
    [
        (amber.receive_mode, amber.AmberMode.T2_OTHER, amber.AmberMode.C2_T2_OTHER),
        (imst.link_mode_code, imst.Im871aLinkMode.T1, imst.Im871aLinkMode.C1_T1),
        (iu891a.link_mode_code, iu891a.Iu891aLinkMode.T, iu891a.Iu891aLinkMode.C_T),
    ],
)
def test_each_dongle_maps_its_link_modes_and_refuses_pairs_it_cannot_hear(
    mode_code: Callable[[tuple[LinkMode, ...]], object], t1: object, both: object
) -> None:
    assert mode_code((LinkMode.T1,)) == t1
    assert mode_code((LinkMode.C1, LinkMode.T1)) == mode_code((LinkMode.T1, LinkMode.C1)) == both
    with pytest.raises(SourceError, match=r"cannot listen to S1\+T1 \(it can: .*C1\+T1"):
        mode_code((LinkMode.S1, LinkMode.T1))
