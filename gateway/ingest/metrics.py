"""The ingester's Prometheus metrics, read at scrape time from its own counters."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.ingest.ingester import IngestStats

_COUNTERS = (
    ("messages", "wmbus_ingest_messages", "MQTT messages received."),
    ("points", "wmbus_ingest_points_written", "Points written to the time-series store."),
    ("batches", "wmbus_ingest_batches_written", "Batches written to the store."),
    ("write_failures", "wmbus_ingest_write_retries", "Batch writes that failed and are retried."),
    ("malformed", "wmbus_ingest_malformed_messages", "Messages refused as malformed (acknowledged)."),
    (
        "dead_letters",
        "wmbus_ingest_dead_letters",
        "Messages the store refused for good, kept as dead letters.",
    ),
    ("connects", "wmbus_ingest_mqtt_connects", "Connections made to the broker."),
)


def ingest_registry(
    stats: Callable[[], IngestStats], clock: Callable[[], float] = time.monotonic
) -> CollectorRegistry:
    """A registry with the ingester's collector; ``stats`` returns the live counters."""
    registry = CollectorRegistry()
    registry.register(IngestCollector(stats, clock))
    return registry


class IngestCollector(Collector):
    """Counters, and the seconds since the last successful write (the store's lag behind the broker)."""

    def __init__(self, stats: Callable[[], IngestStats], clock: Callable[[], float]) -> None:
        self._stats = stats
        self._clock = clock

    def collect(self) -> Iterator[Any]:
        stats = self._stats()
        for attribute, name, doc in _COUNTERS:
            family = CounterMetricFamily(name, doc)
            family.add_metric([], float(getattr(stats, attribute)))
            yield family
        lag = GaugeMetricFamily(
            "wmbus_ingest_seconds_since_last_write",
            "Seconds since the last successful write to the store (absent before the first).",
        )
        if stats.last_write_at is not None:
            lag.add_metric([], max(0.0, self._clock() - stats.last_write_at))
        yield lag
