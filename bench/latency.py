"""End-to-end latency through the whole daemon: radio frame in -> the reading at an MQTT subscriber.

    .venv/bin/python -m bench.latency [--frames 2000] [--rate 50] [--meters 500]

A paced radio source hands ``wmbus-gateway run``'s daemon (in process, real mosquitto on loopback)
real encrypted telegrams of a simulated fleet, each stamped with its receive time as a dongle's source
stamps it. The daemon decrypts, dedups, decodes, updates its billing state, stores the publication in
its durable outbox and publishes it with QoS 1. A subscriber on the same broker takes each reading's
``received_at`` from the payload: arrival minus receive time is the latency. mosquitto forwards a
QoS 1 message to subscribers as it sends the PUBACK, so this is the frame-in to PUBACK latency plus
one loopback hop. Target: p99 under 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt

from bench.pipeline import START, provision
from gateway.clock import ManualClock, SystemClock
from gateway.daemon.config import GatewayConfig, MqttConfig
from gateway.daemon.runner import Daemon
from gateway.frame import LinkMode, ReceivedFrame
from gateway.radio.base import SourceStats
from gateway.radio.simulator import SimulatedFleet
from tests.servers import MOSQUITTO_CANDIDATES, Mosquitto, require_binary

GATEWAY = "latency"


class PacedSource:
    """A radio source yielding prepared telegrams at a steady rate, stamped when they are yielded."""

    name = "bench"
    device_path = None

    def __init__(self, telegrams: list[bytes], rate: float) -> None:
        self.stats = SourceStats()
        self._telegrams = telegrams
        self._interval = 1.0 / rate
        self.started = asyncio.Event()  # set by the bench once the subscriber and the uplink are up
        self.done = False

    async def frames(self) -> AsyncIterator[ReceivedFrame]:
        await self.started.wait()
        began = time.perf_counter()
        for n, data in enumerate(self._telegrams):
            await asyncio.sleep(max(0.0, began + n * self._interval - time.perf_counter()))
            now = datetime.now(UTC)
            self.stats.count_frame(now)
            yield ReceivedFrame(data, LinkMode.T1, -70.0, now, self.name)
        self.done = True

    async def reinitialise(self) -> None:
        """Nothing to re-initialise."""

    async def reopen(self) -> None:
        """Nothing to reopen."""


def fleet_telegrams(fleet: SimulatedFleet, count: int) -> list[bytes]:
    """``count`` telegrams, the fleet's meters in turn, a day apart for each meter."""
    meters = fleet.meters
    out = []
    for n in range(count):
        meter = meters[n % len(meters)]
        rounds = n // len(meters)
        out.append(fleet.telegram(meter, START + timedelta(days=rounds), rounds % 256, rounds))
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(broker: Mosquitto, state: Path, telegrams: list[bytes], rate: float) -> list[float]:
    latencies_ms: list[float] = []
    source = PacedSource(telegrams, rate)
    config = GatewayConfig(gateway_id=GATEWAY, state_dir=state, mqtt=MqttConfig(url=broker.url))
    daemon = Daemon(config, sources=[source], clock=SystemClock(), printer=lambda line: None)
    async with aiomqtt.Client(broker.host, broker.port, identifier="latency-sub") as subscriber:
        await subscriber.subscribe(f"wmbus/{GATEWAY}/meters/+/reading", qos=1)
        run = asyncio.create_task(daemon.run())
        await asyncio.wait_for(daemon.ready.wait(), 30)
        assert daemon.publisher is not None
        await asyncio.wait_for(daemon.publisher.connected_event.wait(), 30)
        source.started.set()
        async with asyncio.timeout(len(telegrams) / rate + 30):
            async for message in subscriber.messages:
                arrived = time.time()
                assert isinstance(message.payload, bytes)
                sent = datetime.fromisoformat(json.loads(message.payload)["received_at"]).timestamp()
                latencies_ms.append((arrived - sent) * 1000)
                if source.done and len(latencies_ms) == daemon.pipeline.counters.readings:
                    break  # every reading the daemon made (a repeated telegram is one reading)
        daemon.stop()
        await run
    return latencies_ms


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=50.0, help="frames per second")
    parser.add_argument("--meters", type=int, default=500)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    fleet = SimulatedFleet(seed=3, meter_count=args.meters, clock=ManualClock(START), start=START)
    telegrams = fleet_telegrams(fleet, args.frames)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        broker = Mosquitto(require_binary("mosquitto", MOSQUITTO_CANDIDATES), directory / "mosquitto")
        broker.start()
        try:
            provision(fleet, directory / "state")
            latencies = await measure(broker, directory / "state", telegrams, args.rate)
        finally:
            with contextlib.suppress(Exception):
                broker.stop()
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"machine load average: {load} on {os.cpu_count()} CPUs")
    print(f"daemon: {len(latencies)} readings of {args.meters} meters at {args.rate:.0f} frames/s")
    print(
        f"  radio frame in -> reading at a subscriber: p50 {percentile(latencies, 0.5):.2f} ms, "
        f"p99 {percentile(latencies, 0.99):.2f} ms, max {max(latencies):.2f} ms  (target p99 < 20 ms)"
    )


if __name__ == "__main__":
    asyncio.run(main())
