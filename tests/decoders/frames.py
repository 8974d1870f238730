"""Telegrams written from a maker's documented layout, for families the shared vectors hold none of.

Each builder encodes what EN 13757-3/-4 says (link header, transport headers, date types); a test says
which document the records follow.
"""

from __future__ import annotations

from datetime import date, datetime

from gateway.wmbus.manufacturer import encode_manufacturer


def address(maker: str, meter_id: str, version: int, device_type: int) -> bytes:
    """M and A fields: manufacturer code, id (BCD, least significant byte first), version, type."""
    return (encode_manufacturer(maker).to_bytes(2, "little") + bytes.fromhex(meter_id)[::-1]
            + bytes([version, device_type]))


def radio(link: bytes, ci: int, body: bytes) -> bytes:
    """A wM-Bus frame (CRCs removed, as dongles deliver it): L, C = 0x44 (SND_NR), M+A, CI, body."""
    data = b"\x44" + link + bytes([ci]) + body
    return bytes([len(data)]) + data


def short_tpl(access: int = 0x10, status: int = 0x00, config: int = 0x0000) -> bytes:
    """A short transport header (after CI 0x7A): access number, status, configuration word."""
    return bytes([access, status]) + config.to_bytes(2, "little")


def long_tpl(meter: bytes, access: int = 0x10, status: int = 0x00, config: int = 0x0000) -> bytes:
    """A long transport header (after CI 0x72): the meter's own M+A in the order id, M, version, type."""
    reordered = meter[2:6] + meter[0:2] + meter[6:8]
    return reordered + short_tpl(access, status, config)


def date_g(day: date) -> bytes:
    """Type G date (CP16)."""
    year = day.year - 2000
    return bytes([(year & 0x07) << 5 | day.day, (year >> 3) << 4 | day.month])


def datetime_f(moment: datetime) -> bytes:
    """Type F date-time (CP32), minutes resolution."""
    return bytes([moment.minute, moment.hour]) + date_g(moment.date())


def datetime_i(moment: datetime) -> bytes:
    """Type I date-time (CP48), seconds resolution (day of week and week left 0)."""
    return bytes([moment.second]) + datetime_f(moment) + b"\x00"


def le(value: int, size: int) -> bytes:
    """An unsigned little-endian integer."""
    return value.to_bytes(size, "little")


def bcd(value: int, size: int) -> bytes:
    """Packed BCD, least significant byte first."""
    return bytes.fromhex(f"{value:0{size * 2}d}")[::-1]
