"""MQTT 5 properties (5.0 section 2.2.2): identifier, then a value whose type the identifier fixes."""

from __future__ import annotations

import struct
from collections.abc import Mapping
from enum import Enum
from typing import Any

from gateway.mqtt.varint import MalformedPacketError, decode_varint, encode_varint

PAYLOAD_FORMAT_INDICATOR = 0x01
CONTENT_TYPE = 0x03
SESSION_EXPIRY_INTERVAL = 0x11
RECEIVE_MAXIMUM = 0x21
USER_PROPERTY = 0x26


class Kind(Enum):
    BYTE = 1
    U16 = 2
    U32 = 4
    VARINT = 0
    STRING = 5
    BINARY = 6
    STRING_PAIR = 7


# Every property the specification defines (2.2.2.2); an identifier not here is a malformed packet.
KINDS: dict[int, Kind] = {
    0x01: Kind.BYTE,  # Payload Format Indicator
    0x02: Kind.U32,  # Message Expiry Interval
    0x03: Kind.STRING,  # Content Type
    0x08: Kind.STRING,  # Response Topic
    0x09: Kind.BINARY,  # Correlation Data
    0x0B: Kind.VARINT,  # Subscription Identifier
    0x11: Kind.U32,  # Session Expiry Interval
    0x12: Kind.STRING,  # Assigned Client Identifier
    0x13: Kind.U16,  # Server Keep Alive
    0x15: Kind.STRING,  # Authentication Method
    0x16: Kind.BINARY,  # Authentication Data
    0x17: Kind.BYTE,  # Request Problem Information
    0x18: Kind.U32,  # Will Delay Interval
    0x19: Kind.BYTE,  # Request Response Information
    0x1A: Kind.STRING,  # Response Information
    0x1C: Kind.STRING,  # Server Reference
    0x1F: Kind.STRING,  # Reason String
    0x21: Kind.U16,  # Receive Maximum
    0x22: Kind.U16,  # Topic Alias Maximum
    0x23: Kind.U16,  # Topic Alias
    0x24: Kind.BYTE,  # Maximum QoS
    0x25: Kind.BYTE,  # Retain Available
    0x26: Kind.STRING_PAIR,  # User Property
    0x27: Kind.U32,  # Maximum Packet Size
    0x28: Kind.BYTE,  # Wildcard Subscription Available
    0x29: Kind.BYTE,  # Subscription Identifier Available
    0x2A: Kind.BYTE,  # Shared Subscription Available
}

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")


def encode_properties(properties: Mapping[int, Any]) -> bytes:
    """A property block: its length (variable byte integer), then each property."""
    parts: list[bytes] = []
    for identifier, value in properties.items():
        kind = KINDS[identifier]
        parts.append(bytes((identifier,)))
        if kind is Kind.BYTE:
            parts.append(bytes((value,)))
        elif kind is Kind.U16:
            parts.append(_U16.pack(value))
        elif kind is Kind.U32:
            parts.append(_U32.pack(value))
        elif kind is Kind.VARINT:
            parts.append(encode_varint(value))
        elif kind is Kind.STRING:
            parts.append(_sized(value.encode()))
        elif kind is Kind.BINARY:
            parts.append(_sized(value))
        else:
            raise ValueError("user properties are not sent")
    body = b"".join(parts)
    return encode_varint(len(body)) + body


def decode_properties(data: bytes, pos: int, end: int) -> tuple[dict[int, Any], int]:
    """The property block at ``pos``: {identifier: value} (user properties as a list of pairs), and
    the position after the block."""
    header = decode_varint(data, pos, end)
    if header is None:
        raise MalformedPacketError("property length runs past the packet", pos)
    length, pos = header
    stop = pos + length
    if stop > end:
        raise MalformedPacketError("properties run past the packet", pos)
    out: dict[int, Any] = {}
    while pos < stop:
        identifier = data[pos]
        kind = KINDS.get(identifier)
        if kind is None:
            raise MalformedPacketError(f"unknown property {identifier:#04x}", pos)
        pos += 1
        value: Any
        if kind is Kind.BYTE:
            _need(pos, 1, stop)
            value = data[pos]
            pos += 1
        elif kind is Kind.U16:
            _need(pos, 2, stop)
            value = _U16.unpack_from(data, pos)[0]
            pos += 2
        elif kind is Kind.U32:
            _need(pos, 4, stop)
            value = _U32.unpack_from(data, pos)[0]
            pos += 4
        elif kind is Kind.VARINT:
            decoded = decode_varint(data, pos, stop)
            if decoded is None:
                raise MalformedPacketError("property value runs past the properties", pos)
            value, pos = decoded
        elif kind is Kind.STRING_PAIR:
            name, pos = _text(data, pos, stop)
            text, pos = _text(data, pos, stop)
            out.setdefault(identifier, []).append((name, text))
            continue
        elif kind is Kind.STRING:
            value, pos = _text(data, pos, stop)
        else:
            value, pos = _bytes(data, pos, stop)
        if identifier in out:
            raise MalformedPacketError(f"property {identifier:#04x} given twice", pos)
        out[identifier] = value
    return out, stop


def _need(pos: int, size: int, stop: int) -> None:
    if pos + size > stop:
        raise MalformedPacketError("property value runs past the properties", pos)


def _bytes(data: bytes, pos: int, stop: int) -> tuple[bytes, int]:
    _need(pos, 2, stop)
    size = _U16.unpack_from(data, pos)[0]
    _need(pos + 2, size, stop)
    return bytes(data[pos + 2 : pos + 2 + size]), pos + 2 + size


def _text(data: bytes, pos: int, stop: int) -> tuple[str, int]:
    raw, after = _bytes(data, pos, stop)
    try:
        return raw.decode(), after
    except UnicodeDecodeError:
        raise MalformedPacketError("property string is not UTF-8", pos) from None


def _sized(data: bytes) -> bytes:
    return _U16.pack(len(data)) + data
