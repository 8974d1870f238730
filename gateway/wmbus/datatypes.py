"""Data types of EN 13757-3 Annex A: integers (B), BCD (A), real32 (H), dates (F, G, I, J) and LVAR data.

Every decoder takes the record's data bytes (little-endian, as on the wire) and returns a Python value;
impossible contents (hex digits in BCD, dates flagged invalid or out of range) become an ``InvalidValue``
that keeps the raw bytes, so a meter's error code is never mistaken for a reading.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from datetime import date, datetime, time

_REAL32 = struct.Struct("<f")


@dataclass(frozen=True, slots=True)
class InvalidValue:
    """A field whose content is not a valid value of its type (e.g. BCD "EEEE" error codes)."""

    raw: bytes
    reason: str

    @property
    def hex_digits(self) -> str:
        """The BCD digits as printed, most significant first (e.g. "00EE12")."""
        return self.raw[::-1].hex().upper()


def decode_int(data: bytes) -> int:
    """Type B: signed binary integer, little-endian, any width."""
    return int.from_bytes(data, "little", signed=True)


def decode_uint(data: bytes) -> int:
    """Type C: unsigned binary integer, little-endian, any width."""
    return int.from_bytes(data, "little")


def decode_bcd(data: bytes) -> int | InvalidValue:
    """Type A: BCD, least significant byte first; 0xF in the top nibble marks a negative value."""
    if not data:
        return 0
    digits = data[::-1].hex()
    negative = False
    if digits[0] == "f":
        negative = True
        digits = digits[1:]
    if not digits.isdigit():  # hex digits A-F: the meter reports an error in place of a value
        if not digits:
            return 0
        return InvalidValue(bytes(data), "hex digits in BCD")
    value = int(digits) if digits else 0
    return -value if negative else value


def decode_real32(data: bytes) -> float | InvalidValue:
    """Type H: IEEE 754 single precision, little-endian; NaN and the infinities are no value."""
    number = float(_REAL32.unpack(data)[0])
    return number if math.isfinite(number) else InvalidValue(bytes(data), "not a finite number (type H)")


# Two-digit years (the 7-bit field holds 0-99): 81-99 are 1981-1999, 00-80 are 2000-2080, as OMS meters and
# the reference decoders read them (meters do not set the type F hundred-year bits). 100-127 are no year
# (127 is the standard's "every year" of periodic dates): an invalid value, never 2100-2127.
_CENTURY_TURN = 81
_YEARS = 100


def _year(low3: int, high4: int) -> int:
    """The year of a 7-bit two-digit year field; 0 (datetime's ValueError) when it is out of range."""
    two_digits = high4 << 3 | low3
    if two_digits >= _YEARS:
        return 0
    return (1900 if two_digits >= _CENTURY_TURN else 2000) + two_digits


def decode_date_g(data: bytes) -> date | InvalidValue:
    """Type G (CP16): day, month, year; all-ones or out-of-range fields are invalid."""
    b0, b1 = data[0], data[1]
    day = b0 & 0x1F
    month = b1 & 0x0F
    year = _year(b0 >> 5, b1 >> 4)
    try:
        return date(year, month, day)
    except ValueError:
        return InvalidValue(bytes(data), "invalid date (type G)")


def decode_datetime_f(data: bytes) -> datetime | InvalidValue:
    """Type F (CP32): minute, hour, day, month, year; bit 7 of the first byte flags the time invalid."""
    b0, b1, b2, b3 = data[0], data[1], data[2], data[3]
    if b0 & 0x80:
        return InvalidValue(bytes(data), "time invalid flag set (type F)")
    try:
        return datetime(_year(b2 >> 5, b3 >> 4), b3 & 0x0F, b2 & 0x1F, b1 & 0x1F, b0 & 0x3F)
    except ValueError:
        return InvalidValue(bytes(data), "invalid date and time (type F)")


def decode_datetime_i(data: bytes) -> datetime | InvalidValue:
    """Type I (CP48): second, minute, hour, day, month, year; bit 7 of the minute byte flags it invalid."""
    b0, b1, b2, b3, b4 = data[0], data[1], data[2], data[3], data[4]
    if b1 & 0x80:
        return InvalidValue(bytes(data), "time invalid flag set (type I)")
    try:
        return datetime(_year(b3 >> 5, b4 >> 4), b4 & 0x0F, b3 & 0x1F, b2 & 0x1F, b1 & 0x3F, b0 & 0x3F)
    except ValueError:
        return InvalidValue(bytes(data), "invalid date and time (type I)")


def decode_time_j(data: bytes) -> time | InvalidValue:
    """Type J (CP24): time of day only (second, minute, hour)."""
    try:
        return time(data[2] & 0x1F, data[1] & 0x3F, data[0] & 0x3F)
    except ValueError:
        return InvalidValue(bytes(data), "invalid time (type J)")


def decode_text(data: bytes) -> str:
    """LVAR text: ISO 8859-1, sent last character first."""
    return data[::-1].decode("latin-1")


def lvar_length(lvar: int) -> int | None:
    """Byte count of the data announced by an LVAR byte (Table 5); None for the reserved codes."""
    if lvar <= 0xBF:
        return lvar
    if 0xC0 <= lvar <= 0xC9:
        return lvar - 0xC0
    if 0xD0 <= lvar <= 0xD9:
        return lvar - 0xD0
    if 0xE0 <= lvar <= 0xEF:
        return lvar - 0xE0
    if 0xF0 <= lvar <= 0xF4:
        return 4 * (lvar - 0xEC)
    if lvar == 0xF5:
        return 48
    if lvar == 0xF6:
        return 64
    return None


def decode_lvar(lvar: int, data: bytes) -> str | int | bytes | InvalidValue:
    """Variable-length data: text, positive or negative BCD, or a binary number (bytes beyond 8)."""
    if lvar <= 0xBF:
        return decode_text(data)
    if lvar <= 0xC9:
        return decode_bcd(data)
    if lvar <= 0xD9:
        value = decode_bcd(data)
        return -value if isinstance(value, int) else value
    if len(data) <= 8:
        return decode_uint(data)
    return bytes(data)
