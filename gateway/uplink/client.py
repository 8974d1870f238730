"""A small MQTT client on asyncio's public transport API, for the publisher and the ingester.

API::

    client = MqttClient(settings, Version.V5, will=Will(...), on_ack=acked)
    async with client:                         # CONNECT; ConnectRefusedError / MqttError when it fails
        client.publish(topic, payload, retain=True, token=message)   # QoS 1; on_ack(token, reason)
        await client.publish_and_wait(topic, payload, timeout_s=30)  # the PUBACK's reason code
        await client.subscribe([("a/#", 1)])   # reason codes; PUBLISH then goes to on_message
        client.acknowledge([packet_id, ...])   # manual PUBACKs (the broker re-sends what is not acked)
        await client.closed()                  # raises ConnectionLostError when the connection drops

Why our own: the publisher and the ingester move thousands of QoS 1 messages a second, and
aiomqtt (a task, an Event and a ``wait_for`` per publish) with paho (MQTT 5 properties as objects
both ways) spend 330 us of CPU a message; aiomqtt has no manual acknowledgement (aiomqtt#345).
Here a publish is one ``bytes`` formatting and a dict entry, acknowledgements come back through
one callback, and the writes of one turn of the event loop go out in one ``write``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import ssl
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from gateway.mqtt.packets import (
    PINGREQ,
    ConnAck,
    Connect,
    PacketType,
    Version,
    Will,
    decode_ack,
    decode_connack,
    decode_disconnect,
    decode_publish,
    decode_suback,
    encode_connect,
    encode_disconnect,
    encode_pubacks,
    encode_publish,
    encode_subscribe,
    encode_unsubscribe,
    packet_type,
    reason_text,
    split_packet,
)
from gateway.mqtt.varint import MalformedPacketError
from gateway.uplink.broker import BrokerSettings, ConnectionLostError, ConnectRefusedError, MqttError

log = logging.getLogger(__name__)

AckHandler = Callable[[Any, int], None]  # (token given to publish, reason code: 0 or >= 0x80 refused)
MessageHandler = Callable[[bytes, bytes, int, int], None]  # topic, payload, packet id, QoS


class MqttClient:
    """One connection to a broker: CONNECT, QoS 0/1 PUBLISH, SUBSCRIBE, manual PUBACK, keep-alive."""

    def __init__(
        self,
        settings: BrokerSettings,
        version: Version,
        *,
        will: Will | None = None,
        clean_start: bool = True,
        session_expiry_s: int = 0,
        receive_maximum: int = 0,
        client_id: str | None = None,
        on_ack: AckHandler | None = None,
        on_message: MessageHandler | None = None,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self.settings = settings
        self.version = version
        self.connack: ConnAck | None = None
        self._v5 = version is Version.V5
        self._connect = Connect(
            client_id=client_id or settings.client_id or f"wmbus-{secrets.token_hex(6)}",
            version=version,
            keepalive_s=settings.keepalive_s,
            clean_start=clean_start,
            username=settings.user,
            password=settings.password(),
            will=will,
            session_expiry_s=session_expiry_s,
            receive_maximum=receive_maximum,
        )
        self._tls = settings.tls_context()
        self._on_ack = on_ack
        self._on_message = on_message
        self._connect_timeout_s = connect_timeout_s
        self._transport: asyncio.Transport | None = None
        self._rest = b""
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._inflight: dict[int, Any] = {}  # packet id -> token (or Future) of a QoS 1 PUBLISH
        self._requests: dict[int, asyncio.Future[list[int]]] = {}  # SUBSCRIBE / UNSUBSCRIBE
        self._last_id = 0
        self._connack: asyncio.Future[ConnAck] | None = None
        self._closed: asyncio.Future[None] | None = None
        self._writable = asyncio.Event()
        self._writable.set()
        self._last_write = self._last_read = 0.0
        self._keepalive: asyncio.Task[None] | None = None
        self._closing = False

    # --- connecting ------------------------------------------------------------------------------

    async def __aenter__(self) -> MqttClient:
        await self.connect()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is None or issubclass(kind, asyncio.CancelledError):
            self.close()  # a clean stop says goodbye: the broker then keeps the will to itself
        else:
            self.abort()

    async def connect(self) -> ConnAck:
        """Open the connection, send CONNECT and wait for CONNACK; raises ConnectRefusedError or MqttError."""
        loop = asyncio.get_running_loop()
        self._connack = loop.create_future()
        self._closed = loop.create_future()
        self._closed.add_done_callback(_retrieve)
        host, port = self.settings.host, self.settings.port
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                await loop.create_connection(
                    lambda: _Wire(self),
                    host,
                    port,
                    ssl=self._tls,
                    server_hostname=host if self._tls else None,
                )
                self._write(encode_connect(self._connect))
                connack = await self._connack
        except TimeoutError:
            self.abort()
            raise MqttError(f"no CONNACK within {self._connect_timeout_s:.0f} s") from None
        except (OSError, ssl.SSLError) as err:
            self.abort()
            raise MqttError(str(err) or type(err).__name__) from err
        except BaseException:
            self.abort()
            raise
        if connack.code:
            self.abort()
            raise ConnectRefusedError(connack.code, self.version, connack.reason_string)
        self.connack = connack
        keepalive = (
            connack.server_keepalive_s
            if connack.server_keepalive_s is not None
            else self._connect.keepalive_s
        )
        if keepalive:
            self._keepalive = loop.create_task(self._keep_alive(keepalive))
        return connack

    @property
    def send_quota(self) -> int:
        """How many QoS 1 messages the broker takes in flight at once (MQTT 5 Receive Maximum)."""
        return self.connack.receive_maximum if self.connack is not None else 65535

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    async def disconnect(self) -> None:
        """Send DISCONNECT (the will is not published) and close."""
        self.close()

    def close(self) -> None:
        """Send DISCONNECT (the will is not published) and close, without waiting."""
        self._closing = True
        if self._transport is not None and not self._transport.is_closing():
            self._write(encode_disconnect(self.version))
            self._flush()
            self._transport.close()
        self._stop_keepalive()

    def abort(self) -> None:
        """Close at once, without DISCONNECT (the broker publishes the will)."""
        self._closing = True
        if self._transport is not None:
            self._transport.abort()
        self._stop_keepalive()

    async def closed(self) -> None:
        """Wait until the connection ends; raises ConnectionLostError with the reason."""
        assert self._closed is not None, "not connected"
        await asyncio.shield(self._closed)

    # --- publishing ------------------------------------------------------------------------------

    def publish(
        self, topic: str, payload: bytes, *, retain: bool = False, token: Any = None, properties: bytes = b""
    ) -> None:
        """Send a QoS 1 PUBLISH; ``on_ack(token, reason)`` is called when its PUBACK comes.

        ``properties``: an MQTT 5 property block (:func:`gateway.mqtt.packets.publish_properties`);
        ignored with 3.1.1. The caller keeps within :attr:`send_quota`.
        """
        packet_id = self._next_id()
        self._inflight[packet_id] = token
        self._write(
            encode_publish(
                topic.encode(),
                payload,
                packet_id,
                retain=retain,
                properties=(properties or b"\x00") if self._v5 else b"",
            )
        )

    async def publish_and_wait(
        self,
        topic: str,
        payload: bytes,
        *,
        retain: bool = False,
        properties: bytes = b"",
        timeout_s: float = 30.0,
    ) -> int:
        """Send a QoS 1 PUBLISH and wait for its PUBACK; returns the reason code."""
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.publish(topic, payload, retain=retain, token=done, properties=properties)
        async with asyncio.timeout(timeout_s):
            return await done

    async def writable(self) -> None:
        """Wait while the transport's write buffer is over its high-water mark."""
        await self._writable.wait()

    # --- subscribing and receiving ---------------------------------------------------------------

    async def subscribe(self, filters: Sequence[tuple[str, int]], timeout_s: float = 10.0) -> list[int]:
        """SUBSCRIBE to (filter, maximum QoS) pairs; the reason code per filter (>= 0x80: refused)."""
        packet_id = self._next_id()
        return await self._request(packet_id, encode_subscribe(packet_id, filters, self.version), timeout_s)

    async def unsubscribe(self, filters: Sequence[str], timeout_s: float = 10.0) -> list[int]:
        packet_id = self._next_id()
        return await self._request(packet_id, encode_unsubscribe(packet_id, filters, self.version), timeout_s)

    def acknowledge(self, packet_ids: Sequence[int]) -> None:
        """PUBACK these received QoS 1 messages (in the order given, one write)."""
        if packet_ids:
            self._write(encode_pubacks(packet_ids))

    # --- internals -------------------------------------------------------------------------------

    async def _request(self, packet_id: int, packet: bytes, timeout_s: float) -> list[int]:
        done: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._requests[packet_id] = done
        self._write(packet)
        try:
            async with asyncio.timeout(timeout_s):
                return await done
        finally:
            self._requests.pop(packet_id, None)

    def _next_id(self) -> int:
        if self._closed is None or self._closed.done():
            raise ConnectionLostError("not connected")
        packet_id = self._last_id
        inflight, requests = self._inflight, self._requests
        for _ in range(0x10000):
            packet_id = packet_id + 1 if packet_id < 0xFFFF else 1
            if packet_id not in inflight and packet_id not in requests:
                self._last_id = packet_id
                return packet_id
        raise MqttError("all 65,535 packet identifiers are in use")

    def _write(self, packet: bytes) -> None:
        self._out.append(packet)
        if not self._flush_scheduled and self._transport is not None:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._out and self._transport is not None and not self._transport.is_closing():
            data = b"".join(self._out) if len(self._out) > 1 else self._out[0]
            self._out.clear()
            self._transport.write(data)
            self._last_write = time.monotonic()
        else:
            self._out.clear()

    async def _keep_alive(self, keepalive_s: int) -> None:
        """PINGREQ when nothing was sent for half the interval; no answer for a whole one ends it."""
        interval = keepalive_s / 2
        while True:
            await asyncio.sleep(interval / 2)
            now = time.monotonic()
            if now - self._last_read > keepalive_s * 1.5:
                self._lost(ConnectionLostError(f"no answer from the broker for {keepalive_s * 1.5:.0f} s"))
                return
            if now - self._last_write >= interval:
                self._write(PINGREQ)

    def _stop_keepalive(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None

    def _lost(self, error: MqttError) -> None:
        """The connection is over: fail whatever waits on it."""
        if self._closed is not None and not self._closed.done():
            if self._closing:
                self._closed.set_result(None)
            else:
                self._closed.set_exception(error)
        if self._connack is not None and not self._connack.done():
            self._connack.set_exception(error)
        for token in self._inflight.values():
            if isinstance(token, asyncio.Future) and not token.done():
                token.set_exception(error)
        self._inflight.clear()
        for request in self._requests.values():
            if not request.done():
                request.set_exception(error)
        self._writable.set()
        self._stop_keepalive()
        if self._transport is not None:
            self._transport.abort()

    def _received(self, data: bytes) -> None:
        self._last_read = time.monotonic()
        if self._rest:
            data = self._rest + data
        pos = 0
        size = len(data)
        try:
            while pos < size:
                packet = split_packet(data, pos)
                if packet is None:
                    break
                first, start, end = packet
                kind = first >> 4
                if first == 0x40 and end - start == 2:  # PUBACK, success: the publisher's hot path
                    self._acked((data[start] << 8) | data[start + 1], 0)
                elif kind == 3:
                    self._publish_received(first, data, start, end)
                else:
                    self._control(first, data, start, end)
                pos = end
        except _BrokerDisconnectError as err:
            self._rest = b""
            self._lost(ConnectionLostError(str(err)))
            return
        except MalformedPacketError as err:
            self._rest = b""
            log.warning("malformed packet from broker %s:%s: %s", self.settings.host, self.settings.port, err)
            self._lost(ConnectionLostError(f"malformed packet from the broker: {err}"))
            return
        self._rest = data[pos:] if pos < size else b""

    def _acked(self, packet_id: int, reason: int) -> None:
        try:
            token = self._inflight.pop(packet_id)
        except KeyError:
            raise MalformedPacketError(
                f"PUBACK for packet identifier {packet_id}, which is not in flight"
            ) from None
        if isinstance(token, asyncio.Future):
            if not token.done():
                token.set_result(reason)
        elif self._on_ack is not None:
            self._on_ack(token, reason)

    def _publish_received(self, first: int, data: bytes, start: int, end: int) -> None:
        topic, payload, packet_id, qos = decode_publish(first, data, start, end, self._v5)
        if qos == 2:
            raise MalformedPacketError(
                "QoS 2 PUBLISH, though every subscription asked for QoS 1 at most", start
            )
        if self._on_message is None:
            if qos:
                self.acknowledge([packet_id])
            return
        self._on_message(topic, payload, packet_id, qos)

    def _control(self, first: int, data: bytes, start: int, end: int) -> None:
        kind = packet_type(first)
        if kind is PacketType.PUBACK:
            self._acked(*decode_ack(data, start, end))
        elif kind is PacketType.CONNACK:
            if self._connack is None or self._connack.done():
                raise MalformedPacketError("a second CONNACK", start)
            self._connack.set_result(decode_connack(data, start, end, self.version))
        elif kind in (PacketType.SUBACK, PacketType.UNSUBACK):
            packet_id, codes = decode_suback(data, start, end, self.version, kind.name)
            request = self._requests.get(packet_id)
            if request is None:
                raise MalformedPacketError(
                    f"{kind.name} for packet identifier {packet_id}, which was not asked", start
                )
            if not request.done():
                request.set_result(codes)
        elif kind is PacketType.PINGRESP:
            if end != start:
                raise MalformedPacketError("PINGRESP with a body", start)
        elif kind is PacketType.DISCONNECT and self._v5:
            reason, text = decode_disconnect(data, start, end)
            described = reason_text(reason, self.version)
            raise _BrokerDisconnectError(
                f"the broker disconnected: {described}" + (f": {text}" if text else "")
            )
        else:
            raise MalformedPacketError(f"unexpected {kind.name} from the broker", start)


class _BrokerDisconnectError(Exception):
    """A DISCONNECT from the broker: it ends the connection."""


class _Wire(asyncio.Protocol):
    """asyncio's side of a connection: hands bytes and events to the client."""

    def __init__(self, client: MqttClient) -> None:
        self._client = client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        client = self._client
        client._transport = transport
        client._last_read = client._last_write = time.monotonic()

    def data_received(self, data: bytes) -> None:
        self._client._received(data)

    def eof_received(self) -> bool | None:
        return None  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        reason = str(exc) if exc is not None else "the broker closed the connection"
        self._client._lost(ConnectionLostError(reason or type(exc).__name__))

    def pause_writing(self) -> None:
        self._client._writable.clear()

    def resume_writing(self) -> None:
        self._client._writable.set()


def _retrieve(future: asyncio.Future[None]) -> None:
    # Whoever does not wait for the end must not get "exception was never retrieved".
    if not future.cancelled():
        future.exception()
