"""Checksums of the dongles' own serial framing (not of wM-Bus itself, see gateway.wmbus.crc)."""

from __future__ import annotations


def _x25_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_X25 = _x25_table()


def crc16_ccitt(data: bytes) -> int:
    """CRC-16/X-25 (reflected CCITT 0x1021, init 0xFFFF, complemented), as IMST HCI frames carry it."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _X25[(crc ^ byte) & 0xFF]
    return crc ^ 0xFFFF


def xor_checksum(data: bytes) -> int:
    """XOR of all bytes: the checksum of Amber (Würth) command frames."""
    result = 0
    for byte in data:
        result ^= byte
    return result
