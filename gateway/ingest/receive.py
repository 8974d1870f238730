"""The ingester's receive path on aiomqtt's paho client: bulk socket reads, PUBLISH straight to a callback.

paho reads one packet per wake-up of the event loop with three or more ``recv`` calls, and turns each
MQTT 5 PUBLISH into a ``Properties`` object (about half of paho's cost per message) and an
``MQTTMessage``. The ingester needs none of that: it wants topic, payload, packet id and QoS, in
arrival order. :func:`take_over_reads` keeps paho for the connection (CONNACK, SUBACK, pings, QoS 2,
the session, all writes) and changes how one client reads:

- one large ``recv`` a wake-up fills a buffer, and paho's own small ``recv`` calls are served from it;
- complete QoS 0/1 PUBLISH packets at the head of the buffer (while paho is between packets) go to
  ``on_publish(topic, payload, mid, qos)``, their fields sliced out of the buffer; paho reads
  everything else, and a PUBLISH it reads (the one cut by a buffer's end) takes the same way out.
  QoS 2, an empty topic (an MQTT 5 topic alias, which we never allow the broker) and malformed
  packets are left to paho's own handler, which calls the client's ``on_message``.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable, Sequence

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

PublishHandler = Callable[[bytes, bytes, int, int], None]

RECV_BYTES = 64 * 1024  # about a hundred readings a wake-up: the writer is never kept waiting long


class RecvBuffer:
    """Serves paho's small ``recv`` calls from one large read of the socket.

    It refills at most :attr:`refills` times (once a wake-up), so that a long backlog does not keep
    the event loop from the other tasks; paho keeps a packet cut at the end as partial and returns.
    """

    __slots__ = ("_data", "_pos", "_recv", "refills")

    def __init__(self, recv: Callable[[int], bytes]) -> None:
        self._recv = recv
        self._data = b""
        self._pos = 0
        self.refills = 0

    @property
    def pending(self) -> int:
        return len(self._data) - self._pos

    def recv(self, size: int) -> bytes:
        data, pos = self._data, self._pos
        if pos >= len(data):
            if not self.refills:
                raise BlockingIOError
            self.refills -= 1
            data = self._recv(RECV_BYTES)  # BlockingIOError when empty, b"" at the end of the stream
            pos = 0
            self._data = data
        end = min(pos + size, len(data))
        self._pos = end
        return data[pos:end]

    def take_publishes(self, v5: bool, on_publish: PublishHandler) -> None:
        """Hand the complete QoS 0/1 PUBLISH packets at the head of the buffer to ``on_publish``."""
        data, pos = self._data, self._pos
        size = len(data)
        while pos < size and data[pos] & 0xF0 == 0x30:
            # Fixed header: type and flags, then the remaining length (variable byte integer).
            remaining = _variable_int(data, pos + 1, size)
            if remaining is None:
                return
            length, start = remaining
            end = start + length
            if end > size:
                return
            fields = _publish_fields(data[pos], data, start, end, v5)
            if fields is None:
                return
            self._pos = pos = end
            on_publish(*fields)


def supported(paho: mqtt.Client) -> bool:
    """Whether this paho has the internals the fast path relies on (paho-mqtt 2.x does)."""
    return all(hasattr(paho, name) for name in ("_sock_recv", "_handle_publish", "_in_packet", "_protocol"))


def take_over_reads(client: aiomqtt.Client, on_publish: PublishHandler) -> bool:
    """On a connected client: bulk reads, and QoS 0/1 PUBLISH to ``on_publish``; False if unsupported."""
    paho = client._client
    sock = paho.socket()
    if sock is None:
        raise aiomqtt.MqttError("disconnected")
    if not supported(paho):
        return False
    read_some = install(paho, on_publish)
    loop = asyncio.get_running_loop()

    def read() -> None:
        try:
            if read_some():
                loop.call_soon(read)
        except Exception as err:  # as aiomqtt's own reader: a failing read ends the connection
            if not client._disconnected.done():
                client._disconnected.set_exception(err)

    loop.add_reader(sock.fileno(), read)  # replaces aiomqtt's reader of this socket
    return True


def install(paho: mqtt.Client, on_publish: PublishHandler) -> Callable[[], bool]:
    """Give a paho client (connected, socket open) the buffer and PUBLISH handler.

    Returns what to call when its socket is readable: it decodes up to one buffer of packets and
    says whether to call it again without waiting for the socket (TLS holds decrypted bytes).
    """
    sock = paho.socket()
    buffer = RecvBuffer(paho._sock_recv)
    paho._sock_recv = buffer.recv  # type: ignore[method-assign,assignment]
    paho._handle_publish = _publish_handler(paho, on_publish)  # type: ignore[method-assign]
    pending_tls = getattr(sock, "pending", None)
    v5 = paho._protocol == mqtt.MQTTv5

    def read_some() -> bool:
        buffer.refills = 1
        while True:
            if not paho._in_packet["command"]:  # paho is between packets
                buffer.take_publishes(v5, on_publish)
            if paho.loop_read() != MQTTErrorCode.MQTT_ERR_SUCCESS or not buffer.pending:
                break
        return pending_tls is not None and paho.socket() is sock and pending_tls() > 0

    return read_some


def acknowledge(paho: mqtt.Client, acks: Sequence[tuple[int, int]]) -> None:
    """Send the acknowledgements of ``(packet id, QoS)`` pairs in order, QoS 1 PUBACKs in one write.

    paho queues and sends every PUBACK on its own (a packet, a ``send`` each); the bytes on the wire
    are the same when they go out together: ``0x40 0x02 id``, MQTT 3.1.1 and 5 alike (reason code
    omitted = success).
    """
    queue = getattr(paho, "_packet_queue", None)
    if queue is None or any(qos != 1 for _, qos in acks):
        for mid, qos in acks:
            paho.ack(mid, qos)
        return
    if acks:
        pubacks = b"".join([_PUBACK.pack(0x40, 2, mid) for mid, _ in acks])
        queue(0x40, pubacks, 0, 0)


_PUBACK = struct.Struct("!BBH")


def _publish_handler(paho: mqtt.Client, on_publish: PublishHandler) -> Callable[[], MQTTErrorCode]:
    paho_handler = paho._handle_publish
    v5 = paho._protocol == mqtt.MQTTv5
    success = MQTTErrorCode.MQTT_ERR_SUCCESS

    def handle_publish() -> MQTTErrorCode:
        in_packet = paho._in_packet
        packet = bytes(in_packet["packet"])
        fields = _publish_fields(in_packet["command"], packet, 0, len(packet), v5)
        if fields is None:
            return paho_handler()
        on_publish(*fields)
        return success

    return handle_publish


def _publish_fields(
    header: int, data: bytes, start: int, end: int, v5: bool
) -> tuple[bytes, bytes, int, int] | None:
    """Topic, payload, packet id and QoS of a QoS 0/1 PUBLISH in ``data[start:end]``; None: paho's."""
    # Layout (MQTT 3.1.1 and 5, 3.3.2): topic length, topic, packet id if QoS > 0, MQTT 5
    # properties (variable byte integer length, then the properties), payload.
    qos = (header & 0x06) >> 1
    if qos > 1 or end - start < 2:
        return None
    pos = start + 2 + ((data[start] << 8) | data[start + 1])
    if pos > end:
        return None
    topic = data[start + 2 : pos]
    mid = 0
    if qos:
        if pos + 2 > end:
            return None
        mid = (data[pos] << 8) | data[pos + 1]
        pos += 2
    if v5:
        properties = _variable_int(data, pos, end)
        if properties is None:
            return None
        length, pos = properties
        pos += length
    if not topic or pos > end:
        return None
    return topic, data[pos:end], mid, qos


def _variable_int(data: bytes, pos: int, end: int) -> tuple[int, int] | None:
    """An MQTT variable byte integer (1.5.5) at ``pos``: (value, the position after it); None when it
    runs past ``end`` or over four bytes."""
    value = shift = 0
    while True:
        if pos >= end or shift > 21:
            return None
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos
