"""TLS with a test CA, client certificates and password auth against a mosquitto configured for them."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path

import aiomqtt

from gateway.uplink.broker import BrokerSettings
from gateway.uplink.messages import publication_message
from gateway.uplink.mqtt import MqttPublisher
from gateway.uplink.outbox import Outbox
from gateway.uplink.topics import Topics
from tests.conftest import MosquittoFactory
from tests.servers import TlsFiles
from tests.uplink.helpers import reading_publication

TOPICS = Topics("gw1")


async def run_until(publisher: MqttPublisher, condition: object, timeout_s: float = 10.0) -> None:
    task = asyncio.create_task(publisher.run())
    try:
        async with asyncio.timeout(timeout_s):
            while not condition():  # type: ignore[operator]
                await asyncio.sleep(0.02)
                publisher.outbox.flush_acks()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def read_one(port: int, tls: TlsFiles, topic: str) -> bytes:
    context = ssl.create_default_context(cafile=str(tls.ca_cert))
    context.load_cert_chain(str(tls.client_cert), str(tls.client_key))
    async with aiomqtt.Client(
        "127.0.0.1", port, username="reader", password="reader-pw", tls_context=context
    ) as c:
        await c.subscribe(topic, qos=1)
        async with asyncio.timeout(5):
            async for message in c.messages:
                assert isinstance(message.payload, bytes)
                return message.payload
    raise AssertionError("no message")


async def test_tls_client_certificate_and_password(
    mosquitto_factory: MosquittoFactory, test_ca: TlsFiles, tmp_path: Path
) -> None:
    broker = mosquitto_factory(
        tls=test_ca, users={"gw1": "s3cret pw", "reader": "reader-pw"}, require_client_cert=True
    )
    password_file = tmp_path / "mqtt-password"
    password_file.write_text("s3cret pw\n")
    settings = BrokerSettings(
        broker.url,
        username="gw1",
        password_file=password_file,
        client_id="gw1",
        ca_file=test_ca.ca_cert,
        cert_file=test_ca.client_cert,
        key_file=test_ca.client_key,
    )
    assert broker.url.startswith("mqtts://")
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.put(publication_message(TOPICS, reading_publication("80000001", 1)))
    publisher = MqttPublisher(outbox, settings, TOPICS)
    await run_until(publisher, lambda: len(outbox) == 0)
    payload = await read_one(broker.port, test_ca, "wmbus/gw1/meters/80000001/reading")  # retained
    assert b'"meter_id":"80000001"' in payload


async def test_refused_login_is_reported_clearly(mosquitto_factory: MosquittoFactory, tmp_path: Path) -> None:
    broker = mosquitto_factory(users={"gw1": "right"})
    password_file = tmp_path / "mqtt-password"
    password_file.write_text("wrong\n")
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.put(publication_message(TOPICS, reading_publication("80000002", 1)))
    publisher = MqttPublisher(
        outbox, BrokerSettings(broker.url, username="gw1", password_file=password_file), TOPICS
    )
    await run_until(publisher, lambda: publisher.stats.last_error is not None)
    error = publisher.stats.last_error or ""
    assert "refused the login of user 'gw1'" in error
    assert "wrong" not in error  # the password itself never shows
    assert len(outbox) == 1 and publisher.stats.connects == 0


async def test_untrusted_server_certificate_is_refused(
    mosquitto_factory: MosquittoFactory, test_ca: TlsFiles, tmp_path: Path
) -> None:
    broker = mosquitto_factory(tls=test_ca)
    outbox = Outbox(tmp_path / "outbox.db")
    # No ca_file: the system CAs do not know the test CA, so the handshake must fail.
    publisher = MqttPublisher(outbox, BrokerSettings(broker.url), TOPICS)
    await run_until(publisher, lambda: publisher.stats.last_error is not None)
    assert "TLS handshake" in (publisher.stats.last_error or "")
    assert publisher.stats.connects == 0
