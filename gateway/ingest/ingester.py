"""The ingester: MQTT (shared subscription, QoS 1) into an InfluxDB-compatible store, ack after write.

Delivery guarantee: the ingester acknowledges a message (a PUBACK through
:meth:`gateway.uplink.client.MqttClient.acknowledge`) only after the store accepted the batch holding
it, in the order received. Its session is persistent (MQTT 5 clean start off with a session expiry, or
3.1.1 clean session off) under a stable client id, so messages not yet
acknowledged when the store or the ingester goes down stay with the broker and come again on
reconnect. Duplicates that this causes are harmless: points are idempotent (:mod:`lineproto`).

A message that can never be stored must not hold back the ones after it: a payload over
``max_payload_bytes`` is refused up front, and a batch the store refuses for its content (HTTP 400, 413,
422) is split in halves until the refused messages are alone; those go to the dead letters
(:mod:`deadletters`) and are acknowledged with the rest. A store that is down or answers otherwise
is retried with backoff, the messages unacknowledged.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import os
import socket
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import Any

from gateway import json_codec
from gateway.ingest.deadletters import DeadLetters
from gateway.ingest.lineproto import PayloadError, lines_for
from gateway.ingest.sink import LineSink, SinkError
from gateway.uplink.broker import (
    BrokerError,
    BrokerSettings,
    MqttError,
    Protocol,
    describe_connect_error,
    wants_older_protocol,
    wire_version,
)
from gateway.uplink.client import MqttClient
from gateway.uplink.tasks import first_error
from gateway.uplink.topics import (
    DEFAULT_PREFIX,
    MessageKind,
    ParsedTopic,
    TopicError,
    ingest_filters,
    parse_topic,
)

log = logging.getLogger(__name__)

DEAD_LETTER_LOG_INTERVAL_S = 60.0

RawHandler = Callable[[ParsedTopic, Any], list[str]]


def default_client_id() -> str:
    """Stable across restarts of the same ingester on the same host (the session depends on it)."""
    return f"wmbus-ingest-{socket.gethostname()}"


@dataclass(frozen=True, slots=True)
class IngestSettings:
    """Batching, session and subscription settings of the ingester."""

    prefix: str = DEFAULT_PREFIX
    group: str = "wmbus-ingest"
    # Off by default: mosquitto 2.0 forgets shared subscriptions of offline sessions when it restarts,
    # so messages published before the ingester is back would be lost (docs/timeseries.md).
    shared: bool = False
    client_id: str = field(default_factory=default_client_id)
    batch_max_lines: int = 5000
    batch_max_delay_s: float = 0.2
    receive_maximum: int = 10_000
    session_expiry_s: int = 7 * 86400
    meter_tz: tzinfo = UTC
    retry_min_s: float = 0.2
    retry_max_s: float = 30.0
    # A gateway's reading is about 1 KiB; a payload this large is refused up front (dead-lettered): the
    # line it would make could be over the store's own limit (VictoriaMetrics: 256 KiB a line).
    max_payload_bytes: int = 64 * 1024


@dataclass(slots=True)
class IngestStats:
    """What the ingester did, for logs, tests and the benchmark."""

    messages: int = 0
    points: int = 0
    malformed: int = 0
    batches: int = 0
    write_failures: int = 0
    dead_letters: int = 0
    connects: int = 0
    shared: bool | None = None
    last_error: str | None = None
    last_write_at: float | None = None


@dataclass(slots=True)
class _Batch:
    lines: list[str] = field(default_factory=list)
    acks: list[int] = field(default_factory=list)  # packet ids of the QoS 1 messages, in arrival order
    messages: int = 0
    opened_at: float = 0.0
    # (topic, payload, index of its first line) of each message, to find one the store refuses
    sources: list[tuple[bytes, bytes, int]] = field(default_factory=list)

    def line_span(self, first: int, last: int) -> list[str]:
        """The lines of messages ``first`` to ``last - 1``."""
        sources = self.sources
        end = sources[last][2] if last < len(sources) else len(self.lines)
        return self.lines[sources[first][2] : end]


class Ingester:
    """Subscribes to every gateway's readings, monthly indexes, events (and raw, with a raw handler)."""

    def __init__(
        self,
        broker: BrokerSettings,
        sink: LineSink,
        settings: IngestSettings | None = None,
        *,
        raw_handler: RawHandler | None = None,
        dead_letters: DeadLetters | None = None,
    ) -> None:
        self.broker = broker
        self.dead_letters = dead_letters
        self._dead_logged_at = -math.inf
        self._down_since: float | None = None
        self._dead_unlogged = 0
        self.sink = sink
        self.settings = settings or IngestSettings()
        self.stats = IngestStats()
        self._retry_delay_s = self.settings.retry_min_s
        self._raw_handler = raw_handler
        self._protocol = broker.protocol
        self.subscribed = asyncio.Event()
        self._batch = _Batch()
        self._batches: asyncio.Queue[_Batch] = asyncio.Queue()
        self._parse_topic = functools.lru_cache(maxsize=65536)(
            functools.partial(parse_topic, prefix=self.settings.prefix)
        )

    def filters(self) -> tuple[str, ...]:
        filters = ingest_filters(self.settings.prefix)
        return filters if self._raw_handler is not None else filters[:3]

    async def run(self) -> None:
        """Consume for ever, reconnecting with backoff; returns only when cancelled.

        An outage is one ERROR line when it begins (a changed reason later is an INFO line) and one
        INFO line when the ingester is connected again.
        """
        self._retry_delay_s = self.settings.retry_min_s
        while True:
            try:
                await self._session()
            except MqttError as err:
                if self._protocol is Protocol.AUTO and not self.stats.connects and wants_older_protocol(err):
                    log.warning("broker does not speak MQTT 5; falling back to 3.1.1")
                    self._protocol = Protocol.V311
                    continue
                self._broker_down(
                    describe_connect_error(self.broker, err, was_connected=self.subscribed.is_set())
                )
            except BrokerError as err:
                self._broker_down(str(err))
            self.subscribed.clear()
            await asyncio.sleep(self._retry_delay_s)
            self._retry_delay_s = min(self._retry_delay_s * 2, self.settings.retry_max_s)

    def _broker_down(self, message: str) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.error("%s; retrying with backoff up to %.0f s", message, self.settings.retry_max_s)
        elif message != self.stats.last_error:
            log.info("still no broker: %s", message)
        self.stats.last_error = message

    def _broker_up(self) -> None:
        self._retry_delay_s = self.settings.retry_min_s
        where = f"{self.broker.host}:{self.broker.port}"
        if self._down_since is not None:
            log.info("connected again to broker %s after %.1f s", where, time.monotonic() - self._down_since)
        elif self.stats.connects == 1:
            log.info("connected to broker %s", where)
        self._down_since = None

    async def _session(self) -> None:
        protocol = Protocol.V5 if self._protocol is Protocol.AUTO else self._protocol
        # Messages go into the open batch straight from the client's reader; set before connecting,
        # since a resumed session's messages come right after CONNACK.
        self._batch = _Batch()
        self._batches = asyncio.Queue()
        client = MqttClient(
            self.broker,
            wire_version(protocol),
            clean_start=False,
            session_expiry_s=self.settings.session_expiry_s,
            receive_maximum=self.settings.receive_maximum,
            client_id=self.settings.client_id,
            on_message=self._on_publish,
        )
        async with client:
            self.stats.connects += 1
            self._broker_up()
            self.stats.last_error = None
            if self._protocol is Protocol.AUTO:
                self._protocol = protocol
            await self._subscribe(client)
            self.subscribed.set()
            await first_error(self._writer(client), self._ticker(), client.closed())

    async def _subscribe(self, client: MqttClient) -> None:
        filters = self.filters()
        if self.settings.shared:
            codes = await client.subscribe([(f"$share/{self.settings.group}/{f}", 1) for f in filters])
            if all(code < 0x80 for code in codes):
                self.stats.shared = True
                return
            log.warning("broker refused shared subscriptions; subscribing plainly (no load sharing)")
            await client.unsubscribe([f"$share/{self.settings.group}/{f}" for f in filters])
        await client.subscribe([(f, 1) for f in filters])
        self.stats.shared = False

    def _on_publish(self, topic: bytes, payload: bytes, mid: int, qos: int) -> None:
        """Once per message in arrival order, on the event loop's thread (from the client's reader)."""
        batch = self._batch
        if not batch.messages:
            batch.opened_at = time.monotonic()
        batch.sources.append((topic, payload, len(batch.lines)))
        if len(payload) > self.settings.max_payload_bytes:
            self._dead_letter(
                topic,
                payload,
                f"payload of {len(payload)} bytes is over the limit of {self.settings.max_payload_bytes}",
            )
        else:
            batch.lines += self._lines(topic, payload)
        if qos:
            batch.acks.append(mid)
        batch.messages += 1
        if len(batch.lines) >= self.settings.batch_max_lines:
            self._hand_off()

    def _hand_off(self) -> None:
        if self._batch.messages:
            self._batches.put_nowait(self._batch)
            self._batch = _Batch()

    async def _ticker(self) -> None:
        """Hand a batch over once it is ``batch_max_delay_s`` old, full or not."""
        delay = self.settings.batch_max_delay_s
        while True:
            age = time.monotonic() - self._batch.opened_at
            if self._batch.messages and age >= delay:
                self._hand_off()
                age = 0.0
            await asyncio.sleep(max(0.005, delay - age) if self._batch.messages else delay / 4)

    def _lines(self, raw_topic: bytes, payload: bytes) -> list[str]:
        topic = ""
        try:
            topic = raw_topic.decode()
            parsed = self._parse_topic(topic)
            document = json_codec.loads(payload)  # orjson: UTF-8 only (the schema's), else ValueError
            if parsed.kind is MessageKind.RAW:
                if self._raw_handler is None:
                    raise PayloadError("raw telegram but no keys (start the ingester with --keys)")
                return self._raw_handler(parsed, document)
            return lines_for(parsed, document, self.settings.meter_tz)
        except (TopicError, PayloadError, ValueError) as err:
            # ValueError covers JSON and UTF-8 errors; a bad message must not stop the others.
            self.stats.malformed += 1
            log.warning("skipping malformed message on %s: %s", topic or repr(raw_topic), err)
        except Exception:
            # Nor may a payload that trips a bug: raising here would get it redelivered for ever.
            self.stats.malformed += 1
            log.exception(
                "skipping message on %s that could not be turned into points", topic or repr(raw_topic)
            )
        return []

    async def _writer(self, client: MqttClient) -> None:
        while True:
            batch = await self._batches.get()
            await self._store(batch)
            client.acknowledge(batch.acks)
            self.stats.messages += batch.messages
            self.stats.points += len(batch.lines)
            self.stats.batches += 1
            self.stats.last_write_at = time.monotonic()

    async def _store(self, batch: _Batch) -> None:
        """Write the batch; a part the store refuses is halved until each refused message is alone."""
        parts = [(0, len(batch.sources))]
        delay = self.settings.retry_min_s
        failing_since: float | None = None
        while parts:
            first, last = parts[0]
            try:
                await asyncio.to_thread(self.sink.write, batch.line_span(first, last))
            except SinkError as err:
                self.stats.write_failures += 1
                if err.refused:
                    parts.pop(0)
                    if last - first == 1:
                        topic, payload, _ = batch.sources[first]
                        self._dead_letter(topic, payload, f"store refused it: {err}")
                    else:
                        middle = (first + last) // 2
                        parts[0:0] = [(first, middle), (middle, last)]
                    continue
                self.stats.last_error = f"store write failed: {err}"
                if failing_since is None:
                    failing_since = time.monotonic()
                    log.error(
                        "store write failed: %s; retrying with backoff up to %.0f s, the messages stay"
                        " unacknowledged with the broker",
                        err,
                        self.settings.retry_max_s,
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.retry_max_s)
                continue
            parts.pop(0)
            if failing_since is not None:
                log.info("store accepts writes again after %.1f s", time.monotonic() - failing_since)
                self.stats.last_error = None
                failing_since = None
                delay = self.settings.retry_min_s

    def _dead_letter(self, raw_topic: bytes, payload: bytes, reason: str) -> None:
        """Keep a message that can never be stored, count it, log it (one line a minute at most)."""
        topic = raw_topic.decode(errors="replace")
        self.stats.dead_letters += 1
        if self.dead_letters is not None:
            try:
                self.dead_letters.add(topic, payload, reason)
            except sqlite3.Error as err:
                log.error("cannot keep a dead letter from %s in %s: %s", topic, self.dead_letters.path, err)
        now = time.monotonic()
        if now - self._dead_logged_at < DEAD_LETTER_LOG_INTERVAL_S:
            self._dead_unlogged += 1
            return
        more = f" (and {self._dead_unlogged} more since the last line)" if self._dead_unlogged else ""
        where = f" in {self.dead_letters.path}" if self.dead_letters is not None else ""
        log.warning("dead letter%s: message on %s not stored, acknowledged: %s%s", where, topic, reason, more)
        self._dead_logged_at = now
        self._dead_unlogged = 0


def pid_client_id(prefix: str = "wmbus-ingest") -> str:
    """A client id unique to this process (for tests and throw-away ingesters)."""
    return f"{prefix}-{socket.gethostname()}-{os.getpid()}"
