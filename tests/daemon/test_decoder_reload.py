"""The daemon loads the decoder folder at start and again on reload (SIGHUP), one log line each time; a
broken decoder file never stops it nor changes the other decoders."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.billing.meters import MeterEntry, Provisioning
from gateway.clock import SystemClock
from gateway.daemon.config import GatewayConfig
from gateway.daemon.runner import Daemon
from gateway.decoders import REGISTRY
from gateway.frame import LinkMode, ReceivedFrame
from gateway.publication import Publication
from gateway.radio.base import SourceStats
from tests.decoders.test_decoder_files import XYZ, XYZ_FILE

METER = "12345678"  # the A field of the XYZ telegram


class Antenna:
    """A live radio source fed by the test, one frame at a time."""

    name = "antenna"
    device_path = None

    def __init__(self) -> None:
        self.stats = SourceStats()
        self.queue: asyncio.Queue[ReceivedFrame] = asyncio.Queue()

    async def frames(self) -> AsyncIterator[ReceivedFrame]:
        while True:
            yield await self.queue.get()

    def send(self, access_number: int) -> None:
        body = bytearray.fromhex(XYZ)
        body[10] = access_number  # a new telegram for the dedup
        data = bytes([len(body)]) + bytes(body)
        self.queue.put_nowait(ReceivedFrame(data, LinkMode.T1, -70.0, datetime.now(UTC), self.name))

    async def reinitialise(self) -> None:
        """Nothing to do."""

    async def reopen(self) -> None:
        """Nothing to do."""


@pytest.fixture
def global_registry() -> Iterator[None]:
    """The daemon adds decoder files to the process's registry: leave it as it was found."""
    yield
    REGISTRY.replace_added(())


def test_decoder_files_load_at_start_and_reload_without_harm(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, global_registry: None
) -> None:
    state, folder = tmp_path / "state", tmp_path / "decoders.d"
    folder.mkdir()
    xyz = folder / "xyz.toml"
    xyz.write_text(XYZ_FILE)
    Provisioning(state / "meters.toml", state / "keys.toml").add(MeterEntry(METER), None)
    antenna = Antenna()
    readings: list[Publication] = []

    def lines_of(level: int) -> list[str]:
        messages = (r.getMessage() for r in caplog.records if r.levelno == level)
        return [message for message in messages if message.startswith("decoder files")]

    async def decoded(access_number: int) -> str:
        count = len(readings)
        antenna.send(access_number)
        async with asyncio.timeout(10):
            while len(readings) == count:
                await asyncio.sleep(0.01)
        return str(readings[-1].payload["decoder"])

    async def scenario() -> None:
        daemon = Daemon(
            GatewayConfig(state_dir=state, decoders_dir=folder),
            sources=[antenna],
            clock=SystemClock(),
            printer=lambda line: None,
            on_publication=lambda p: readings.append(p) if p.kind == "reading" else None,
        )
        run = asyncio.create_task(daemon.run())
        assert await decoded(1) == "xyz-water"
        assert lines_of(logging.INFO) == [f"decoder files in {folder}: 1 loaded: xyz-water (xyz.toml)"]

        xyz.write_text(XYZ_FILE.replace("[tpl_bits]", "[tpl_bits]\nODD = 0x01"))  # line 21: not bits 5-7
        (folder / "abc.toml").write_text('name = "abc-water"\n[[match]]\nmanufacturer = "ABC"\n')
        daemon.reload()
        (warning,) = lines_of(logging.WARNING)
        assert warning.startswith(f"decoder files in {folder}: 2 loaded: abc-water (abc.toml), xyz-water")
        assert f"1 refused: {xyz}:21: tpl_bits.ODD: mask 0x1 is outside" in warning
        assert warning.endswith("(its previous version stays)")
        assert await decoded(2) == "xyz-water"

        xyz.unlink()
        daemon.reload()
        assert lines_of(logging.INFO)[-1] == f"decoder files in {folder}: 1 loaded: abc-water (abc.toml)"
        assert await decoded(3) == "oms"
        daemon.stop()
        assert await run == 0

    with caplog.at_level(logging.INFO, logger="gateway"):
        asyncio.run(scenario())
    assert [reading.meter_id for reading in readings] == [METER] * 3
