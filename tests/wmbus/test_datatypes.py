"""Data types of EN 13757-3 Annex A: integers, BCD (with sign and error codes), real32, LVAR, dates."""

from __future__ import annotations

import struct
from datetime import date, datetime, time

import pytest

from gateway.wmbus import datatypes as dt
from gateway.wmbus.datatypes import InvalidValue
from gateway.wmbus.records import parse_records


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("7F", 127),
        ("FF", -1),
        ("3412", 0x1234),
        ("0080", -32768),
        ("FFFF7F", 0x7FFFFF),
        ("78563412", 0x12345678),
        ("FFFFFFFF", -1),
        ("010000000080", -(2**47) + 1),
        ("0100000000000000", 1),
        ("FFFFFFFFFFFFFF7F", 2**63 - 1),
    ],
)
def test_type_b_signed_little_endian(data: str, expected: int) -> None:
    assert dt.decode_int(bytes.fromhex(data)) == expected


def test_type_c_unsigned() -> None:
    assert dt.decode_uint(bytes.fromhex("FFFF")) == 0xFFFF


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("12", 12),
        ("3412", 1234),
        ("563412", 123456),
        ("78563412", 12345678),
        ("907856341200", 1234567890),
        ("23F1", -123),  # 0xF in the top nibble: negative (Annex A, type A)
        ("000000F0", 0),
        ("00", 0),
    ],
)
def test_type_a_bcd(data: str, expected: int) -> None:
    assert dt.decode_bcd(bytes.fromhex(data)) == expected


@pytest.mark.parametrize("data", ["EEEE", "1A00", "FFFF", "00E0", "F0F0"])
def test_hex_digits_in_bcd_are_invalid_not_garbage(data: str) -> None:
    value = dt.decode_bcd(bytes.fromhex(data))
    assert isinstance(value, InvalidValue)
    assert value.raw == bytes.fromhex(data)
    assert value.hex_digits == bytes.fromhex(data)[::-1].hex().upper()


def test_type_h_real32() -> None:
    assert dt.decode_real32(struct.pack("<f", -1.5)) == -1.5


def test_type_g_date() -> None:
    # day 31 (bits 0-4), year bits 5-7 = 0b101, month 12, year bits 12-15 = 0b0010: year 21
    assert dt.decode_date_g(bytes.fromhex("BF2C")) == date(2021, 12, 31)
    assert isinstance(dt.decode_date_g(bytes.fromhex("FFFF")), InvalidValue)
    assert isinstance(dt.decode_date_g(bytes.fromhex("0000")), InvalidValue)


def test_type_f_datetime_and_invalid_bit() -> None:
    assert dt.decode_datetime_f(bytes.fromhex("1E02DE21")) == datetime(2022, 1, 30, 2, 30)
    flagged = dt.decode_datetime_f(bytes.fromhex("9E02DE21"))
    assert isinstance(flagged, InvalidValue)
    assert "invalid" in flagged.reason
    assert isinstance(dt.decode_datetime_f(bytes.fromhex("3F1F3F3F")), InvalidValue)


def test_type_i_datetime() -> None:
    # seconds, minutes, hours, day + year low bits, month + year high bits, week (itron telegram 104)
    assert dt.decode_datetime_i(bytes.fromhex("2C1AA1D52100")) == datetime(2022, 1, 21, 1, 26, 44)
    assert isinstance(dt.decode_datetime_i(bytes.fromhex("2C9AA1D52100")), InvalidValue)


def test_type_j_time() -> None:
    assert dt.decode_time_j(bytes.fromhex("1E1F0C")) == time(12, 31, 30)
    assert isinstance(dt.decode_time_j(bytes.fromhex("3F3F1F")), InvalidValue)


@pytest.mark.parametrize(
    ("lvar", "length"),
    [(0x00, 0), (0x05, 5), (0xBF, 0xBF), (0xC3, 3), (0xD2, 2), (0xE4, 4), (0xF0, 16), (0xF4, 32), (0xF5, 48)],
)
def test_lvar_lengths(lvar: int, length: int) -> None:
    assert dt.lvar_length(lvar) == length


@pytest.mark.parametrize("lvar", [0xCA, 0xDA, 0xF7, 0xFF])
def test_reserved_lvar(lvar: int) -> None:
    assert dt.lvar_length(lvar) is None


def test_lvar_values() -> None:
    assert dt.decode_lvar(0x03, b"CBA") == "ABC"  # text, last character first
    assert dt.decode_lvar(0xC2, bytes.fromhex("3412")) == 1234
    assert dt.decode_lvar(0xD2, bytes.fromhex("3412")) == -1234
    assert dt.decode_lvar(0xE2, bytes.fromhex("3412")) == 0x1234
    assert dt.decode_lvar(0xF0, bytes(range(16))) == bytes(range(16))
    assert isinstance(dt.decode_lvar(0xC1, bytes.fromhex("AB")), InvalidValue)


def _date_g(year: int, month: int, day: int) -> bytes:
    """Type G as EN 13757-3 Annex A lays it out: day and the year's low 3 bits, month and its high 4."""
    return bytes(((year & 0x07) << 5 | day, (year >> 3) << 4 | month))


@pytest.mark.parametrize(("two_digits", "year"), [(96, 1996), (81, 1981), (99, 1999), (0, 2000), (24, 2024),
                                                  (80, 2080)])
def test_two_digit_years_before_2000_stay_in_their_century(two_digits: int, year: int) -> None:
    assert dt.decode_date_g(_date_g(two_digits, 3, 15)) == date(year, 3, 15)
    # type F: minute, hour, then the date bytes of type G
    assert dt.decode_datetime_f(bytes((30, 12)) + _date_g(two_digits, 3, 15)) == datetime(year, 3, 15, 12, 30)
    # type I: second, minute, hour, then the date bytes, then the week
    assert dt.decode_datetime_i(bytes((5, 30, 12)) + _date_g(two_digits, 3, 15) + b"\x00") == datetime(
        year, 3, 15, 12, 30, 5
    )


@pytest.mark.parametrize("two_digits", [100, 113, 127])
def test_a_year_field_beyond_99_is_an_invalid_value(two_digits: int) -> None:
    for value in (
        dt.decode_date_g(_date_g(two_digits, 3, 15)),
        dt.decode_datetime_f(bytes((30, 12)) + _date_g(two_digits, 3, 15)),
        dt.decode_datetime_i(bytes((5, 30, 12)) + _date_g(two_digits, 3, 15) + b"\x00"),
    ):
        assert isinstance(value, InvalidValue)


def test_a_set_day_record_of_1996_is_read_as_1996() -> None:
    # DIF 0x42 (16 bits, storage 1), VIF 0x6C (date, type G)
    (record,) = parse_records(b"\x42\x6c" + _date_g(96, 12, 31), base_offset=0)
    assert (record.quantity, record.storage, record.value) == ("date", 1, date(1996, 12, 31))
