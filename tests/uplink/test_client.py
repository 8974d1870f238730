"""Our MQTT client and the publisher on it: a window of QoS 1 messages in flight, per-meter order kept,
manual acknowledgements in a persistent session, keep-alive, the 5 -> 3.1.1 fallback, and a broker that
sends garbage or a packet a byte at a time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.mqtt.packets import Version, encode_publish
from gateway.uplink.broker import BrokerSettings, ConnectionLostError, Protocol
from gateway.uplink.client import MqttClient
from gateway.uplink.messages import publication_message
from gateway.uplink.mqtt import MqttPublisher
from gateway.uplink.outbox import Outbox
from gateway.uplink.topics import Topics
from tests.servers import Mosquitto
from tests.uplink.helpers import collecting, reading_publication

TOPICS = Topics("gw1")


async def test_publisher_keeps_a_window_in_flight_and_each_meter_in_order(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    meters = [f"9000{n:04d}" for n in range(20)]
    outbox = Outbox(tmp_path / "outbox.db", max_messages=10_000)
    # A backlog from before the connection, then live messages for the same meters while it drains.
    outbox.put_many(
        [publication_message(TOPICS, reading_publication(m, n)) for n in range(60) for m in meters]
    )
    publisher = MqttPublisher(
        outbox,
        BrokerSettings(mosquitto.url, client_id="gw1"),
        TOPICS,
        max_inflight=50,
        backlog_rate_per_s=5000,
    )
    most_in_flight = 0
    async with collecting(mosquitto, "wmbus/gw1/meters/#") as collector:
        task = asyncio.create_task(publisher.run())
        try:
            await asyncio.wait_for(publisher.connected_event.wait(), 5)
            for n in range(60, 120):
                outbox.put_many([publication_message(TOPICS, reading_publication(m, n)) for m in meters])
                for _ in range(5):
                    most_in_flight = max(most_in_flight, publisher.stats.published - publisher.stats.acked)
                    await asyncio.sleep(0)
            async with asyncio.timeout(30):
                while len(collector.messages) < 120 * len(meters):
                    most_in_flight = max(most_in_flight, publisher.stats.published - publisher.stats.acked)
                    await asyncio.sleep(0)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert 1 < most_in_flight <= 50  # pipelined, within the window
    for meter in meters:
        values = [m[1]["total_m3"] for m in collector.messages if m[1]["meter_id"] == meter]
        assert values == [round(100 + n * 0.001, 3) for n in range(120)], meter
    assert publisher.stats.acked == publisher.stats.published


async def test_idle_connection_is_kept_alive_with_pings(mosquitto: Mosquitto) -> None:
    settings = BrokerSettings(mosquitto.url, keepalive_s=1)
    async with MqttClient(settings, Version.V5) as client:
        closed = asyncio.create_task(client.closed())
        await asyncio.sleep(3.5)  # mosquitto drops a client silent for 1.5 keep-alive intervals
        assert not closed.done()
        assert await client.publish_and_wait("t/alive", b"1") == 0x10  # no matching subscribers
        closed.cancel()


async def fake_broker(answer: Callable[[int, bytes], bytes]) -> tuple[asyncio.Server, list[bytes]]:
    """A loopback server that answers each connection's first read with ``answer(n, data)``."""
    seen: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read(65536)
        seen.append(data)
        writer.write(answer(len(seen), data))
        await writer.drain()
        with contextlib.suppress(ConnectionError):
            await reader.read(65536)
        writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0), seen


async def test_garbage_from_the_broker_ends_the_connection_with_the_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server, _ = await fake_broker(lambda _n, _data: b"\x20\x02\x00\x00" + b"\x40\x01\x00")
    port = server.sockets[0].getsockname()[1]
    async with server:
        client = MqttClient(BrokerSettings(f"mqtt://127.0.0.1:{port}"), Version.V311)
        await client.connect()
        with caplog.at_level(logging.WARNING), pytest.raises(ConnectionLostError, match="PUBACK shorter"):
            await asyncio.wait_for(client.closed(), 5)
        client.abort()
    assert [r.message for r in caplog.records if "malformed packet" in r.message]


def level(connect: bytes) -> int:
    """The protocol level byte of a CONNECT (after the protocol name)."""
    return connect[connect.index(b"\x00\x04MQTT") + 6]


async def test_a_broker_without_mqtt5_gets_3_1_1(tmp_path: Path) -> None:
    def answer(n: int, data: bytes) -> bytes:
        # the first CONNECT is MQTT 5 (level byte 5): refused as a 3.1.1 broker does
        return b"\x20\x02\x00\x01" if level(data) == 5 else b"\x20\x02\x00\x00"

    server, seen = await fake_broker(answer)
    port = server.sockets[0].getsockname()[1]
    async with server:
        settings = BrokerSettings(f"mqtt://127.0.0.1:{port}", protocol=Protocol.AUTO)
        publisher = MqttPublisher(Outbox(tmp_path / "o.db"), settings, TOPICS, reconnect_min_s=0.05)
        task = asyncio.create_task(publisher.run())
        try:
            async with asyncio.timeout(5):
                while publisher.stats.protocol is None:
                    await asyncio.sleep(0.01)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert publisher.stats.protocol == "3.1.1"
    assert [level(data) for data in seen[:2]] == [5, 4]


@pytest.mark.parametrize("version", [Version.V5, Version.V311])
async def test_unacknowledged_messages_come_again_in_a_persistent_session(
    mosquitto: Mosquitto, version: Version
) -> None:
    received: list[tuple[bytes, bytes, int, int]] = []
    settings = BrokerSettings(mosquitto.url)

    def session() -> MqttClient:
        return MqttClient(
            settings,
            version,
            clean_start=False,
            session_expiry_s=60,
            client_id=f"sess-{version.value}",
            on_message=lambda *message: received.append(message),
        )

    async def until(count: int) -> None:
        async with asyncio.timeout(5):
            while len(received) < count:
                await asyncio.sleep(0.01)

    first = session()
    await first.connect()
    assert await first.subscribe([("sess/#", 1)]) == [1]
    async with MqttClient(settings, Version.V5) as publisher:
        for n in range(5):
            await publisher.publish_and_wait(f"sess/{n}", b"%d" % n)
    await until(5)
    assert [(topic, payload, qos) for topic, payload, _, qos in received] == [
        (b"sess/%d" % n, b"%d" % n, 1) for n in range(5)
    ]
    first.acknowledge([packet_id for _, _, packet_id, _ in received[:2]])
    await first.disconnect()  # after the PUBACKs on the same stream; the session stays

    received.clear()
    second = session()
    connack = await second.connect()
    assert connack.session_present
    await until(3)
    assert [payload for _, payload, _, _ in received] == [b"2", b"3", b"4"]  # the unacknowledged, in order
    second.acknowledge([packet_id for _, _, packet_id, _ in received])
    await second.disconnect()

    received.clear()
    third = session()
    await third.connect()
    await asyncio.sleep(0.5)
    assert received == []
    await third.disconnect()


async def test_packets_cut_anywhere_by_the_network_are_put_together() -> None:
    packets = b"".join(
        encode_publish(b"a/%d" % n, b"x" * (n * 50), n + 1, properties=b"\x00") for n in range(6)
    )

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.write(b"\x20\x03\x00\x00\x00")  # CONNACK, MQTT 5, no properties
        for index in range(len(packets)):  # a byte a write
            writer.write(packets[index : index + 1])
            await writer.drain()
            await asyncio.sleep(0)
        await reader.read(65536)
        writer.close()

    received: list[tuple[bytes, bytes, int, int]] = []
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        client = MqttClient(
            BrokerSettings(f"mqtt://127.0.0.1:{port}"),
            Version.V5,
            on_message=lambda *message: received.append(message),
        )
        await client.connect()
        async with asyncio.timeout(5):
            while len(received) < 6:
                await asyncio.sleep(0.01)
        client.abort()
    assert received == [(b"a/%d" % n, b"x" * (n * 50), n + 1, 1) for n in range(6)]
