"""Uplink benchmark: outbox put -> broker PUBACK latency, and ingester throughput into VictoriaMetrics.

Starts its own mosquitto and victoria-metrics on free loopback ports (as the tests do) and prints
figures. Targets: p99 latency under 20 ms on loopback; at least 20,000 points/s for one ingester.

    .venv/bin/python -m bench.uplink [--messages 3000] [--rate 500] [--ingest 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt

from gateway.ingest.ingester import Ingester, IngestSettings
from gateway.ingest.sink import InfluxSink
from gateway.reading import Reading
from gateway.uplink.broker import BrokerSettings, Protocol
from gateway.uplink.messages import OutboundMessage, encode
from gateway.uplink.mqtt import MqttPublisher
from gateway.uplink.outbox import Outbox, StoredMessage
from gateway.uplink.topics import MessageKind, Topics
from tests.servers import (
    MOSQUITTO_CANDIDATES,
    VICTORIA_METRICS_CANDIDATES,
    Mosquitto,
    VictoriaMetrics,
    require_binary,
)
from tests.uplink.helpers import json_publish_properties

TOPICS = Topics("bench")
INGEST_TOPICS = Topics("bench", prefix="wmbusbench")  # apart from the latency run's retained messages
START = 1_790_000_000.0  # 2026-09: inside VictoriaMetrics' retention


def reading_message(meter: int, n: int, topics: Topics = TOPICS) -> OutboundMessage:
    meter_id = f"{meter:08d}"
    reading = Reading(
        meter_id=meter_id,
        manufacturer="KAM",
        decoder="multical21",
        medium="water",
        received_at=datetime.fromtimestamp(START + n * 16, UTC),
        total_m3=100 + n * 0.001,
        flow_m3h=0.012,
        rssi_dbm=-71.0,
    )
    body = {**reading.to_json(), "source": "bench", "duplicates": 0}
    payload = encode(MessageKind.READING, topics.gateway, body)
    return OutboundMessage(topics.reading(meter_id), payload, True, MessageKind.READING, meter_id)


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_seconds(process: subprocess.Popen[bytes] | None) -> float:
    """User + system CPU of a child process so far (from /proc; 0 when it is not running)."""
    if process is None or process.poll() is not None:
        return 0.0
    fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[int, int]:
    """Busy and total jiffies of all CPUs so far (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench_latency(broker: Mosquitto, directory: Path, count: int, rate: float) -> None:
    outbox = Outbox(directory / "outbox.db")
    latencies_ms: list[float] = []
    put_ms: list[float] = []

    def on_ack(message: StoredMessage) -> None:
        latencies_ms.append((time.time() - message.enqueued_at) * 1000)

    publisher = MqttPublisher(outbox, BrokerSettings(broker.url, client_id="bench"), TOPICS, on_ack=on_ack)
    task = asyncio.create_task(publisher.run())
    await asyncio.wait_for(publisher.connected_event.wait(), 10)
    messages = [reading_message(n % 500, n) for n in range(count)]
    interval = 1.0 / rate
    started = time.perf_counter()
    for n, message in enumerate(messages):
        before = time.perf_counter()
        outbox.put(message)
        put_ms.append((time.perf_counter() - before) * 1000)
        delay = started + (n + 1) * interval - time.perf_counter()
        await asyncio.sleep(max(0.0, delay))
    async with asyncio.timeout(30):
        while len(latencies_ms) < count:
            await asyncio.sleep(0.01)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    print(f"machine load average: {_load()} on {os.cpu_count()} CPUs")
    print(
        f"publisher: {count} readings at {rate:.0f}/s, outbox synchronous=NORMAL, journal fsync every 0.2 s"
    )
    print(
        f"  put -> PUBACK latency: p50 {percentile(latencies_ms, 0.5):.2f} ms, "
        f"p99 {percentile(latencies_ms, 0.99):.2f} ms, max {max(latencies_ms):.2f} ms  (target p99 < 20 ms)"
    )
    print(f"  outbox.put cost: p50 {percentile(put_ms, 0.5):.3f} ms, p99 {percentile(put_ms, 0.99):.3f} ms")


async def bench_throughput(
    broker: Mosquitto, directory: Path, count: int, chunk: int, max_inflight: int | None = None
) -> float:
    """Messages put as fast as a replay puts them (``chunk`` a commit), drained with QoS 1; messages/s."""
    outbox = Outbox(directory / f"throughput-{max_inflight}.db", max_messages=count + 1)
    acked = 0

    def on_ack(_message: StoredMessage) -> None:
        nonlocal acked
        acked += 1

    publisher = MqttPublisher(
        outbox,
        BrokerSettings(broker.url, client_id="bench-throughput"),
        TOPICS,
        on_ack=on_ack,
        max_inflight=max_inflight or 100,  # the daemon's default
    )
    task = asyncio.create_task(publisher.run())
    await asyncio.wait_for(publisher.connected_event.wait(), 10)
    messages = [reading_message(n % 50, n) for n in range(count)]
    broker_cpu = cpu_seconds(broker.process)
    started = time.perf_counter()
    cpu_started = time.process_time()
    for start in range(0, count, chunk):
        outbox.put_many(messages[start : start + chunk])
        await asyncio.sleep(0)
    put_done = time.perf_counter() - started
    async with asyncio.timeout(600):
        while acked < count:
            await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    broker_cpu = cpu_seconds(broker.process) - broker_cpu
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    outbox.close()
    rate = count / elapsed
    window = max_inflight or 100
    print(
        f"publisher throughput: {count} readings of 50 meters put {chunk} a commit, QoS 1 to PUBACK,"
        f" up to {window} in flight"
    )
    print(
        f"  {elapsed:.2f} s: {rate:,.0f} messages/s (all put after {put_done:.2f} s)  (target >= 10,000/s)"
    )
    print(
        f"  publisher process CPU {cpu:.2f} s ({count / cpu:,.0f} messages per CPU second), "
        f"mosquitto {broker_cpu:.2f} s; machine load {_load()}"
    )
    return rate


async def bench_ingest(broker: Mosquitto, vm: VictoriaMetrics, count: int, protocol: Protocol) -> None:
    sink = InfluxSink(vm.url, "bench")
    settings = IngestSettings(
        prefix=INGEST_TOPICS.prefix, client_id=f"bench-ingest-{protocol.value}", batch_max_lines=10_000
    )
    ingester = Ingester(BrokerSettings(broker.url, protocol=protocol), sink, settings)
    # Create the persistent session, go away, let the backlog queue at the broker, then time the drain.
    task = asyncio.create_task(ingester.run())
    await asyncio.wait_for(ingester.subscribed.wait(), 10)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    payloads = [
        (m.topic, m.payload) for m in (reading_message(n % 2000, n, INGEST_TOPICS) for n in range(count))
    ]
    # As the gateway publishes: MQTT 5 with payload format indicator and content type (the broker
    # forwards both, so the ingester decodes properties on every message).
    properties = json_publish_properties()
    async with aiomqtt.Client(
        broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5, max_inflight_messages=1000
    ) as client:
        client.pending_calls_threshold = 2000
        for start in range(0, count, 1000):
            await asyncio.gather(
                *(
                    client.publish(t, p, qos=1, properties=properties)
                    for t, p in payloads[start : start + 1000]
                )
            )
    expected = 2 * count  # a wmbus_reading and a wmbus_reception point per reading
    ingester = Ingester(BrokerSettings(broker.url, protocol=protocol), sink, settings)
    servers_cpu = cpu_seconds(broker.process), cpu_seconds(vm.process)
    busy_started = machine_busy()
    started = time.perf_counter()
    cpu_started = time.process_time()
    task = asyncio.create_task(ingester.run())
    async with asyncio.timeout(120):
        while ingester.stats.points < expected:
            await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    busy = machine_busy()
    busy_share = (busy[0] - busy_started[0]) / max(1, busy[1] - busy_started[1])
    broker_cpu = cpu_seconds(broker.process) - servers_cpu[0]
    vm_cpu = cpu_seconds(vm.process) - servers_cpu[1]
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    sink.close()
    stored = len(vm.samples('wmbus_reading_total_m3{meter=~".+"}'))
    print(
        f"ingester (MQTT {protocol.value}): {count} readings ({expected} points) "
        "from a broker backlog into VictoriaMetrics"
    )
    print(
        f"  {elapsed:.2f} s: {expected / elapsed:,.0f} points/s, {count / elapsed:,.0f} messages/s, "
        f"{ingester.stats.batches} batches  (target >= 20,000 points/s)"
    )
    print(
        f"  ingester CPU: {cpu:.2f} s ({expected / cpu:,.0f} points per CPU second; machine load {_load()})"
    )
    others = busy_share * (os.cpu_count() or 1) * elapsed - cpu - broker_cpu - vm_cpu
    print(
        f"  meanwhile: mosquitto {broker_cpu:.2f} s CPU, victoria-metrics {vm_cpu:.2f} s, everything else"
        f" on the machine {max(0.0, others):.2f} s; all CPUs {busy_share:.0%} busy"
    )
    print(f"  samples of wmbus_reading_total_m3 in VictoriaMetrics: {stored} (expected {count})")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000, help="readings for the latency run")
    parser.add_argument("--rate", type=float, default=500.0, help="readings per second for the latency run")
    parser.add_argument(
        "--throughput", type=int, default=100_000, help="readings for the publisher's throughput run"
    )
    parser.add_argument("--ingest", type=int, default=100_000, help="readings for the throughput run")
    parser.add_argument(
        "--ingest-protocol", choices=["5", "3.1.1"], default="5", help="MQTT version of the ingester"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        broker = Mosquitto(require_binary("mosquitto", MOSQUITTO_CANDIDATES), directory / "mosquitto")
        vm = VictoriaMetrics(
            require_binary("victoria-metrics", VICTORIA_METRICS_CANDIDATES), directory / "vm"
        )
        broker.start()
        vm.start()
        try:
            await bench_latency(broker, directory, args.messages, args.rate)
            if args.throughput:
                await bench_throughput(broker, directory, args.throughput, 500)
            if args.ingest:
                await bench_ingest(broker, vm, args.ingest, Protocol(args.ingest_protocol))
        finally:
            broker.stop()
            vm.stop()


if __name__ == "__main__":
    asyncio.run(main())
