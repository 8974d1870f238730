"""The ingester's Prometheus /metrics: counters of a real run (mosquitto in, VictoriaMetrics out)."""

from __future__ import annotations

import asyncio
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from gateway.ingest.metrics import ingest_registry
from gateway.uplink.metrics_http import MetricsServer
from tests.ingest.test_ingester import ingesting, messages_of, publish_raw, wait_points
from tests.servers import Mosquitto, VictoriaMetrics
from tests.uplink.helpers import reading_publication


def _scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_ingest_metrics_count_what_was_written(
    mosquitto: Mosquitto, victoria_metrics: VictoriaMetrics
) -> None:
    publications = [reading_publication("44444444", n) for n in range(5)]
    async with ingesting(mosquitto, victoria_metrics) as ingester:
        server = MetricsServer(ingest_registry(lambda: ingester.stats), "127.0.0.1", 0)
        await server.start()
        try:
            before = await asyncio.to_thread(_scrape, server.port)
            await publish_raw(
                mosquitto,
                [*messages_of("gwM", publications), ("wmbus/gwM/meters/44444444/reading", b"{")],
            )
            await wait_points(ingester, len(publications) * 2)
            await asyncio.sleep(0.2)
            after = await asyncio.to_thread(_scrape, server.port)
        finally:
            await server.stop()
    assert before["wmbus_ingest_points_written_total"] == 0
    assert "wmbus_ingest_seconds_since_last_write" not in before  # nothing written yet
    assert after["wmbus_ingest_messages_total"] == len(publications) + 1
    assert after["wmbus_ingest_points_written_total"] == ingester.stats.points >= len(publications)
    assert after["wmbus_ingest_batches_written_total"] >= 1
    assert after["wmbus_ingest_malformed_messages_total"] == 1
    assert after["wmbus_ingest_dead_letters_total"] == 0
    assert after["wmbus_ingest_mqtt_connects_total"] == 1
    assert 0 <= after["wmbus_ingest_seconds_since_last_write"] < 30
