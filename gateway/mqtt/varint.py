"""MQTT's variable byte integer (MQTT 3.1.1 2.2.3, 5.0 1.5.5) and the codec's error."""

from __future__ import annotations

MAX_VARINT = 268_435_455  # four bytes of seven bits


class MalformedPacketError(ValueError):
    """Bytes that are not a valid MQTT packet: the reason, and the offset in the buffer when known."""

    def __init__(self, reason: str, offset: int | None = None) -> None:
        super().__init__(reason if offset is None else f"{reason} (at byte {offset})")
        self.reason = reason
        self.offset = offset


def encode_varint(value: int) -> bytes:
    if not 0 <= value <= MAX_VARINT:
        raise ValueError(f"{value} does not fit a variable byte integer")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(data: bytes, pos: int, end: int) -> tuple[int, int] | None:
    """(value, the position after it) of the integer at ``pos``; None when it runs past ``end``.

    More than four bytes is MalformedPacketError.
    """
    value = shift = 0
    for index in range(pos, min(end, pos + 4)):
        byte = data[index]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, index + 1
        shift += 7
    if end - pos >= 4:
        raise MalformedPacketError("variable byte integer longer than four bytes", pos)
    return None
