"""CRC-16 of EN 13757-4 (polynomial 0x3D65, initial 0, result inverted)."""

from __future__ import annotations

_POLY = 0x3D65


def _make_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ _POLY) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


_TABLE = _make_table()


def crc16(data: bytes) -> int:
    """Return the EN 13757-4 CRC of ``data`` (as sent: high byte first)."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _TABLE[(crc >> 8) ^ byte]
    return crc ^ 0xFFFF
