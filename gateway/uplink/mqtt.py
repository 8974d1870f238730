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
import time
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiomqtt

from gateway.uplink.broker import (
    BrokerError,
    BrokerSettings,
    Protocol,
    describe_connect_error,
    json_publish_properties,
    make_client,
    wants_older_protocol,
)
from gateway.uplink.messages import encode, status_body
from gateway.uplink.outbox import Outbox, StoredMessage
from gateway.uplink.tasks import first_error
from gateway.uplink.topics import MessageKind, Topics

log = logging.getLogger(__name__)

StatusProvider = Callable[[], Mapping[str, Any]]


@dataclass(slots=True)
class PublisherStats:
    """Counters for the status message and the tests."""

    connected: bool = False
    connects: int = 0
    published: int = 0
    acked: int = 0
    last_error: str | None = None
    protocol: str | None = None
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

    def _will(self) -> aiomqtt.Will:
        properties = json_publish_properties() if self._protocol is not Protocol.V311 else None
        return aiomqtt.Will(
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
                except aiomqtt.MqttError as err:
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
        client = make_client(self.broker, protocol, will=self._will(), max_inflight=self._max_inflight)
        async with client:
            self.stats.connected = True
            self.stats.connects += 1
            self.stats.last_error = None
            self.stats.protocol = protocol.value
            if self._protocol is Protocol.AUTO:
                self._protocol = protocol
            properties = json_publish_properties() if protocol is Protocol.V5 else None
            log.info("connected to %s:%s (MQTT %s)", self.broker.host, self.broker.port, protocol.value)
            await client.publish(
                self.topics.status(),
                self._status_payload("online"),
                qos=1,
                retain=True,
                properties=properties,
            )
            self.connected_event.set()
            try:
                await first_error(
                    self._watch_disconnect(client),
                    self._status_loop(client, properties),
                    self._drain(client, properties),
                )
            except asyncio.CancelledError:
                # A clean stop says so; the will covers the unclean ones.
                with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                    await asyncio.wait_for(
                        client.publish(
                            self.topics.status(),
                            self._status_payload("offline"),
                            qos=1,
                            retain=True,
                            properties=properties,
                        ),
                        timeout=2.0,
                    )
                raise

    async def _watch_disconnect(self, client: aiomqtt.Client) -> None:
        # The messages iterator is aiomqtt's public way to learn that the connection dropped.
        async for _ in client.messages:
            pass
        raise aiomqtt.MqttError("disconnected")

    async def _status_loop(self, client: aiomqtt.Client, properties: Any) -> None:
        while True:
            await asyncio.sleep(self._status_interval_s)
            await client.publish(
                self.topics.status(),
                self._status_payload("online"),
                qos=1,
                retain=True,
                properties=properties,
                timeout=self._publish_timeout_s,
            )

    async def _drain(self, client: aiomqtt.Client, properties: Any) -> None:
        plan = _DrainPlan(self.outbox)
        plan.start()
        slots = asyncio.Semaphore(self._max_inflight)
        group = _Sends(on_error=self._wakeup.set)
        tokens = 0.0
        last = time.monotonic()
        try:
            while True:
                self._wakeup.clear()
                now = time.monotonic()
                tokens = min(tokens + (now - last) * self._backlog_rate, max(self._backlog_rate, 1.0))
                last = now
                batch = plan.live(self._max_inflight)
                if not plan.backlog_done and tokens >= 1:
                    backlog = plan.backlog(int(min(tokens, self._max_inflight)))
                    tokens -= len(backlog)
                    batch += backlog
                for message in batch:
                    await slots.acquire()
                    group.start(self._send(client, message, properties, slots))
                group.check()
                self.outbox.flush_acks()
                if not batch:
                    if plan.backlog_done:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._wakeup.wait(), timeout=1.0)
                    else:
                        await asyncio.sleep(max(0.005, (1 - tokens) / max(self._backlog_rate, 1e-3)))
                else:
                    await asyncio.sleep(0)
        finally:
            group.cancel()

    async def _send(
        self, client: aiomqtt.Client, message: StoredMessage, properties: Any, slots: asyncio.Semaphore
    ) -> None:
        try:
            self.stats.published += 1
            await client.publish(
                message.topic,
                message.payload,
                qos=1,
                retain=message.retain,
                properties=properties,
                timeout=self._publish_timeout_s,
            )
        finally:
            slots.release()
        self.stats.acked += 1
        by_kind = self.stats.acked_by_kind
        by_kind[message.kind.value] = by_kind.get(message.kind.value, 0) + 1
        self.outbox.ack(message.seq)
        if self._on_ack is not None:
            self._on_ack(message)


class _Sends:
    """The publishes in flight on one connection; the first failure ends the connection."""

    def __init__(self, on_error: Callable[[], None]) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._error: BaseException | None = None
        self._on_error = on_error

    def start(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None and self._error is None:
            self._error = task.exception()
            self._on_error()

    def check(self) -> None:
        if self._error is not None:
            raise self._error

    def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()
