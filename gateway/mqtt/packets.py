"""MQTT control packets as bytes, both ways: what a client sends and what it receives (3.1.1 and 5).

Written from the OASIS specifications (MQTT 3.1.1, section 2-3; MQTT 5.0, section 2-3). Only what a
client needs: CONNECT, PUBLISH (QoS 0/1), PUBACK, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT out;
CONNACK, PUBLISH, PUBACK, SUBACK, UNSUBACK, PINGRESP, DISCONNECT in. Decoders take the packet's body
as ``data[start:end]`` (the fixed header already split off by :func:`split_packet`), so a buffer of
many packets is decoded without copying it, and raise :class:`MalformedPacketError` with the reason.

The hot paths (a PUBLISH out, a PUBACK in; a PUBLISH in, PUBACKs out) build and read bytes directly;
the rest uses small dataclasses.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from gateway.mqtt.properties import (
    CONTENT_TYPE,
    PAYLOAD_FORMAT_INDICATOR,
    RECEIVE_MAXIMUM,
    SESSION_EXPIRY_INTERVAL,
    decode_properties,
    encode_properties,
)
from gateway.mqtt.varint import MalformedPacketError, decode_varint, encode_varint


class Version(IntEnum):
    """The protocol level byte of CONNECT."""

    V311 = 4
    V5 = 5


class PacketType(IntEnum):
    """The upper four bits of a packet's first byte."""

    CONNECT = 1
    CONNACK = 2
    PUBLISH = 3
    PUBACK = 4
    PUBREC = 5
    PUBREL = 6
    PUBCOMP = 7
    SUBSCRIBE = 8
    SUBACK = 9
    UNSUBSCRIBE = 10
    UNSUBACK = 11
    PINGREQ = 12
    PINGRESP = 13
    DISCONNECT = 14
    AUTH = 15


# The flags every packet but PUBLISH must carry in the low four bits of its first byte (3.1.1 2.2.2).
_FLAGS = {PacketType.PUBREL: 2, PacketType.SUBSCRIBE: 2, PacketType.UNSUBSCRIBE: 2}

PINGREQ = b"\xc0\x00"
MAX_PACKET_ID = 0xFFFF

_U16 = struct.Struct("!H")
_PUBACK = struct.Struct("!BBH")


def packet_type(first_byte: int) -> PacketType:
    """The type of a packet from its first byte; MalformedPacketError for a reserved type or wrong flags."""
    kind = first_byte >> 4
    if kind == 0:
        raise MalformedPacketError("packet type 0 is reserved")
    packet = PacketType(kind)
    if packet is PacketType.PUBLISH:
        if first_byte & 0x06 == 0x06:
            raise MalformedPacketError("PUBLISH with QoS 3")
    elif first_byte & 0x0F != _FLAGS.get(packet, 0):
        raise MalformedPacketError(f"{packet.name} with flags {first_byte & 0x0F:#x}")
    return packet


def split_packet(data: bytes, pos: int) -> tuple[int, int, int] | None:
    """The packet at ``data[pos:]``: (first byte, body start, body end); None while it is incomplete."""
    size = len(data)
    if pos + 1 >= size:
        return None
    # The remaining length, a variable byte integer (1.5.5 / 2.2.3), inlined: this runs per packet.
    byte = data[pos + 1]
    if byte < 0x80:
        start = pos + 2
        end = start + byte
    else:
        value = decode_varint(data, pos + 1, min(size, pos + 5))
        if value is None:
            if size - pos - 1 >= 4:
                raise MalformedPacketError("remaining length longer than four bytes", pos + 1)
            return None
        length, start = value
        end = start + length
    return (data[pos], start, end) if end <= size else None


# --- CONNECT / CONNACK ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Will:
    """The message the broker publishes for a client that goes away without DISCONNECT."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False
    properties: dict[int, Any] = field(default_factory=dict)  # MQTT 5 only


@dataclass(frozen=True, slots=True)
class Connect:
    """What a client asks for when it connects."""

    client_id: str
    version: Version = Version.V5
    keepalive_s: int = 60
    clean_start: bool = True
    username: str | None = None
    password: str | None = None
    will: Will | None = None
    session_expiry_s: int = 0  # MQTT 5; 3.1.1 keeps a session (clean session off) until it is cleaned
    receive_maximum: int = 0  # MQTT 5; 0: not sent (the broker then assumes 65,535)


def encode_connect(connect: Connect) -> bytes:
    v5 = connect.version is Version.V5
    flags = 0x02 if connect.clean_start else 0
    payload = [_string(connect.client_id)]
    will = connect.will
    if will is not None:
        flags |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
        if v5:
            payload.append(encode_properties(will.properties))
        payload += [_string(will.topic), _binary(will.payload)]
    if connect.username is not None:
        flags |= 0x80
        payload.append(_string(connect.username))
    # 3.1.1 allows a password only with a user name (3.1.2.9); MQTT 5 allows it alone.
    if connect.password is not None and (v5 or connect.username is not None):
        flags |= 0x40
        payload.append(_binary(connect.password.encode()))
    header = [_string("MQTT"), bytes((connect.version, flags)), _U16.pack(connect.keepalive_s)]
    if v5:
        properties: dict[int, Any] = {}
        if connect.session_expiry_s:
            properties[SESSION_EXPIRY_INTERVAL] = connect.session_expiry_s
        if connect.receive_maximum:
            properties[RECEIVE_MAXIMUM] = connect.receive_maximum
        header.append(encode_properties(properties))
    return _packet(0x10, b"".join(header + payload))


# CONNACK codes: 3.1.1 return codes (3.2.2.3) and MQTT 5 reason codes (3.2.2.2).
CONNACK_V311 = {
    1: "unacceptable protocol version",
    2: "identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}
REASONS_V5 = {
    0x04: "disconnect with will message",
    0x10: "no matching subscribers",
    0x80: "unspecified error",
    0x81: "malformed packet",
    0x82: "protocol error",
    0x83: "implementation specific error",
    0x84: "unsupported protocol version",
    0x85: "client identifier not valid",
    0x86: "bad user name or password",
    0x87: "not authorized",
    0x88: "server unavailable",
    0x89: "server busy",
    0x8A: "banned",
    0x8B: "server shutting down",
    0x8C: "bad authentication method",
    0x8D: "keep alive timeout",
    0x8E: "session taken over",
    0x8F: "topic filter invalid",
    0x90: "topic name invalid",
    0x91: "packet identifier in use",
    0x92: "packet identifier not found",
    0x93: "receive maximum exceeded",
    0x94: "topic alias invalid",
    0x95: "packet too large",
    0x96: "message rate too high",
    0x97: "quota exceeded",
    0x98: "administrative action",
    0x99: "payload format invalid",
    0x9A: "retain not supported",
    0x9B: "QoS not supported",
    0x9C: "use another server",
    0x9D: "server moved",
    0x9E: "shared subscriptions not supported",
    0x9F: "connection rate exceeded",
    0xA0: "maximum connect time",
    0xA1: "subscription identifiers not supported",
    0xA2: "wildcard subscriptions not supported",
}


def reason_text(code: int, version: Version, *, connack: bool = False) -> str:
    """A reason or return code as the specification names it, with the number."""
    if connack and (version is Version.V311 or code in CONNACK_V311):
        name = CONNACK_V311.get(code, "refused")
    else:
        name = REASONS_V5.get(code, "success" if code < 0x80 else "error")
    return f"{name} ({code:#04x})"


@dataclass(frozen=True, slots=True)
class ConnAck:
    """The broker's answer to CONNECT, with the MQTT 5 limits it sets for this connection."""

    session_present: bool
    code: int  # 0: accepted
    receive_maximum: int = 65535
    maximum_qos: int = 2
    server_keepalive_s: int | None = None
    assigned_client_id: str | None = None
    reason_string: str | None = None
    shared_subscriptions: bool = True


def decode_connack(data: bytes, start: int, end: int, version: Version) -> ConnAck:
    if end - start < 2:
        raise MalformedPacketError("CONNACK shorter than 2 bytes", start)
    flags, code = data[start], data[start + 1]
    if flags & 0xFE:
        raise MalformedPacketError(f"CONNACK flags {flags:#x}", start)
    # A 3.1.1 broker answers an MQTT 5 CONNECT with a 3.1.1 CONNACK (2 bytes, code 1): no properties.
    if version is Version.V311 or end - start == 2:
        if end - start != 2:
            raise MalformedPacketError("3.1.1 CONNACK longer than 2 bytes", start)
        return ConnAck(bool(flags), code)
    properties, _ = decode_properties(data, start + 2, end)
    return ConnAck(
        session_present=bool(flags),
        code=code,
        receive_maximum=properties.get(RECEIVE_MAXIMUM, 65535),
        maximum_qos=properties.get(0x24, 2),
        server_keepalive_s=properties.get(0x13),
        assigned_client_id=properties.get(0x12),
        reason_string=properties.get(0x1F),
        shared_subscriptions=bool(properties.get(0x2A, 1)),
    )


# --- PUBLISH / PUBACK ----------------------------------------------------------------------------


def publish_properties(*, utf8: bool = False, content_type: str | None = None) -> bytes:
    """An MQTT 5 PUBLISH property block (length included) to give :func:`encode_publish`."""
    properties: dict[int, Any] = {}
    if utf8:
        properties[PAYLOAD_FORMAT_INDICATOR] = 1
    if content_type is not None:
        properties[CONTENT_TYPE] = content_type
    return encode_properties(properties)


def encode_publish(
    topic: bytes,
    payload: bytes,
    packet_id: int,
    *,
    qos: int = 1,
    retain: bool = False,
    properties: bytes = b"",
) -> bytes:
    """A PUBLISH; ``properties`` is MQTT 5's encoded block (at least ``b"\\x00"``), empty for 3.1.1."""
    if qos:
        variable = b"%s%s%s%s" % (_U16.pack(len(topic)), topic, _U16.pack(packet_id), properties)
    else:
        variable = b"%s%s%s" % (_U16.pack(len(topic)), topic, properties)
    length = len(variable) + len(payload)
    first = 0x30 | (qos << 1) | retain
    if length < 0x80:
        return b"%c%c%s%s" % (first, length, variable, payload)
    return b"%c%s%s%s" % (first, encode_varint(length), variable, payload)


def decode_publish(
    first_byte: int, data: bytes, start: int, end: int, v5: bool
) -> tuple[bytes, bytes, int, int]:
    """Topic, payload, packet id (0 for QoS 0) and QoS of a PUBLISH body; its MQTT 5 properties skipped.

    An empty topic (an MQTT 5 topic alias, which a client that sets no Topic Alias Maximum never gets)
    is malformed here.
    """
    qos = (first_byte >> 1) & 0x03
    if qos == 3:
        raise MalformedPacketError("PUBLISH with QoS 3", start)
    if end - start < 2:
        raise MalformedPacketError("PUBLISH without a topic length", start)
    pos = start + 2 + ((data[start] << 8) | data[start + 1])
    if pos > end:
        raise MalformedPacketError("PUBLISH topic runs past the packet", start)
    if pos == start + 2:
        raise MalformedPacketError("PUBLISH with an empty topic", start)
    topic = data[start + 2 : pos]
    packet_id = 0
    if qos:
        if pos + 2 > end:
            raise MalformedPacketError("PUBLISH without a packet identifier", pos)
        packet_id = (data[pos] << 8) | data[pos + 1]
        if not packet_id:
            raise MalformedPacketError("PUBLISH with packet identifier 0", pos)
        pos += 2
    if v5:
        if pos < end and data[pos] < 0x80:
            pos += 1 + data[pos]
        else:
            value = decode_varint(data, pos, end)
            if value is None:
                raise MalformedPacketError("PUBLISH property length runs past the packet", pos)
            pos = value[1] + value[0]
        if pos > end:
            raise MalformedPacketError("PUBLISH properties run past the packet", pos)
    return topic, data[pos:end], packet_id, qos


def encode_pubacks(packet_ids: Iterable[int]) -> bytes:
    """PUBACKs (success) for the packet ids, one after the other: the same bytes in 3.1.1 and 5."""
    pack = _PUBACK.pack
    return b"".join([pack(0x40, 2, packet_id) for packet_id in packet_ids])


def decode_ack(data: bytes, start: int, end: int, name: str = "PUBACK") -> tuple[int, int]:
    """Packet id and reason code (0: success) of a PUBACK (or another packet id + reason body)."""
    size = end - start
    if size == 2:
        return (data[start] << 8) | data[start + 1], 0
    if size < 2:
        raise MalformedPacketError(f"{name} shorter than 2 bytes", start)
    if size > 3:
        decode_properties(data, start + 3, end)
    return (data[start] << 8) | data[start + 1], data[start + 2]


# --- SUBSCRIBE / UNSUBSCRIBE ---------------------------------------------------------------------


def encode_subscribe(packet_id: int, filters: Sequence[tuple[str, int]], version: Version) -> bytes:
    """SUBSCRIBE for (topic filter, maximum QoS) pairs."""
    if not filters:
        raise ValueError("SUBSCRIBE needs at least one topic filter")
    parts = [_U16.pack(packet_id)]
    if version is Version.V5:
        parts.append(b"\x00")
    for topic_filter, qos in filters:
        parts += [_string(topic_filter), bytes((qos,))]
    return _packet(0x82, b"".join(parts))


def encode_unsubscribe(packet_id: int, filters: Sequence[str], version: Version) -> bytes:
    if not filters:
        raise ValueError("UNSUBSCRIBE needs at least one topic filter")
    parts = [_U16.pack(packet_id)]
    if version is Version.V5:
        parts.append(b"\x00")
    parts += [_string(topic_filter) for topic_filter in filters]
    return _packet(0xA2, b"".join(parts))


def decode_suback(
    data: bytes, start: int, end: int, version: Version, name: str = "SUBACK"
) -> tuple[int, list[int]]:
    """Packet id and the reason code per filter (SUBACK: granted QoS 0-2, or >= 0x80 refused).

    An MQTT 3.1.1 UNSUBACK has no codes: the list is empty.
    """
    if end - start < 2:
        raise MalformedPacketError(f"{name} shorter than 2 bytes", start)
    packet_id = (data[start] << 8) | data[start + 1]
    pos = start + 2
    if version is Version.V5:
        _, pos = decode_properties(data, pos, end)
    codes = list(data[pos:end])
    if name == "SUBACK" and not codes:
        raise MalformedPacketError("SUBACK without reason codes", pos)
    return packet_id, codes


# --- DISCONNECT ----------------------------------------------------------------------------------


def encode_disconnect(version: Version, reason: int = 0) -> bytes:
    """DISCONNECT; with MQTT 5, reason 0 (normal: the will is not published) is sent as no reason."""
    if version is Version.V5 and reason:
        return bytes((0xE0, 2, reason, 0))
    return b"\xe0\x00"


def decode_disconnect(data: bytes, start: int, end: int) -> tuple[int, str | None]:
    """Reason code and reason string of a broker's MQTT 5 DISCONNECT."""
    if end == start:
        return 0, None
    reason_string = None
    if end - start > 1:
        properties, _ = decode_properties(data, start + 1, end)
        reason_string = properties.get(0x1F)
    return data[start], reason_string


# --- building blocks -----------------------------------------------------------------------------


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes((first_byte,)) + encode_varint(len(body)) + body


def _string(text: str) -> bytes:
    return _binary(text.encode())


def _binary(data: bytes) -> bytes:
    if len(data) > 0xFFFF:
        raise ValueError("MQTT strings and binary data are at most 65,535 bytes")
    return _U16.pack(len(data)) + data
