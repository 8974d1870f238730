"""A replay waits for the broker instead of dropping, and exits once everything is delivered (issue 16,
item 3); in live operation the drop policy acts, and says so in one WARNING line. Real mosquitto."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.billing.meters import MeterEntry, Provisioning
from gateway.clock import ManualClock, SystemClock
from gateway.daemon.config import GatewayConfig
from gateway.daemon.runner import Daemon, DeliveryProgress, RunOptions
from gateway.frame import ReceivedFrame
from gateway.publication import Publication
from gateway.radio.base import SourceStats
from gateway.radio.simulator import SimulatedFleet
from gateway.uplink.outbox import Outbox
from tests.daemon.test_e2e import rtl_wmbus_line
from tests.servers import Mosquitto
from tests.uplink.helpers import Collector

START = datetime(2026, 9, 1, tzinfo=UTC)


def provision(fleet: SimulatedFleet, state: Path) -> None:
    keys = fleet.keys()
    Provisioning(state / "meters.toml", state / "keys.toml").add_many(
        (MeterEntry(meter.meter_id), keys.get(meter.meter_id)) for meter in fleet.meters
    )


def six_meters_45_days(tmp_path: Path) -> tuple[SimulatedFleet, Path]:
    """About 900 telegrams of six meters from 1 September, September's month end among them."""
    fleet = SimulatedFleet(
        seed=3, meter_count=6, clock=ManualClock(START), start=START, interval_scale=80, fast_meters=0
    )
    recording = tmp_path / "air.msg"
    sent = fleet.transmissions(START + timedelta(days=45))
    recording.write_text("".join(rtl_wmbus_line(tx.at, tx.data, tx.meter_id) + "\n" for tx in sent))
    return fleet, recording


def test_a_replay_larger_than_the_outbox_bound_delivers_everything_before_exit(
    tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    # Six meters over 45 days: about 900 readings and September's indexes through an outbox of 100.
    fleet, recording = six_meters_45_days(tmp_path)
    state = tmp_path / "state"
    provision(fleet, state)
    config = GatewayConfig(gateway_id="e2e", state_dir=state, outbox_max_messages=100)
    published: list[Publication] = []
    progress: list[DeliveryProgress] = []
    collector = Collector(mosquitto.host, mosquitto.port, "wmbus/e2e/meters/#")
    daemon = Daemon(
        config,
        RunOptions(replay=recording, mqtt_url=mosquitto.url),
        printer=lambda line: None,
        on_publication=published.append,
        on_delivery=progress.append,
    )

    async def scenario() -> None:
        listening = asyncio.create_task(collector.run())
        await asyncio.wait_for(collector.ready.wait(), 10)
        assert await daemon.run() == 0
        # Everything was acknowledged before run() returned; the broker forwards as it acknowledges.
        await collector.wait_for(len(published), timeout_s=10)
        listening.cancel()

    caplog.set_level(logging.INFO)
    asyncio.run(scenario())
    readings = [p for p in published if p.kind == "reading"]
    monthly = [p for p in published if p.kind == "monthly"]
    assert len(readings) > 2 * config.outbox_max_messages and len(monthly) >= 6
    outbox = Outbox(config.outbox_path)
    try:
        assert len(outbox) == 0 and outbox.stats().dropped == {}  # nothing dropped, nothing left
    finally:
        outbox.close()
    heard: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for topic, payload, _ in collector.messages:
        what = str(payload.get("received_at", payload.get("month")))
        heard[topic.split("/")[4]].append((payload["meter_id"], what))
    assert sorted(heard["reading"]) == sorted((p.meter_id, p.payload["received_at"]) for p in readings)
    assert sorted(heard["monthly"]) == sorted((p.meter_id, p.payload["month"]) for p in monthly)
    # each meter's readings arrived in the order they were read
    by_meter: dict[str, list[str]] = defaultdict(list)
    for meter_id, received_at in heard["reading"]:
        by_meter[meter_id].append(received_at)
    assert all(times == sorted(times) for times in by_meter.values())
    assert progress and progress[-1].finished and progress[-1].pending == 0
    assert daemon.delivery_note is not None and daemon.delivery_note.startswith("all delivered: ")
    assert f"{len(readings):,} readings" in daemon.delivery_note
    assert "nothing left in the outbox" in daemon.summary()
    assert not [r for r in caplog.records if "outbox full" in r.getMessage()]


def test_replay_no_wait_leaves_the_rest_in_the_outbox(tmp_path: Path, mosquitto: Mosquitto) -> None:
    fleet, recording = six_meters_45_days(tmp_path)
    state = tmp_path / "state"
    provision(fleet, state)
    config = GatewayConfig(gateway_id="e2e", state_dir=state, outbox_max_messages=100_000)
    progress: list[DeliveryProgress] = []
    mosquitto.stop()  # nothing is taken: without waiting the replay ends at once, all kept
    daemon = Daemon(
        config,
        RunOptions(replay=recording, mqtt_url=mosquitto.url, wait_for_delivery=False),
        printer=lambda line: None,
        on_delivery=progress.append,
    )
    assert asyncio.run(daemon.run()) == 0
    assert progress == [] and daemon.delivery_note is None
    outbox = Outbox(config.outbox_path)
    try:
        assert len(outbox) == daemon.pipeline.counters.publications > 0
    finally:
        outbox.close()


class LiveSource:
    """A live radio: the frames given at once (a burst the radio cannot hold back), then more on request."""

    name = "live"
    kind = "live"
    device_path = None

    def __init__(self, frames: list[ReceivedFrame]) -> None:
        self.stats = SourceStats()
        self.queue: asyncio.Queue[ReceivedFrame | None] = asyncio.Queue()
        for frame in frames:
            self.queue.put_nowait(frame)
        self.stats.connected = True

    async def frames(self) -> AsyncIterator[ReceivedFrame]:
        while (frame := await self.queue.get()) is not None:
            self.stats.count_frame(frame.received_at)
            yield frame

    async def reinitialise(self) -> None:
        """Nothing to do."""

    async def reopen(self) -> None:
        """Nothing to do."""


def test_live_drops_say_how_many_of_what_in_one_warning_and_the_recovery_in_one_more(
    tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    begin = now - timedelta(days=1)
    fleet = SimulatedFleet(
        seed=4, meter_count=8, clock=ManualClock(begin), start=begin, interval_scale=10, fast_meters=0
    )
    frames = [
        ReceivedFrame(tx.data, tx.link_mode, -70.0, tx.at, "live") for tx in fleet.transmissions(now)
    ][:120]
    state = tmp_path / "state"
    provision(fleet, state)
    config = GatewayConfig(gateway_id="live", state_dir=state, outbox_max_messages=20)
    source = LiveSource(frames[:100])
    mosquitto.stop()  # the broker is away: the outbox fills and the drop policy acts
    daemon = Daemon(
        config,
        RunOptions(mqtt_url=mosquitto.url),
        sources=[source],
        clock=SystemClock(),
        printer=lambda line: None,
    )

    def drop_lines() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.getMessage().startswith("outbox ")]

    async def scenario() -> None:
        run = asyncio.create_task(daemon.run())
        async with asyncio.timeout(20):
            while source.queue.qsize() or daemon.pipeline.counters.frames < 100:
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.5)  # a few more flushes: no further line within the minute
        assert daemon.outbox is not None
        dropped = daemon.outbox.stats().dropped
        lines = drop_lines()
        assert [r.levelno for r in lines] == [logging.WARNING]
        message = lines[0].getMessage()
        assert message.startswith("outbox full (20 messages pending, bound 20): dropped ")
        assert f"dropped {dropped['reading']:,} readings" in message or "so far" in message
        assert "monthly indexes, events and status are kept" in message
        mosquitto.start()  # the broker is back: the outbox drains, the next put says so
        async with asyncio.timeout(30):
            while len(daemon.outbox) > 0:
                await asyncio.sleep(0.05)
        for frame in frames[100:103]:
            source.queue.put_nowait(frame)
        async with asyncio.timeout(10):
            while len(drop_lines()) < 2:
                await asyncio.sleep(0.02)
        recovery = drop_lines()[1].getMessage()
        assert recovery.startswith("outbox below its bound again")
        total = daemon.outbox.stats().dropped
        assert f"{total['reading']:,} readings dropped while it was full" in recovery
        daemon.stop()
        source.queue.put_nowait(None)
        assert await run == 0

    asyncio.run(scenario())
