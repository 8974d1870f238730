"""The MQTT publisher against a real mosquitto: QoS 1 delivery, retained topics, status, will."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.uplink.broker import BrokerSettings, Protocol
from gateway.uplink.messages import publication_message
from gateway.uplink.mqtt import MqttPublisher
from gateway.uplink.outbox import Outbox
from gateway.uplink.topics import Topics
from tests.servers import Mosquitto
from tests.uplink.helpers import (
    collecting,
    event_publication,
    monthly_publication,
    reading_publication,
    retained,
)

TOPICS = Topics("gw1")


@contextlib.asynccontextmanager
async def running(publisher: MqttPublisher) -> AsyncIterator[MqttPublisher]:
    task = asyncio.create_task(publisher.run())
    try:
        yield publisher
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_until_empty(outbox: Outbox, timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while len(outbox):
            await asyncio.sleep(0.02)
            outbox.flush_acks()


async def test_qos1_delivery_retained_and_status(mosquitto: Mosquitto, tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    publisher = MqttPublisher(outbox, BrokerSettings(mosquitto.url, client_id="gw1"), TOPICS, version="1.2.3")
    async with collecting(mosquitto, "wmbus/gw1/#") as collector:
        async with running(publisher):
            for n in range(20):
                outbox.put(publication_message(TOPICS, reading_publication("11111111", n)))
            outbox.put(publication_message(TOPICS, monthly_publication("11111111")))
            outbox.put(publication_message(TOPICS, event_publication("11111111")))
            await wait_until_empty(outbox)
            await collector.wait_for(23)
        retained_now = await retained(mosquitto.host, mosquitto.port, "wmbus/gw1/#")
    readings = [m for m in collector.messages if m[0].endswith("/reading")]
    assert [m[1]["total_m3"] for m in readings] == [round(100 + n * 0.001, 3) for n in range(20)]
    assert all(m[1]["schema"] == "wmbus-gateway/reading/1" and m[1]["gateway"] == "gw1" for m in readings)
    by_topic = dict(retained_now)
    assert by_topic["wmbus/gw1/meters/11111111/reading"]["total_m3"] == round(100 + 19 * 0.001, 3)
    assert by_topic["wmbus/gw1/meters/11111111/monthly/2026-10"]["index_m3"] == 123.456
    assert "wmbus/gw1/meters/11111111/event" not in by_topic  # events are not retained
    status = by_topic["wmbus/gw1/status"]
    assert status["schema"] == "wmbus-gateway/status/1"
    # The publisher was stopped cleanly, so the retained status says offline.
    assert status["state"] == "offline"
    onlines = [m for m in collector.messages if m[0] == "wmbus/gw1/status" and m[1]["state"] == "online"]
    assert onlines and onlines[0][1]["version"] == "1.2.3" and "pending" in onlines[0][1]["outbox"]


async def test_last_will_marks_gateway_offline(mosquitto: Mosquitto, tmp_path: Path) -> None:
    script = (
        "import asyncio, sys\n"
        "from gateway.uplink.broker import BrokerSettings, Protocol\n"
        "from gateway.uplink.mqtt import MqttPublisher\n"
        "from gateway.uplink.outbox import Outbox\n"
        "from gateway.uplink.topics import Topics\n"
        "async def main():\n"
        f"    p = MqttPublisher(Outbox(sys.argv[1]), BrokerSettings({mosquitto.url!r}, client_id='gw9'),\n"
        "                      Topics('gw9'), version='9')\n"
        "    await p.run()\n"
        "asyncio.run(main())\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "o.db")])
    try:
        async with asyncio.timeout(10):
            while True:
                states = dict(await retained(mosquitto.host, mosquitto.port, "wmbus/gw9/status", 0.2))
                if states.get("wmbus/gw9/status", {}).get("state") == "online":
                    break
        process.kill()  # SIGKILL: no goodbye; the broker must publish the will
        process.wait()
        async with asyncio.timeout(10):
            while True:
                states = dict(await retained(mosquitto.host, mosquitto.port, "wmbus/gw9/status", 0.2))
                if states["wmbus/gw9/status"]["state"] == "offline":
                    break
    finally:
        process.kill()
        process.wait()
    assert states["wmbus/gw9/status"]["schema"] == "wmbus-gateway/status/1"


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_both_protocol_versions_deliver(mosquitto: Mosquitto, tmp_path: Path, protocol: str) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    settings = BrokerSettings(mosquitto.url, client_id="gw1", protocol=Protocol(protocol))
    publisher = MqttPublisher(outbox, settings, TOPICS)
    async with collecting(mosquitto, "wmbus/gw1/meters/#") as collector, running(publisher):
        outbox.put(publication_message(TOPICS, reading_publication("22222222", 1)))
        await wait_until_empty(outbox)
        await collector.wait_for(1)
    assert publisher.stats.protocol == protocol
    assert [m[0] for m in collector.messages] == ["wmbus/gw1/meters/22222222/reading"]
