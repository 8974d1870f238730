"""Broker down, store down, publisher SIGKILLed: nothing lost, nothing stored twice."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from gateway.uplink.broker import BrokerSettings
from gateway.uplink.messages import publication_message
from gateway.uplink.mqtt import MqttPublisher
from gateway.uplink.outbox import Outbox
from gateway.uplink.topics import Topics
from tests.ingest.test_ingester import ingesting, messages_of, publish_raw
from tests.servers import Mosquitto, VictoriaMetrics
from tests.uplink.helpers import Collector, reading_publication

TOPICS = Topics("gw1")
METERS = ("50000001", "50000002", "50000003")


@contextlib.asynccontextmanager
async def publishing(
    outbox: Outbox, broker: Mosquitto, backlog_rate_per_s: float = 1000.0
) -> AsyncIterator[MqttPublisher]:
    publisher = MqttPublisher(
        outbox,
        BrokerSettings(broker.url, client_id="gw1"),
        TOPICS,
        reconnect_max_s=0.5,
        backlog_rate_per_s=backlog_rate_per_s,
    )
    task = asyncio.create_task(publisher.run())
    try:
        yield publisher
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_broker_restart_under_traffic_loses_nothing_and_stores_once(
    mosquitto: Mosquitto, victoria_metrics: VictoriaMetrics, tmp_path: Path
) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    count = 60
    async with (
        ingesting(mosquitto, victoria_metrics, retry_max_s=0.5) as ingester,
        publishing(outbox, mosquitto) as publisher,
    ):
        await asyncio.wait_for(publisher.connected_event.wait(), 5)
        for n in range(count):
            for meter in METERS:
                outbox.put(publication_message(TOPICS, reading_publication(meter, n)))
            if n == count // 3:
                mosquitto.stop()
            if n == 2 * count // 3:
                assert len(outbox) > 0  # the outbox held traffic while the broker was away
                mosquitto.start()
            await asyncio.sleep(0.01)
        try:
            async with asyncio.timeout(20):
                while len(outbox) or ingester.stats.points < 2 * count * len(METERS):
                    await asyncio.sleep(0.05)
                    outbox.flush_acks()
        except TimeoutError:
            raise AssertionError(f"outbox {len(outbox)}, {publisher.stats}, {ingester.stats}") from None
    assert publisher.stats.connects >= 2 and ingester.stats.connects >= 2
    for meter in METERS:
        samples = victoria_metrics.samples(f'wmbus_reading_total_m3{{meter="{meter}"}}')
        values = sorted(value for _, value, _ in samples)
        assert values == [round(100 + n * 0.001, 3) for n in range(count)], meter


async def test_store_down_keeps_messages_with_the_broker(
    mosquitto: Mosquitto, victoria_metrics: VictoriaMetrics
) -> None:
    async with ingesting(mosquitto, victoria_metrics, retry_max_s=0.3) as ingester:
        victoria_metrics.stop()
        await publish_raw(
            mosquitto, messages_of("gwA", [reading_publication("60000001", n) for n in range(50)])
        )
        async with asyncio.timeout(10):
            while ingester.stats.write_failures < 2:
                await asyncio.sleep(0.02)
        assert ingester.stats.points == 0
        victoria_metrics.start()
        async with asyncio.timeout(15):
            while ingester.stats.points < 100:
                await asyncio.sleep(0.05)
    assert ingester.stats.write_failures >= 2
    assert ingester.stats.last_error is None  # cleared once the store accepts writes again
    samples = victoria_metrics.samples('wmbus_reading_total_m3{meter="60000001"}')
    assert sorted(value for _, value, _ in samples) == [round(100 + n * 0.001, 3) for n in range(50)]


async def test_ingester_killed_before_ack_gets_messages_again(
    mosquitto: Mosquitto, victoria_metrics: VictoriaMetrics
) -> None:
    # Store down, so nothing is acknowledged; the ingester then goes away and comes back.
    async with ingesting(mosquitto, victoria_metrics, client_id="ingest-k", retry_max_s=0.3) as ingester:
        victoria_metrics.stop()
        await publish_raw(
            mosquitto, messages_of("gwA", [reading_publication("60000002", n) for n in range(20)])
        )
        async with asyncio.timeout(10):
            while ingester.stats.write_failures < 1:
                await asyncio.sleep(0.02)
    victoria_metrics.start()
    async with ingesting(mosquitto, victoria_metrics, client_id="ingest-k") as ingester:
        async with asyncio.timeout(15):
            while ingester.stats.points < 40:
                await asyncio.sleep(0.05)
    samples = victoria_metrics.samples('wmbus_reading_total_m3{meter="60000002"}')
    assert sorted(value for _, value, _ in samples) == [round(100 + n * 0.001, 3) for n in range(20)]


PRODUCER = """
import asyncio, sys
from gateway.uplink.broker import BrokerSettings
from gateway.uplink.messages import publication_message
from gateway.uplink.mqtt import MqttPublisher
from gateway.uplink.outbox import Outbox
from gateway.uplink.topics import Topics
from tests.uplink.helpers import reading_publication

async def main(path, url, start, stop):
    topics = Topics("gw1")
    outbox = Outbox(path)
    publisher = MqttPublisher(outbox, BrokerSettings(url, client_id="gw1"), topics, reconnect_max_s=0.5)
    task = asyncio.create_task(publisher.run())
    for n in range(start, stop):
        outbox.put(publication_message(topics, reading_publication("70000001", n)))
        print(n, flush=True)
        await asyncio.sleep(0.002)
    while len(outbox):
        outbox.flush_acks()
        await asyncio.sleep(0.02)
    print("done", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
"""


async def test_publisher_sigkilled_mid_stream_loses_nothing(mosquitto: Mosquitto, tmp_path: Path) -> None:
    total = 400
    collector = Collector(mosquitto.host, mosquitto.port, "wmbus/gw1/meters/+/reading")
    collecting = asyncio.create_task(collector.run())
    await asyncio.wait_for(collector.ready.wait(), 5)
    path = str(tmp_path / "outbox.db")
    root = str(Path(__file__).resolve().parents[2])

    def start(first: int) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", PRODUCER, path, mosquitto.url, str(first), str(total)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=root,
        )

    first = start(0)
    assert first.stdout is not None
    last_put = -1
    for raw in first.stdout:
        last_put = int(raw)
        if last_put >= 150:
            break
    first.kill()  # SIGKILL mid-stream: whatever was put must still arrive
    first.wait()
    second = start(last_put + 1)
    try:
        assert second.stdout is not None
        out = second.stdout

        def until_done() -> bool:
            return any(line.strip() == "done" for line in out)

        assert await asyncio.wait_for(asyncio.to_thread(until_done), 30)
        await collector.wait_for(total)
    finally:
        second.kill()
        second.wait()
        collecting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await collecting
    received = {message["total_m3"] for _, message, _ in collector.messages}
    assert received == {round(100 + n * 0.001, 3) for n in range(total)}
