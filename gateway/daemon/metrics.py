"""The gateway's Prometheus metrics, read at scrape time from the daemon's own counters.

Nothing is counted twice: the pipeline, sources, health monitor, outbox and publisher already keep
their counters (for the status topic); this collector turns one snapshot of them into metric families
when Prometheus scrapes. Only the publish latency is observed as it happens (on each broker ack).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from gateway.health import SourceState
from gateway.uplink.outbox import OutboxStats, StoredMessage

# Seconds since a provisioned meter was last heard: 15 min .. 31 days, one histogram for the fleet
LAST_HEARD_BUCKETS_S = (900.0, 3600.0, 6 * 3600.0, 86400.0, 2 * 86400.0, 7 * 86400.0, 31 * 86400.0)
PUBLISH_LATENCY_BUCKETS_S = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0, 3600.0)
HEALTH_STATES = tuple(state.value for state in SourceState)


class GatewaySnapshot(Protocol):
    """What the collector reads from the daemon."""

    def status_document(self) -> dict[str, Any]: ...

    def outbox_stats(self) -> OutboxStats | None: ...

    def publisher_stats(self) -> Mapping[str, Any] | None: ...

    def last_heard(self) -> tuple[list[str], Mapping[str, datetime]]: ...

    def now(self) -> datetime: ...


class GatewayMetrics:
    """The registry served on ``/metrics``: the collector plus the publish-latency histogram."""

    def __init__(self, snapshot: GatewaySnapshot, clock: Callable[[], float] = time.time) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(GatewayCollector(snapshot))
        self._clock = clock
        self.publish_latency = Histogram(
            "wmbus_publish_latency_seconds",
            "From a message entering the outbox to the broker's acknowledgement.",
            buckets=PUBLISH_LATENCY_BUCKETS_S,
            registry=self.registry,
        )

    def observe_ack(self, message: StoredMessage) -> None:
        """The publisher's on_ack hook."""
        self.publish_latency.observe(max(0.0, self._clock() - message.enqueued_at))


class GatewayCollector(Collector):
    """Metric families from one status snapshot."""

    def __init__(self, snapshot: GatewaySnapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Any]:
        status = self.snapshot.status_document()
        yield from _source_families(status.get("sources", {}))
        yield from _pipeline_families(status.get("counters", {}))
        yield from _coverage_families(status.get("coverage", {}))
        outbox = self.snapshot.outbox_stats()
        if outbox is not None:
            yield from _outbox_families(outbox)
        publisher = self.snapshot.publisher_stats()
        if publisher is not None:
            yield from _publisher_families(publisher)
        meters, seen = self.snapshot.last_heard()
        yield _last_heard_family(meters, seen, self.snapshot.now())
        never = _gauge("wmbus_meters_never_heard", "Provisioned meters never heard.")
        never.add_metric([], float(sum(1 for meter_id in meters if meter_id not in seen)))
        yield never


def _counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, labels=list(labels))


def _gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


def _source_families(sources: Mapping[str, Mapping[str, Any]]) -> Iterator[Any]:
    frames = _counter("wmbus_source_frames", "Frames received, by radio source.", ("source",))
    errors = _counter(
        "wmbus_source_errors", "Radio source errors, by source and reason.", ("source", "reason")
    )
    garbage = _counter("wmbus_source_garbage_bytes", "Bytes skipped while resynchronising.", ("source",))
    reconnects = _counter(
        "wmbus_source_reconnects", "Times a radio source reopened its device.", ("source",)
    )
    connected = _gauge("wmbus_source_connected", "1 while the source's device is open.", ("source",))
    state = _gauge(
        "wmbus_source_health_state", "Receiver health: 1 for the current state.", ("source", "state")
    )
    episodes = _counter("wmbus_source_silent_episodes", "Silences detected, by source.", ("source",))
    recoveries = _counter("wmbus_source_recoveries", "Silences that ended, by source.", ("source",))
    for name, stats in sources.items():
        frames.add_metric([name], float(stats.get("frames", 0)))
        for reason, count in (stats.get("errors") or {}).items():
            errors.add_metric([name, reason], float(count))
        garbage.add_metric([name], float(stats.get("garbage_bytes", 0)))
        reconnects.add_metric([name], float(stats.get("reconnects", 0)))
        connected.add_metric([name], 1.0 if stats.get("connected") else 0.0)
        current = stats.get("state")
        if current is not None:
            for candidate in (*HEALTH_STATES, *(() if current in HEALTH_STATES else (current,))):
                state.add_metric([name, candidate], 1.0 if candidate == current else 0.0)
        episodes.add_metric([name], float(stats.get("silent_episodes", 0)))
        recoveries.add_metric([name], float(stats.get("recoveries", 0)))
    yield from (frames, errors, garbage, reconnects, connected, state, episodes, recoveries)


def _pipeline_families(counters: Mapping[str, Any]) -> Iterator[Any]:
    for key, doc in (
        ("telegrams", "Telegrams parsed."),
        ("readings", "Readings decoded and kept (after dedup)."),
        ("duplicates", "Telegrams dropped as duplicates."),
        ("unknown_meter", "Frames from meters that are not provisioned."),
        ("publications", "Publications made (readings, monthly indexes, events)."),
    ):
        family = _counter(
            f"wmbus_{key}" if key != "unknown_meter" else "wmbus_unknown_meter_frames", doc
        )
        family.add_metric([], float(counters.get(key, 0)))
        yield family
    errors = _counter("wmbus_telegram_errors", "Telegrams refused, by kind of error.", ("kind",))
    for kind, count in (counters.get("errors") or {}).items():
        errors.add_metric([kind], float(count))
    yield errors
    dedup = counters.get("dedup") or {}
    evicted = _counter("wmbus_dedup_evicted_meters", "Meters whose dedup window was evicted for room.")
    evicted.add_metric([], float(dedup.get("evicted_meters", 0)))
    yield evicted


def _coverage_families(coverage: Mapping[str, Any]) -> Iterator[Any]:
    provisioned = _gauge("wmbus_meters_provisioned", "Meters provisioned on this gateway.")
    provisioned.add_metric([], float(coverage.get("provisioned", 0)))
    yield provisioned
    ratio = _gauge(
        "wmbus_coverage_ratio",
        "Share of provisioned meters: read this month, with an actual or any index last month.",
        ("kind",),
    )
    for kind in ("read", "actual", "indexed"):
        value = coverage.get(f"{kind}_ratio")
        if isinstance(value, int | float):
            ratio.add_metric([kind], float(value))
    yield ratio


def _outbox_families(stats: OutboxStats) -> Iterator[Any]:
    pending = _gauge("wmbus_outbox_messages", "Messages waiting in the outbox.")
    pending.add_metric([], float(stats.pending))
    limit = _gauge(
        "wmbus_outbox_max_messages", "The outbox's bound (readings and raw are dropped past it)."
    )
    limit.add_metric([], float(stats.max_messages))
    dropped = _counter(
        "wmbus_outbox_dropped_messages", "Messages dropped by the outbox bound.", ("kind",)
    )
    for kind, count in stats.dropped.items():
        dropped.add_metric([kind], float(count))
    age = _gauge(
        "wmbus_outbox_oldest_age_seconds", "Age of the oldest message in the outbox (0: empty)."
    )
    age.add_metric([], float(stats.oldest_age_s or 0.0))
    yield from (pending, limit, dropped, age)


def _publisher_families(stats: Mapping[str, Any]) -> Iterator[Any]:
    connected = _gauge("wmbus_mqtt_connected", "1 while connected to the broker.")
    connected.add_metric([], 1.0 if stats.get("connected") else 0.0)
    yield connected
    for key, doc in (
        ("connects", "Connections made to the broker."),
        ("published", "Messages sent to the broker."),
        ("acked", "Messages the broker acknowledged."),
    ):
        family = _counter(
            f"wmbus_mqtt_{key}_messages" if key != "connects" else "wmbus_mqtt_connects", doc
        )
        family.add_metric([], float(stats.get(key, 0)))
        yield family


def _last_heard_family(meters: list[str], seen: Mapping[str, datetime], now: datetime) -> Any:
    """A histogram over provisioned meters of seconds since each was last heard (never: +Inf only)."""
    counts = [0] * len(LAST_HEARD_BUCKETS_S)
    heard = 0
    total_s = 0.0
    for meter_id in meters:
        at = seen.get(meter_id)
        if at is None:
            continue
        age_s = max(0.0, (now - at).total_seconds())
        heard += 1
        total_s += age_s
        for index, bound in enumerate(LAST_HEARD_BUCKETS_S):
            if age_s <= bound:
                counts[index] += 1
    buckets = [
        (_le(bound), float(count)) for bound, count in zip(LAST_HEARD_BUCKETS_S, counts, strict=True)
    ]
    buckets.append(("+Inf", float(len(meters))))
    return HistogramMetricFamily(
        "wmbus_meter_last_heard_age_seconds",
        "Provisioned meters by seconds since last heard; a meter never heard counts only in +Inf.",
        buckets=buckets,
        sum_value=total_s,
    )


def _le(bound: float) -> str:
    return str(int(bound)) if bound == int(bound) else str(bound)
