"""Shared helpers of the uplink tests: publications in the billing contract's shape, a collector."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.reading import Reading
from tests.servers import Mosquitto


@dataclass(frozen=True)
class Publication:
    """The shape of gateway.publication.Publication (the uplink codes against the contract)."""

    kind: str
    meter_id: str
    payload: dict[str, Any]
    month: str | None = None


BASE_TIME = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def reading_publication(meter_id: str, n: int, *, total_m3: float | None = None) -> Publication:
    """The n-th reading of a meter, 10 minutes apart, its register growing by 1 litre each."""
    received = BASE_TIME + timedelta(minutes=10 * n)
    reading = Reading(
        meter_id=meter_id,
        manufacturer="KAM",
        decoder="multical21",
        medium="water",
        received_at=received,
        total_m3=total_m3 if total_m3 is not None else round(100 + n * 0.001, 3),
        flow_m3h=0.01 * (n % 7),
        rssi_dbm=-70.0,
    )
    payload = {**reading.to_json(), "source": "sim", "duplicates": 0, "rssi_dbm": -70.0}
    return Publication("reading", meter_id, payload)


def monthly_publication(meter_id: str, month: str = "2026-10", revision: int = 0) -> Publication:
    payload = {
        "meter_id": meter_id,
        "month": month,
        "cutoff": f"{month}-01T00:00:00+00:00",
        "index_m3": 123.456 + revision,
        "source": "actual",
        "revision": revision,
        "consumption_m3": 4.5,
        "reading_age_s": 60.0,
        "readings": [{"received_at": "2026-10-31T23:59:00+00:00", "total_m3": 123.456}],
        "manufacturer": "KAM",
        "medium": "water",
    }
    return Publication("monthly", meter_id, payload, month)


def event_publication(meter_id: str, event: str = "leak", state: str = "raised") -> Publication:
    payload = {
        "meter_id": meter_id,
        "event": event,
        "state": state,
        "at": "2026-11-20T10:00:00+00:00",
        "event_id": f"{meter_id}-{event}-1",
        "details": {"flow_m3h": 0.5, "note": "text"},
    }
    return Publication("event", meter_id, payload)


@dataclass
class Collector:
    """Subscribes with QoS 1 and keeps (topic, payload dict, retain) of everything it hears."""

    host: str
    port: int
    topic_filter: str
    messages: list[tuple[str, dict[str, Any], bool]] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        async with aiomqtt.Client(self.host, self.port, protocol=aiomqtt.ProtocolVersion.V5) as client:
            await client.subscribe(self.topic_filter, qos=1)
            self.ready.set()
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                self.messages.append((str(message.topic), json.loads(message.payload), message.retain))

    async def wait_for(self, count: int, timeout_s: float = 10.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(self.messages) < count and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def collecting(broker: Mosquitto, topic_filter: str) -> AsyncIterator[Collector]:
    """A Collector subscribed to ``topic_filter`` on ``broker`` while the block runs."""
    collector = Collector(broker.host, broker.port, topic_filter)
    task = asyncio.create_task(collector.run())
    await asyncio.wait_for(collector.ready.wait(), 5)
    try:
        yield collector
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def retained(
    host: str, port: int, topic: str, quiet_s: float = 0.3
) -> list[tuple[str, dict[str, Any]]]:
    """Every retained message under ``topic`` (a filter), as a fresh subscriber sees them."""
    out: list[tuple[str, dict[str, Any]]] = []
    async with aiomqtt.Client(host, port) as client:
        await client.subscribe(topic, qos=1)
        messages = aiter(client.messages)
        while True:
            try:
                message = await asyncio.wait_for(anext(messages), quiet_s)
            except TimeoutError:
                return out
            if message.retain:
                assert isinstance(message.payload, bytes)
                out.append((str(message.topic), json.loads(message.payload)))


def json_publish_properties() -> Properties:
    """MQTT 5 PUBLISH properties as the gateway sends them (UTF-8 JSON), for an independent publisher."""
    properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    properties.PayloadFormatIndicator = 1
    properties.ContentType = "application/json"
    return properties
