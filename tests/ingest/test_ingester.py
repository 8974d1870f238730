"""The ingester against real mosquitto and VictoriaMetrics: points, idempotency, acks after write."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import AsyncIterator, Sequence

import aiomqtt
import pytest

from gateway.ingest.ingester import Ingester, IngestSettings
from gateway.ingest.sink import InfluxSink
from gateway.uplink.broker import BrokerSettings, Protocol
from gateway.uplink.messages import PublicationLike, publication_message
from gateway.uplink.topics import Topics
from tests.conftest import MosquittoFactory
from tests.servers import Mosquitto, TlsFiles, VictoriaMetrics
from tests.uplink.helpers import (
    event_publication,
    json_publish_properties,
    monthly_publication,
    reading_publication,
)


@contextlib.asynccontextmanager
async def ingesting(
    broker: Mosquitto,
    vm: VictoriaMetrics,
    client_id: str = "ingest-a",
    broker_settings: BrokerSettings | None = None,
    **settings: object,
) -> AsyncIterator[Ingester]:
    sink = InfluxSink(vm.url, "wmbus")
    dead_letters = settings.pop("dead_letters", None)
    ingester = Ingester(
        broker_settings or BrokerSettings(broker.url),
        sink,
        IngestSettings(client_id=client_id, **{"batch_max_delay_s": 0.05, **settings}),  # type: ignore[arg-type]
        dead_letters=dead_letters,  # type: ignore[arg-type]
    )
    task = asyncio.create_task(ingester.run())
    try:
        await asyncio.wait_for(ingester.subscribed.wait(), 10)
        yield ingester
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sink.close()


async def publish_raw(broker: Mosquitto, items: list[tuple[str, bytes]]) -> None:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        for topic, payload in items:
            await client.publish(topic, payload, qos=1)


def messages_of(gateway: str, publications: Sequence[PublicationLike]) -> list[tuple[str, bytes]]:
    topics = Topics(gateway)
    out = []
    for publication in publications:
        message = publication_message(topics, publication)
        out.append((message.topic, message.payload))
    return out


async def wait_points(ingester: Ingester, count: int, timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while ingester.stats.points < count:
            await asyncio.sleep(0.02)


async def test_readings_indexes_events_land_once_from_two_gateways(
    mosquitto: Mosquitto, victoria_metrics: VictoriaMetrics
) -> None:
    publications = [reading_publication("33333333", n) for n in range(10)]
    publications += [monthly_publication("33333333"), event_publication("33333333")]
    async with ingesting(mosquitto, victoria_metrics) as ingester:
        # The same readings heard by two gateways, and gateway A's delivered twice.
        await publish_raw(mosquitto, messages_of("gwA", publications) * 2 + messages_of("gwB", publications))
        await wait_points(ingester, 3 * (10 * 2 + 2))
    totals = victoria_metrics.samples('wmbus_reading_total_m3{meter="33333333"}')
    assert sorted(value for _, value, _ in totals) == [round(100 + n * 0.001, 3) for n in range(10)]
    labels = totals[0][0]
    assert labels == {
        "__name__": "wmbus_reading_total_m3",
        "meter": "33333333",
        "manufacturer": "KAM",
        "medium": "water",
    }
    # Per-gateway reception keeps both gateways apart, each reading once.
    heard = victoria_metrics.samples('wmbus_reception_heard{meter="33333333"}')
    assert sorted(labels["gateway"] for labels, _, _ in heard) == ["gwA"] * 10 + ["gwB"] * 10
    index = victoria_metrics.samples('wmbus_monthly_index_m3{meter="33333333"}')
    assert [value for _, value, _ in index] == [123.456]
    events = victoria_metrics.samples('wmbus_event_state{meter="33333333",event="leak"}')
    assert [value for _, value, _ in events] == [1.0]
    assert ingester.stats.malformed == 0


async def test_malformed_payload_is_logged_and_skipped(
    mosquitto: Mosquitto, victoria_metrics: VictoriaMetrics, caplog: pytest.LogCaptureFixture
) -> None:
    good = messages_of("gwA", [reading_publication("44444444", 1)])
    bad = [
        ("wmbus/gwA/meters/44444444/reading", b"{not json"),
        ("wmbus/gwA/meters/44444444/reading", json.dumps({"schema": "wmbus-gateway/reading/9"}).encode()),
        ("wmbus/gwA/meters/44444444/event", json.dumps({"schema": "wmbus-gateway/event/1"}).encode()),
        ("wmbus/gwA/meters/44444444/monthly/2026-10", b"\xff\xfe"),
        # A tag of the wrong type: once an AttributeError that got the message redelivered for ever.
        ("wmbus/gwA/meters/44444444/reading", _with(good[0][1], manufacturer=5)),
    ]
    caplog.set_level(logging.WARNING, "gateway.ingest.ingester")
    async with ingesting(mosquitto, victoria_metrics) as ingester:
        await publish_raw(mosquitto, bad + good)
        await wait_points(ingester, 2)
        async with asyncio.timeout(5):
            while ingester.stats.messages < 6:
                await asyncio.sleep(0.02)
    assert ingester.stats.malformed == 5
    assert sum("skipping malformed message" in record.message for record in caplog.records) == 5
    assert len(victoria_metrics.samples('wmbus_reading_total_m3{meter="44444444"}')) == 1


async def test_two_ingesters_share_the_load(mosquitto: Mosquitto, victoria_metrics: VictoriaMetrics) -> None:
    publications = [reading_publication(f"9000000{m}", n) for n in range(100) for m in range(4)]
    async with (
        ingesting(mosquitto, victoria_metrics, client_id="ingest-1", shared=True) as first,
        ingesting(mosquitto, victoria_metrics, client_id="ingest-2", shared=True) as second,
    ):
        assert first.stats.shared and second.stats.shared
        await publish_raw(mosquitto, messages_of("gwA", publications))
        async with asyncio.timeout(10):
            while first.stats.messages + second.stats.messages < len(publications):
                await asyncio.sleep(0.02)
    # Each message went to exactly one of them, and both did real work.
    assert first.stats.messages + second.stats.messages == len(publications)
    assert first.stats.messages > 0 and second.stats.messages > 0
    samples = victoria_metrics.samples('wmbus_reading_total_m3{meter=~"9000000."}')
    assert len(samples) == len(publications)


def _with(payload: bytes, **changes: object) -> bytes:
    return json.dumps({**json.loads(payload), **changes}).encode()


@pytest.mark.parametrize("protocol", [Protocol.V5, Protocol.V311])
async def test_both_protocols_qos0_and_publish_properties(
    mosquitto: Mosquitto, victoria_metrics: VictoriaMetrics, protocol: Protocol
) -> None:
    # As the gateway publishes (MQTT 5 with payload format and content type), plus QoS 0 messages,
    # in numbers that fill several socket reads.
    items = messages_of("gwA", [reading_publication(f"5555{m:04d}", n) for n in range(30) for m in range(20)])
    properties = json_publish_properties()
    broker = BrokerSettings(mosquitto.url, protocol=protocol)
    async with ingesting(mosquitto, victoria_metrics, broker_settings=broker) as ingester:
        async with aiomqtt.Client(
            mosquitto.host, mosquitto.port, protocol=aiomqtt.ProtocolVersion.V5
        ) as client:
            for n, (topic, payload) in enumerate(items):
                await client.publish(topic, payload, qos=n % 2, properties=properties)
        await wait_points(ingester, 2 * len(items))
    assert ingester.stats.malformed == 0
    assert len(victoria_metrics.samples('wmbus_reading_total_m3{meter=~"5555.+"}')) == len(items)


async def test_ingests_over_tls(
    mosquitto_factory: MosquittoFactory, victoria_metrics: VictoriaMetrics, test_ca: TlsFiles
) -> None:
    broker = mosquitto_factory(tls=test_ca)
    items = messages_of("gwA", [reading_publication(f"6666{m:04d}", n) for n in range(20) for m in range(20)])
    async with ingesting(
        broker, victoria_metrics, broker_settings=BrokerSettings(broker.url, ca_file=test_ca.ca_cert)
    ) as ingester:
        context = ssl.create_default_context(cafile=str(test_ca.ca_cert))
        async with aiomqtt.Client(broker.host, broker.port, tls_context=context) as client:
            for topic, payload in items:
                await client.publish(topic, payload, qos=1)
        await wait_points(ingester, 2 * len(items))
    assert len(victoria_metrics.samples('wmbus_reading_total_m3{meter=~"6666.+"}')) == len(items)
