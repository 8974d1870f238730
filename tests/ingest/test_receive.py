"""The ingester's receive path on a paho client over a socket pair: decoding, partial reads, PUBACKs."""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion, _ConnectionState
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.ingest.receive import RECV_BYTES, RecvBuffer, acknowledge, install, supported

Received = tuple[bytes, bytes, int, int]


def _vbi(value: int) -> bytes:
    out = bytearray()
    while True:
        value, digit = divmod(value, 128)
        out.append(digit | (0x80 if value else 0))
        if not value:
            return bytes(out)


def publish_packet(
    topic: str, payload: bytes, *, mid: int = 0, qos: int = 1, properties: bytes = b""
) -> bytes:
    """A PUBLISH as the broker sends it; ``properties`` given means MQTT 5 (length prefixed)."""
    body = struct.pack("!H", len(topic.encode())) + topic.encode()
    if qos:
        body += struct.pack("!H", mid)
    body += properties + payload
    return bytes([0x30 | qos << 1]) + _vbi(len(body)) + body


def v5_properties(*, json_content: bool) -> bytes:
    if not json_content:
        return b"\x00"
    properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    properties.PayloadFormatIndicator = 1
    properties.ContentType = "application/json"
    packed: bytes = properties.pack()  # type: ignore[no-untyped-call]
    return packed


class Connected:
    """A paho client whose socket is one end of a pair; the test writes the broker's side."""

    def __init__(self, protocol: MQTTProtocolVersion) -> None:
        self.broker, ours = socket.socketpair()
        self.broker.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        ours.setblocking(False)
        self.broker.settimeout(5)
        self.paho = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=protocol)
        self.paho.manual_ack_set(True)
        self.paho._sock = ours
        self.paho._state = _ConnectionState.MQTT_CS_CONNECTED
        self.received: list[Received] = []
        self.from_paho: list[Received] = []
        self.paho.on_message = lambda _c, _u, m: self.from_paho.append(
            (m._topic, bytes(m.payload), m.mid, m.qos)
        )
        self.read_some = install(self.paho, lambda *message: self.received.append(message))

    def feed(self, data: bytes) -> None:
        self.broker.sendall(data)
        self.read_some()

    def close(self) -> None:
        self.broker.close()
        if self.paho._sock is not None:
            self.paho._sock.close()


@pytest.fixture(params=[mqtt.MQTTv5, mqtt.MQTTv311], ids=["mqtt5", "mqtt311"])
def connected(request: pytest.FixtureRequest) -> Iterator[Connected]:
    client = Connected(request.param)
    yield client
    client.close()


def messages(v5: bool) -> tuple[list[bytes], list[Received]]:
    packets, expected = [], []
    for n in range(40):
        topic = f"wmbus/gw{n % 3}/meters/{n:08d}/reading"
        payload = b'{"n":%d}' % n + b"x" * (n * 37 % 300)
        qos = 0 if n % 5 == 4 else 1
        mid = 0 if qos == 0 else 1000 + n
        properties = v5_properties(json_content=n % 2 == 0) if v5 else b""
        packets.append(publish_packet(topic, payload, mid=mid, qos=qos, properties=properties))
        expected.append((topic.encode(), payload, mid, qos))
    return packets, expected


def test_paho_has_what_the_fast_path_needs(connected: Connected) -> None:
    assert supported(connected.paho)


def test_publishes_in_one_read_reach_the_handler_in_order(connected: Connected) -> None:
    packets, expected = messages(connected.paho._protocol == mqtt.MQTTv5)
    connected.feed(b"".join(packets))
    assert connected.received == expected
    assert connected.from_paho == []


def test_publishes_cut_anywhere_are_reassembled(connected: Connected) -> None:
    packets, expected = messages(connected.paho._protocol == mqtt.MQTTv5)
    stream = b"".join(packets)
    step = 7
    for start in range(0, len(stream), step):
        connected.feed(stream[start : start + step])
    assert connected.received == expected


def test_other_packets_between_publishes_go_to_paho(connected: Connected) -> None:
    packets, expected = messages(connected.paho._protocol == mqtt.MQTTv5)
    connected.paho._ping_t = 1.0  # waiting for a PINGRESP
    connected.feed(b"".join(packets[:10]) + b"\xd0\x00" + b"".join(packets[10:]))
    assert connected.paho._ping_t == 0
    assert connected.received == expected


def test_malformed_publish_is_paho_s_protocol_error(connected: Connected) -> None:
    good = publish_packet(
        "a/b", b"{}", mid=1, properties=b"\x00" if connected.paho._protocol == mqtt.MQTTv5 else b""
    )
    bad = b"\x32\x04\x00\x09ab"  # topic length 9 in a 4-byte packet
    connected.feed(good + bad + good)
    assert connected.received == [(b"a/b", b"{}", 1, 1)]
    assert connected.paho._sock is None  # paho dropped the connection


def test_qos2_goes_through_paho(connected: Connected) -> None:
    properties = b"\x00" if connected.paho._protocol == mqtt.MQTTv5 else b""
    connected.feed(
        publish_packet("wmbus/gw/meters/00000001/reading", b"{}", mid=7, qos=2, properties=properties)
    )
    # paho answers PUBREC and keeps the message until PUBREL, then hands it to on_message.
    connected.paho.loop_write()
    assert connected.broker.recv(64)[:1] == b"\x50"
    connected.feed(b"\x62\x02\x00\x07")  # PUBREL 7
    assert connected.received == []
    assert connected.from_paho == [(b"wmbus/gw/meters/00000001/reading", b"{}", 7, 2)]


def test_large_backlog_is_read_a_buffer_per_wake_up() -> None:
    client = Connected(mqtt.MQTTv5)
    try:
        packet = publish_packet("t/x", b"y" * 1000, mid=1, properties=b"\x00")
        client.broker.setblocking(False)
        sent = 0
        with contextlib.suppress(BlockingIOError):
            while True:
                client.broker.sendall(packet)
                sent += 1
        assert sent * len(packet) > RECV_BYTES
        client.read_some()
        # The event loop gets its turn before the whole backlog is decoded, a buffer later.
        assert 0 < len(client.received) <= RECV_BYTES // len(packet) + 1
        while len(client.received) < sent:
            client.read_some()
        assert client.received == [(b"t/x", b"y" * 1000, 1, 1)] * sent
    finally:
        client.close()


def test_acknowledge_sends_pubacks_in_order_in_one_write(connected: Connected) -> None:
    acknowledge(connected.paho, [(5, 1), (65535, 1), (300, 1)])
    connected.paho.loop_write()
    assert connected.broker.recv(64) == b"\x40\x02\x00\x05\x40\x02\xff\xff\x40\x02\x01\x2c"


def test_acknowledge_leaves_qos2_to_paho(connected: Connected) -> None:
    acknowledge(connected.paho, [(5, 1), (6, 2)])
    connected.paho.loop_write()
    assert connected.broker.recv(64) == b"\x40\x02\x00\x05\x70\x02\x00\x06"  # PUBACK 5, PUBCOMP 6


def test_buffer_refills_only_as_often_as_allowed() -> None:
    chunks = [b"abcdef", b"gh"]

    def recv(size: int) -> bytes:
        if not chunks:
            raise BlockingIOError
        return chunks.pop(0)

    buffer = RecvBuffer(recv)
    with pytest.raises(BlockingIOError):
        buffer.recv(1)
    buffer.refills = 1
    assert [buffer.recv(1), buffer.recv(2), buffer.recv(10)] == [b"a", b"bc", b"def"]
    assert buffer.pending == 0
    with pytest.raises(BlockingIOError):
        buffer.recv(1)
    buffer.refills = 1
    assert buffer.recv(5) == b"gh"
