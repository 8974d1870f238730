"""The MQTT codec: bytes as the specifications lay them out, and malformed packets refused with a reason."""

from __future__ import annotations

import pytest

from gateway.mqtt.packets import (
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
    publish_properties,
    reason_text,
    split_packet,
)
from gateway.mqtt.properties import decode_properties, encode_properties
from gateway.mqtt.varint import MalformedPacketError, decode_varint, encode_varint


def body(packet: bytes) -> tuple[int, int, int]:
    split = split_packet(packet, 0)
    assert split is not None
    assert split[2] == len(packet)
    return split


@pytest.mark.parametrize(
    ("value", "encoded"),
    # The boundaries of one to four bytes (MQTT 5.0 1.5.5, table 1-1).
    [(0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16_383, b"\xff\x7f"), (16_384, b"\x80\x80\x01"),
     (2_097_151, b"\xff\xff\x7f"), (2_097_152, b"\x80\x80\x80\x01"), (268_435_455, b"\xff\xff\xff\x7f")],
)  # fmt: skip
def test_variable_byte_integer(value: int, encoded: bytes) -> None:
    assert encode_varint(value) == encoded
    assert decode_varint(encoded, 0, len(encoded)) == (value, len(encoded))
    assert decode_varint(encoded[:-1], 0, len(encoded) - 1) is None  # incomplete, not wrong


def test_variable_byte_integer_of_five_bytes_is_malformed() -> None:
    with pytest.raises(MalformedPacketError, match="longer than four bytes"):
        decode_varint(b"\xff\xff\xff\xff\x01", 0, 5)
    with pytest.raises(ValueError):
        encode_varint(268_435_456)


def test_connect_3_1_1_with_will_user_and_password() -> None:
    connect = Connect(
        "gw1",
        Version.V311,
        keepalive_s=30,
        username="u",
        password="pw",
        will=Will("s/t", b"off", qos=1, retain=True),
    )
    expected_body = (
        b"\x00\x04MQTT\x04"
        # user name, password, will retain, will QoS 1, will flag, clean session
        + bytes([0x80 | 0x40 | 0x20 | 0x08 | 0x04 | 0x02])
        + b"\x00\x1e"
        + b"\x00\x03gw1"
        + b"\x00\x03s/t\x00\x03off"
        + b"\x00\x01u\x00\x02pw"
    )
    assert encode_connect(connect) == bytes([0x10, len(expected_body)]) + expected_body


def test_connect_5_has_session_expiry_receive_maximum_and_will_properties() -> None:
    connect = Connect(
        "ingest",
        Version.V5,
        keepalive_s=60,
        clean_start=False,
        session_expiry_s=604_800,
        receive_maximum=10_000,
        will=Will("s", b"x", properties={0x01: 1}),
    )
    packet = encode_connect(connect)
    first, start, _ = body(packet)
    assert first == 0x10
    assert packet[start : start + 7] == b"\x00\x04MQTT\x05"
    assert packet[start + 7] == 0x08 | 0x04  # will QoS 1 and will flag; not clean; no user
    # properties: session expiry 604800, receive maximum 10000
    assert packet[start + 10 : start + 19] == b"\x08\x11\x00\x09\x3a\x80\x21\x27\x10"
    assert packet[start + 19 :] == b"\x00\x06ingest" + b"\x02\x01\x01" + b"\x00\x01s\x00\x01x"


def test_password_without_user_is_left_out_in_3_1_1_only() -> None:
    v311 = encode_connect(Connect("c", Version.V311, password="pw"))
    v5 = encode_connect(Connect("c", Version.V5, password="pw"))
    assert not v311[9] & 0x40 and b"pw" not in v311
    assert v5[9] & 0x40 and v5.endswith(b"\x00\x02pw")


@pytest.mark.parametrize("version", [Version.V311, Version.V5])
@pytest.mark.parametrize("size", [0, 100, 200, 20_000, 3_000_000])
def test_publish_round_trip(version: Version, size: int) -> None:
    v5 = version is Version.V5
    properties = publish_properties(utf8=True, content_type="application/json") if v5 else b""
    payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    packet = encode_publish(b"wmbus/gw/meters/1/reading", payload, 513, retain=True, properties=properties)
    first, start, end = body(packet)
    assert first == 0x33  # PUBLISH, QoS 1, retain
    assert decode_publish(first, packet, start, end, v5) == (b"wmbus/gw/meters/1/reading", payload, 513, 1)
    if v5:
        # payload format indicator 1, content type "application/json"
        assert properties == b"\x15\x01\x01\x03\x00\x10application/json"


def test_qos0_publish_has_no_packet_id() -> None:
    packet = encode_publish(b"a", b"p", 0, qos=0)
    assert packet == b"\x30\x04\x00\x01ap"
    assert decode_publish(packet[0], packet, 2, len(packet), False) == (b"a", b"p", 0, 0)


def test_packets_split_from_a_stream_only_when_complete() -> None:
    stream = encode_publish(b"a/b", b"x" * 300, 1) + b"\x40\x02\x00\x07" + b"\xd0\x00"
    first, start, end = body(stream[: len(stream) - 6])
    assert (first, start) == (0x32, 3)  # a two-byte remaining length
    assert split_packet(stream, end) == (0x40, end + 2, end + 4)
    assert split_packet(stream, end + 4) == (0xD0, end + 6, end + 6)
    for cut in range(end):
        assert split_packet(stream[:cut], 0) is None


def test_remaining_length_over_four_bytes_is_malformed() -> None:
    with pytest.raises(MalformedPacketError, match="four bytes"):
        split_packet(b"\x30\xff\xff\xff\xff\x01", 0)


def test_pubacks_and_acks_with_reasons() -> None:
    assert encode_pubacks([5, 65535, 300]) == b"\x40\x02\x00\x05\x40\x02\xff\xff\x40\x02\x01\x2c"
    assert decode_ack(b"\x00\x05", 0, 2) == (5, 0)
    assert decode_ack(b"\x00\x05\x10", 0, 3) == (5, 0x10)  # no matching subscribers: a success
    assert decode_ack(b"\x00\x05\x87\x00", 0, 4) == (5, 0x87)
    assert decode_ack(b"\x00\x05\x97\x05\x1f\x00\x02no", 0, 9) == (5, 0x97)
    assert reason_text(0x87, Version.V5) == "not authorized (0x87)"


def test_connack() -> None:
    assert decode_connack(b"\x00\x00", 0, 2, Version.V311).code == 0
    refused = decode_connack(b"\x00\x05", 0, 2, Version.V311)
    assert refused.code == 5 and reason_text(5, Version.V311, connack=True) == "not authorized (0x05)"
    # A 3.1.1 broker answering an MQTT 5 CONNECT: 2 bytes, "unacceptable protocol version".
    assert decode_connack(b"\x00\x01", 0, 2, Version.V5).code == 1
    # MQTT 5: session present, success; receive maximum 20, server keep alive 15, reason string
    data = b"\x01\x00" + b"\x0b\x21\x00\x14\x13\x00\x0f\x1f\x00\x02ok"
    connack = decode_connack(data, 0, len(data), Version.V5)
    assert connack.session_present and connack.code == 0
    assert (connack.receive_maximum, connack.server_keepalive_s, connack.reason_string) == (20, 15, "ok")
    assert decode_connack(b"\x00\x00\x00", 0, 3, Version.V5).receive_maximum == 65535


def test_subscribe_unsubscribe_and_their_acks() -> None:
    packet = encode_subscribe(10, [("$share/g/a/#", 1), ("b", 0)], Version.V5)
    assert packet == b"\x82\x16\x00\x0a\x00" + b"\x00\x0c$share/g/a/#\x01" + b"\x00\x01b\x00"
    assert encode_subscribe(10, [("b", 1)], Version.V311) == b"\x82\x06\x00\x0a\x00\x01b\x01"
    assert encode_unsubscribe(11, ["b"], Version.V311) == b"\xa2\x05\x00\x0b\x00\x01b"
    assert decode_suback(b"\x00\x0a\x00\x01\x80", 0, 5, Version.V5) == (10, [1, 0x80])
    assert decode_suback(b"\x00\x0a\x01", 0, 3, Version.V311) == (10, [1])
    assert decode_suback(b"\x00\x0b", 0, 2, Version.V311, "UNSUBACK") == (11, [])


def test_disconnect() -> None:
    assert encode_disconnect(Version.V311) == b"\xe0\x00"
    assert encode_disconnect(Version.V5) == b"\xe0\x00"
    assert encode_disconnect(Version.V5, 0x04) == b"\xe0\x02\x04\x00"
    assert decode_disconnect(b"", 0, 0) == (0, None)
    assert decode_disconnect(b"\x8e\x06\x1f\x00\x03why", 0, 8) == (0x8E, "why")


def test_properties_round_trip() -> None:
    properties = {0x01: 1, 0x02: 3600, 0x03: "application/json", 0x0B: 300, 0x09: b"\x00\x01", 0x21: 20}
    encoded = encode_properties(properties)
    assert decode_properties(encoded, 0, len(encoded)) == (properties, len(encoded))
    pairs = b"\x26\x00\x01a\x00\x01b\x26\x00\x01a\x00\x01c"
    data = bytes([len(pairs)]) + pairs
    assert decode_properties(data, 0, len(data))[0] == {0x26: [("a", "b"), ("a", "c")]}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x01\x07", "unknown property 0x07"),
        (b"\x04\x21\x00\x14\x21", "runs past"),
        (b"\x06\x21\x00\x14\x21\x00\x15", "given twice"),
        (b"\x05\x03\x00\x02\xc3\x28", "not UTF-8"),
        (b"\x09\x01", "properties run past the packet"),
    ],
)
def test_malformed_properties(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedPacketError, match=reason):
        decode_properties(data, 0, len(data))


@pytest.mark.parametrize(
    ("first", "data", "v5", "reason"),
    [
        (0x32, b"\x00", False, "without a topic length"),
        (0x32, b"\x00\x09a/b", False, "topic runs past"),
        (0x32, b"\x00\x00\x00\x01", False, "empty topic"),
        (0x32, b"\x00\x01a\x00", False, "without a packet identifier"),
        (0x32, b"\x00\x01a\x00\x00", False, "packet identifier 0"),
        (0x36, b"\x00\x01a\x00\x01", False, "QoS 3"),
        (0x32, b"\x00\x01a\x00\x01\x05\x01", True, "properties run past"),
        (0x32, b"\x00\x01a\x00\x01\x80", True, "property length runs past"),
    ],
)
def test_malformed_publish(first: int, data: bytes, v5: bool, reason: str) -> None:
    with pytest.raises(MalformedPacketError, match=reason) as caught:
        decode_publish(first, data, 0, len(data), v5)
    assert caught.value.reason and caught.value.offset is not None


@pytest.mark.parametrize(
    ("first", "reason"),
    [(0x00, "type 0 is reserved"), (0x41, "PUBACK with flags 0x1"), (0x80, "SUBSCRIBE with flags 0x0"),
     (0x36, "QoS 3"), (0xD2, "PINGRESP with flags 0x2")],
)  # fmt: skip
def test_malformed_fixed_header(first: int, reason: str) -> None:
    with pytest.raises(MalformedPacketError, match=reason):
        packet_type(first)


def test_packet_types() -> None:
    assert packet_type(0x82) is PacketType.SUBSCRIBE
    assert packet_type(0x3B) is PacketType.PUBLISH  # dup, QoS 1, retain


def test_malformed_acks() -> None:
    with pytest.raises(MalformedPacketError, match="PUBACK shorter"):
        decode_ack(b"\x00", 0, 1)
    with pytest.raises(MalformedPacketError, match="SUBACK without reason codes"):
        decode_suback(b"\x00\x01", 0, 2, Version.V311)
    with pytest.raises(MalformedPacketError, match="CONNACK flags"):
        decode_connack(b"\x02\x00", 0, 2, Version.V311)
    with pytest.raises(MalformedPacketError, match="longer than 2"):
        decode_connack(b"\x00\x00\x00", 0, 3, Version.V311)
