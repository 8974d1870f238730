"""The MQTT publisher: drains the outbox with QoS 1, deletes on PUBACK, keeps the status topic.

API (the daemon's side)::

    publisher = MqttPublisher(outbox, BrokerSettings(url="mqtt://broker:1883"), Topics("gw1"),
                              version=__version__, status=lambda: {"sources": ..., "counters": ...})
    task = asyncio.create_task(publisher.run())   # forever; reconnects with backoff

On connect it publishes ``online`` on the retained status topic; the broker publishes the last
will (``offline``, retained) when the gateway dies. After a reconnect the messages that were
pending at connect time (the backlog) drain oldest first at ``backlog_rate_per_s``, while messages
put since (live traffic) go at once, except for a meter whose backlog is not sent yet: its new
messages wait behind it, so every meter's messages reach the broker in the order they were put.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.mqtt.packets import Version, Will, publish_properties, reason_text
from gateway.mqtt.properties import CONTENT_TYPE, PAYLOAD_FORMAT_INDICATOR
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
from gateway.uplink.messages import encode, status_body
from gateway.uplink.outbox import Outbox, StoredMessage
from gateway.uplink.tasks import first_error
from gateway.uplink.topics import MessageKind, Topics

log = logging.getLogger(__name__)

StatusProvider = Callable[[], Mapping[str, Any]]

# MQTT 5: every payload is UTF-8 JSON (payload format indicator, content type), status and will alike.
JSON_PROPERTIES: dict[int, Any] = {PAYLOAD_FORMAT_INDICATOR: 1, CONTENT_TYPE: "application/json"}
PUBLISH_PROPERTIES = publish_properties(utf8=True, content_type="application/json")
REFUSED_LOG_INTERVAL_S = 60.0


@dataclass(slots=True)
class PublisherStats:
    """Counters for the status message and the tests."""

    connected: bool = False
    connects: int = 0
    published: int = 0
    acked: int = 0
    last_error: str | None = None
    protocol: str | None = None
    refused: int = 0  # acknowledged with an MQTT 5 error reason (dropped: the broker will not take them)
    acked_by_kind: dict[str, int] = field(default_factory=dict)  # outbox messages acknowledged, per kind

    def to_json(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "connects": self.connects,
            "published": self.published,
            "acked": self.acked,
            "last_error": self.last_error,
            "protocol": self.protocol,
        }


@dataclass(slots=True)
class _DrainPlan:
    """Which pending messages go next on one connection: live first, backlog behind a rate limit."""

    outbox: Outbox
    boundary: int = 0
    backlog_cursor: int = 0
    live_cursor: int = 0
    backlog_left: dict[str, int] = field(default_factory=dict)
    deferred: dict[str, list[int]] = field(default_factory=dict)
    released: deque[int] = field(default_factory=deque)
    reading_back: bool = False

    def start(self) -> None:
        self.outbox.reset_recent()
        self.reading_back = False
        self.boundary = self.outbox.max_seq()
        self.backlog_cursor = 0
        self.live_cursor = self.boundary
        self.backlog_left = self.outbox.pending_per_meter(self.boundary)

    @property
    def backlog_done(self) -> bool:
        return self.backlog_cursor >= self.boundary

    def live(self, limit: int) -> list[StoredMessage]:
        """Messages put since connect whose meter has no backlog left, plus released ones."""
        out: list[StoredMessage] = []
        if self.released:
            seqs = [self.released.popleft() for _ in range(min(limit, len(self.released)))]
            out += self.outbox.fetch_seqs(seqs)
        if len(out) >= limit:
            return out
        fresh = None if self.reading_back else self.outbox.take_recent(self.live_cursor)
        if fresh is None:
            # Fresh messages were not all kept in memory: read them back until caught up.
            fresh = self.outbox.fetch_range(self.live_cursor, None, limit - len(out))
            self.reading_back = bool(fresh)
            if not self.reading_back:
                self.outbox.reset_recent()
        for message in fresh:
            self.live_cursor = message.seq
            if message.meter_id is not None and message.meter_id in self.backlog_left:
                self.deferred.setdefault(message.meter_id, []).append(message.seq)
            else:
                out.append(message)
        return out

    def backlog(self, limit: int) -> list[StoredMessage]:
        """The next backlog messages in order; each meter's deferred live messages follow its last one."""
        out: list[StoredMessage] = []
        batch = self.outbox.fetch_range(self.backlog_cursor, self.boundary, limit)
        for message in batch:
            self.backlog_cursor = message.seq
            out.append(message)
            meter = message.meter_id
            if meter is not None and meter in self.backlog_left:
                self.backlog_left[meter] -= 1
                if self.backlog_left[meter] <= 0:
                    del self.backlog_left[meter]
                    out += self.outbox.fetch_seqs(self.deferred.pop(meter, []))
        if len(batch) < limit:
            # Backlog exhausted (some of it may have been dropped): nothing holds live traffic back.
            self.backlog_cursor = self.boundary
            for meter in list(self.deferred):
                self.released.extend(self.deferred.pop(meter))
            self.backlog_left.clear()
        return out


class MqttPublisher:
    """Publishes the outbox to one broker, for ever, reconnecting with backoff."""

    def __init__(
        self,
        outbox: Outbox,
        broker: BrokerSettings,
        topics: Topics,
        *,
        version: str = "0",
        status: StatusProvider | None = None,
        max_inflight: int = 100,
        backlog_rate_per_s: float = 1000.0,
        status_interval_s: float = 60.0,
        reconnect_min_s: float = 0.2,
        reconnect_max_s: float = 30.0,
        publish_timeout_s: float = 30.0,
        on_ack: Callable[[StoredMessage], None] | None = None,
    ) -> None:
        self.outbox = outbox
        self.broker = broker
        self.topics = topics
        self.version = version
        self.stats = PublisherStats()
        self._status = status
        self._max_inflight = max_inflight
        self._backlog_rate = backlog_rate_per_s
        self._status_interval_s = status_interval_s
        self._reconnect_min_s = reconnect_min_s
        self._reconnect_max_s = reconnect_max_s
        self._publish_timeout_s = publish_timeout_s
        self._on_ack = on_ack
        self._protocol = broker.protocol
        self._wakeup = asyncio.Event()
        self._sending: _Sending | None = None
        self._refused_logged_at = -math.inf
        self.connected_event = asyncio.Event()

    def _status_payload(self, state: str) -> bytes:
        extra = dict(self._status()) if self._status is not None and state == "online" else {}
        body = status_body(
            state,
            self.version,
            sources=extra.get("sources"),
            counters={**extra.get("counters", {}), "uplink": self.stats.to_json()}
            if state == "online"
            else {},
            coverage=extra.get("coverage"),
            outbox=self.outbox.stats().to_json() if state == "online" else {},
        )
        return encode(MessageKind.STATUS, self.topics.gateway, body)

    def _will(self) -> Will:
        properties = JSON_PROPERTIES if self._protocol is not Protocol.V311 else {}
        return Will(
            self.topics.status(), self._status_payload("offline"), qos=1, retain=True, properties=properties
        )

    async def run(self) -> None:
        """Connect, publish, reconnect; returns only when cancelled."""
        delay = self._reconnect_min_s
        loop = asyncio.get_running_loop()

        def wake() -> None:  # called by the outbox's writer thread after a commit
            loop.call_soon_threadsafe(self._wakeup.set)

        self.outbox.add_listener(wake)
        try:
            while True:
                try:
                    await self._session()
                    delay = self._reconnect_min_s
                except MqttError as err:
                    if (
                        self._protocol is Protocol.AUTO
                        and not self.stats.connects
                        and wants_older_protocol(err)
                    ):
                        log.warning("broker does not speak MQTT 5; falling back to 3.1.1")
                        self._protocol = Protocol.V311
                        continue
                    message = describe_connect_error(self.broker, err, was_connected=self.stats.connected)
                    if message != self.stats.last_error:
                        log.error("%s; retrying", message)
                    self.stats.last_error = message
                except BrokerError as err:
                    self.stats.last_error = str(err)
                    log.error("%s; retrying", err)
                finally:
                    self.stats.connected = False
                    self.connected_event.clear()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._reconnect_max_s)
        finally:
            self.outbox.remove_listener(wake)
            self.outbox.flush_acks()

    async def _session(self) -> None:
        protocol = Protocol.V5 if self._protocol is Protocol.AUTO else self._protocol
        client = MqttClient(self.broker, wire_version(protocol), will=self._will(), on_ack=self._acked)
        async with client:
            self.stats.connected = True
            self.stats.connects += 1
            self.stats.last_error = None
            self.stats.protocol = protocol.value
            if self._protocol is Protocol.AUTO:
                self._protocol = protocol
            properties = PUBLISH_PROPERTIES if protocol is Protocol.V5 else b""
            log.info("connected to %s:%s (MQTT %s)", self.broker.host, self.broker.port, protocol.value)
            await self._publish_status(client, "online", properties)
            self.connected_event.set()
            try:
                await first_error(
                    client.closed(),
                    self._status_loop(client, properties),
                    self._drain(client, properties),
                )
            except asyncio.CancelledError:
                # A clean stop says so; the will covers the unclean ones.
                with contextlib.suppress(MqttError, TimeoutError):
                    await self._publish_status(client, "offline", properties, timeout_s=2.0)
                raise

    async def _publish_status(
        self, client: MqttClient, state: str, properties: bytes, timeout_s: float | None = None
    ) -> None:
        reason = await client.publish_and_wait(
            self.topics.status(),
            self._status_payload(state),
            retain=True,
            properties=properties,
            timeout_s=timeout_s or self._publish_timeout_s,
        )
        if reason >= 0x80:
            self._refused(self.topics.status(), reason)

    async def _status_loop(self, client: MqttClient, properties: bytes) -> None:
        while True:
            await asyncio.sleep(self._status_interval_s)
            await self._publish_status(client, "online", properties)

    async def _drain(self, client: MqttClient, properties: bytes) -> None:
        """Keep the window of outbox messages in flight and as many queued behind it.

        Each PUBACK sends the next queued message at once (:meth:`_acked`), so the connection carries
        data both ways all the time; this loop only refills the queue from the outbox.
        """
        plan = _DrainPlan(self.outbox)
        plan.start()
        # One slot stays free for the status message, within what the broker takes (Receive Maximum).
        window = max(1, min(self._max_inflight, client.send_quota - 1))
        self._sending = _Sending(client, properties, window)
        sending = self._sending
        queue = sending.queue
        tokens = 0.0
        last = time.monotonic()
        try:
            while True:
                self._wakeup.clear()
                room = 2 * window - sending.in_flight - len(queue)
                fetched = 0
                if room > 0:
                    now = time.monotonic()
                    tokens = min(tokens + (now - last) * self._backlog_rate, max(self._backlog_rate, 1.0))
                    last = now
                    live = plan.live(room)
                    queue.extend(live)
                    fetched = len(live)
                    if not plan.backlog_done and tokens >= 1 and fetched < room:
                        backlog = plan.backlog(int(min(tokens, room - fetched)))
                        tokens -= len(backlog)
                        queue.extend(backlog)
                        fetched += len(backlog)
                self.stats.published += sending.pump()
                self.outbox.flush_acks()
                if fetched and room - fetched > 0:
                    await asyncio.sleep(0)  # more may be waiting in the outbox
                elif queue:
                    await client.writable()
                    await self._wakeup.wait()  # set by _acked when the queue runs low
                elif plan.backlog_done:
                    # asyncio.timeout, not wait_for: Python 3.11's wait_for swallows a cancellation
                    # that comes as the event is set, and the publisher then never stops.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(1.0):
                            await self._wakeup.wait()
                else:
                    await asyncio.sleep(max(0.005, (1 - tokens) / max(self._backlog_rate, 1e-3)))
        finally:
            self._sending = None

    def _acked(self, message: StoredMessage, reason: int) -> None:
        """A PUBACK for an outbox message (called by the client as it reads): it leaves the outbox."""
        sending = self._sending
        if sending is not None:
            sending.in_flight -= 1
            if sending.queue:
                self.stats.published += sending.pump()
            if len(sending.queue) <= sending.low_water:
                self._wakeup.set()
        if reason >= 0x80:
            self._refused(message.topic, reason)
        stats = self.stats
        stats.acked += 1
        by_kind = stats.acked_by_kind
        kind = message.kind.value
        by_kind[kind] = by_kind.get(kind, 0) + 1
        self.outbox.ack(message.seq)
        if self._on_ack is not None:
            self._on_ack(message)

    def _refused(self, topic: str, reason: int) -> None:
        """The broker refused a message (MQTT 5 PUBACK reason >= 0x80): sending it again would not help."""
        self.stats.refused += 1
        now = time.monotonic()
        if now - self._refused_logged_at >= REFUSED_LOG_INTERVAL_S:
            self._refused_logged_at = now
            log.warning(
                "broker %s:%s refused a message on %s: %s (dropped; %d refused so far)",
                self.broker.host,
                self.broker.port,
                topic,
                reason_text(reason, Version.V5),
                self.stats.refused,
            )


class _Sending:
    """The outbox messages of one connection: those in flight, and a queue that PUBACKs pull from."""

    __slots__ = ("client", "in_flight", "low_water", "properties", "queue", "window")

    def __init__(self, client: MqttClient, properties: bytes, window: int) -> None:
        self.client = client
        self.properties = properties
        self.window = window
        self.low_water = window // 2
        self.in_flight = 0
        self.queue: deque[StoredMessage] = deque()

    def pump(self) -> int:
        """Send queued messages while the window has room; how many were sent."""
        queue, window = self.queue, self.window
        count = min(len(queue), window - self.in_flight)
        if count <= 0:
            return 0
        publish, properties = self.client.publish, self.properties
        for _ in range(count):
            message = queue.popleft()
            publish(
                message.topic, message.payload, retain=message.retain, token=message, properties=properties
            )
        self.in_flight += count
        return count
