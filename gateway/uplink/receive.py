"""The ingester's receive path on aiomqtt's paho client: bulk socket reads, PUBLISH straight to a callback.

paho reads one packet per wake-up of the event loop with three or more ``recv`` calls, and turns each
MQTT 5 PUBLISH into a ``Properties`` object (about half of paho's cost per message) and an
``MQTTMessage``. The ingester needs none of that: it wants topic, payload, packet id and QoS, in
arrival order. :func:`take_over_reads` keeps paho for the connection (framing, CONNACK, SUBACK,
pings, PUBACKs, QoS 2, the session) and changes two things on one client:

- its ``recv`` is served from a buffer filled by one large ``recv`` a wake-up, and the reader goes on
  decoding the packets already buffered;
- a QoS 0/1 PUBLISH goes to ``on_publish(topic, payload, mid, qos)`` with its fields sliced out of the
  packet; QoS 2, an empty topic (an MQTT 5 topic alias, which we never allow the broker) and anything
  short go through paho's own handler, which then calls the client's ``on_message``.
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

    def read_some() -> bool:
        buffer.refills = 1
        while paho.loop_read() == MQTTErrorCode.MQTT_ERR_SUCCESS and buffer.pending:
            pass
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
        # Layout (MQTT 3.1.1 3.3.2, MQTT 5 3.3.2): topic length, topic, packet id if QoS > 0,
        # MQTT 5 properties (variable byte integer length, then the properties), payload.
        in_packet = paho._in_packet
        qos = (in_packet["command"] & 0x06) >> 1
        packet = in_packet["packet"]
        size = len(packet)
        if qos > 1 or size < 2:
            return paho_handler()
        pos = 2 + ((packet[0] << 8) | packet[1])
        topic = bytes(packet[2:pos])
        mid = 0
        if qos:
            if size < pos + 2:
                return paho_handler()
            mid = (packet[pos] << 8) | packet[pos + 1]
            pos += 2
        if v5:
            length = shift = 0
            while True:
                if pos >= size or shift > 21:
                    return paho_handler()
                byte = packet[pos]
                pos += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            pos += length
        if not topic or pos > size:
            return paho_handler()
        on_publish(topic, bytes(packet[pos:]), mid, qos)
        return success

    return handle_publish
