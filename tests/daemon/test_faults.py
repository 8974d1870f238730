"""What a fault run found in the gateway daemon (issue 16): a full disk, against a real mosquitto."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import pytest

from gateway.billing.meters import MeterEntry, Provisioning
from gateway.billing.state import StateStore
from gateway.daemon.config import GatewayConfig
from gateway.daemon.runner import Daemon, RunOptions
from gateway.frame import LinkMode, ReceivedFrame
from gateway.radio.base import SourceStats
from gateway.uplink.messages import OutboundMessage
from gateway.uplink.outbox import Outbox
from gateway.uplink.topics import MessageKind
from tests.daemon.test_pipeline import encrypted_water_vectors
from tests.servers import Mosquitto


class QueuedRadio:
    """A live radio source: the frames the test puts, until it puts None."""

    name = "radio"
    device_path = None

    def __init__(self) -> None:
        self.stats = SourceStats()
        self.queue: asyncio.Queue[ReceivedFrame | None] = asyncio.Queue()

    async def frames(self) -> AsyncIterator[ReceivedFrame]:
        self.stats.connected = True
        while (frame := await self.queue.get()) is not None:
            yield frame

    async def reinitialise(self) -> None:
        """Nothing to do."""

    async def reopen(self) -> None:
        """Nothing to do."""


async def _collect(
    broker: Mosquitto, topic: str, into: list[dict[str, object]], ready: asyncio.Event
) -> None:
    async with aiomqtt.Client(broker.host, broker.port, identifier="collector") as client:
        await client.subscribe(topic, qos=1)
        ready.set()
        async for message in client.messages:
            assert isinstance(message.payload, bytes)
            into.append(json.loads(message.payload))


async def _until(condition: object, timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.02)


def _fill(outbox: Outbox | None) -> None:
    # SQLite's own limit on the file's size: inserts then fail with SQLITE_FULL ("database or disk is
    # full") exactly as on a full disk, without needing one.
    assert outbox is not None
    pages = outbox._db.execute("PRAGMA page_count").fetchone()[0]
    outbox._db.execute(f"PRAGMA max_page_count={pages}")


def _unfill(outbox: Outbox | None) -> None:
    assert outbox is not None
    outbox._db.execute("PRAGMA max_page_count=1073741823")


async def test_disk_full_keeps_every_reading_logs_once_and_commits_no_state_ahead(
    tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    vectors = encrypted_water_vectors()[:3]
    state = tmp_path / "state"
    Provisioning(state / "meters.toml", state / "keys.toml").add_many(
        (MeterEntry(v.meter_id), v.key) for v in vectors
    )
    radio = QueuedRadio()
    daemon = Daemon(
        GatewayConfig(gateway_id="full", state_dir=state),
        RunOptions(mqtt_url=mosquitto.url),
        sources=[radio],
        printer=lambda line: None,
    )
    caplog.set_level(logging.INFO, "gateway")
    received: list[dict[str, object]] = []
    ready = asyncio.Event()
    collector = asyncio.create_task(_collect(mosquitto, "wmbus/full/meters/+/reading", received, ready))
    await asyncio.wait_for(ready.wait(), 10)
    run = asyncio.create_task(daemon.run())
    await asyncio.wait_for(daemon.ready.wait(), 20)
    start = datetime.now(UTC) - timedelta(hours=40)

    def send(hours: range) -> None:
        for hour in hours:
            for vector in vectors:
                at = start + timedelta(hours=hour)
                radio.queue.put_nowait(ReceivedFrame(vector.telegram, LinkMode.T1, -70.0, at, "radio"))

    send(range(0, 5))
    await _until(lambda: len(received) == 15)
    _fill(daemon.outbox)
    send(range(5, 20))  # the radio keeps going while the disk is full: 45 readings
    await _until(lambda: daemon.pipeline.counters.readings == 60)
    await asyncio.sleep(1.0)  # several flushes fail meanwhile
    # The state is not committed ahead of its publications: on disk it is still at hour 4.
    check = StateStore(state / "state.db")
    try:
        last = check.last_reading(vectors[0].meter_id)
        assert last is not None and last["received_at"] == (start + timedelta(hours=4)).isoformat()
    finally:
        check.close()
    assert daemon.pipeline.counters.errors.get("outbox_write", 0) >= 2  # counted on every failed flush
    _unfill(daemon.outbox)
    send(range(20, 22))
    await _until(lambda: len(received) == 66)
    daemon.stop()
    assert await run == 0
    collector.cancel()
    # Every reading reached the broker once, in order per meter.
    for vector in vectors:
        times = [m["received_at"] for m in received if m["meter_id"] == vector.meter_id]
        assert times == [(start + timedelta(hours=h)).isoformat() for h in range(22)]
    faults = [r for r in caplog.records if r.levelno >= logging.WARNING and "cannot store" in r.getMessage()]
    assert len(faults) == 1 and "full" in faults[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info]  # no traceback per flush
    assert sum("stored again" in r.getMessage() for r in caplog.records) == 1


def _reading(n: int, size: int = 0) -> OutboundMessage:
    meter = f"{n:08d}"
    return OutboundMessage(f"wmbus/gw/meters/{meter}/reading", b"x" * size, False, MessageKind.READING, meter)


def test_a_failed_commit_leaves_the_count_right(tmp_path: Path) -> None:
    # SQLite rolls back by itself when a statement fails on a full disk; the outbox's ROLLBACK then
    # failed ("no transaction is active") and its count stayed inflated, dropping readings needlessly.
    outbox = Outbox(tmp_path / "outbox.db", max_messages=50)
    try:
        outbox.put_many([_reading(n) for n in range(10)])
        _fill(outbox)
        with pytest.raises(sqlite3.OperationalError, match="full"):
            outbox.put_many([_reading(n, size=4000) for n in range(10, 40)])
        assert len(outbox) == 10
        _unfill(outbox)
        outbox.put_many([_reading(n) for n in range(40, 80)])
        assert len(outbox) == 50
        assert sum(outbox.stats().dropped.values()) == 0
    finally:
        outbox.close()
