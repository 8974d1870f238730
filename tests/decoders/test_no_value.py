"""A register holding the maker's "no value" pattern is never published as a volume (Zenner: 0x80000000).

Frames written from EN 13757-3's record layout: a ZRI water meter (short TPL, no encryption) with its
current volume and its set day in storage 8 (Minomess), the set-day volume as a type B int32 or as BCD.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from gateway.decoders import decode_reading, no_value
from gateway.reading import Reading
from gateway.wmbus.manufacturer import encode_manufacturer
from gateway.wmbus.records import RecordSet, parse_record_set
from gateway.wmbus.telegram import parse_telegram

AT = datetime(2026, 12, 1, tzinfo=UTC)
TOTAL = "0413" + (1234).to_bytes(4, "little").hex()  # 1.234 m3, int32, litres
SET_DAY_DATE = "82046C" + "E121"  # storage 8, type G: 2023-01-01


def _reading(records_hex: str) -> Reading:
    body = (
        b"\x44" + encode_manufacturer("ZRI").to_bytes(2, "little") + bytes.fromhex("51413121" "01" "16")
        + bytes.fromhex("7A 36 00 0000") + bytes.fromhex(records_hex)
    )
    return decode_reading(parse_telegram(bytes((len(body),)) + body), AT)


@pytest.mark.parametrize("register", [
    "840413" + "00000080",  # int32 (type B): -2147483648 if read as a number
    "8C0413" + "00000080",  # 8-digit BCD: 80000000 if read as a number
])
def test_a_set_day_without_a_value_publishes_no_target_volume(register: str) -> None:
    reading = _reading(TOTAL + register + SET_DAY_DATE)
    assert reading.decoder == "minomess"
    assert reading.total_m3 == pytest.approx(1.234)
    assert reading.target_m3 is None
    assert reading.target_date == date(2023, 1, 1)
    assert reading.extra["no_value"] == "storage_8_m3"


def test_a_real_set_day_value_is_kept() -> None:
    reading = _reading(TOTAL + "840413" + (1000).to_bytes(4, "little").hex() + SET_DAY_DATE)
    assert reading.target_m3 == pytest.approx(1.0)
    assert "no_value" not in reading.extra


def test_a_current_volume_without_a_value_is_not_published() -> None:
    reading = _reading("0413" + "00000080" + "840413" + (1000).to_bytes(4, "little").hex() + SET_DAY_DATE)
    assert reading.total_m3 is None
    assert reading.target_m3 == pytest.approx(1.0)
    assert reading.extra["no_value"] == "total_m3"


def test_a_negative_volume_that_is_not_the_pattern_stays_a_number() -> None:
    reading = _reading("0413" + (-5).to_bytes(4, "little", signed=True).hex())
    assert reading.total_m3 == pytest.approx(-0.005)


@pytest.mark.parametrize(("records_hex", "expected"), [
    (TOTAL + "840413" + "00000080" + SET_DAY_DATE, [(8, 0)]),
    ("0413" + "00000080" + "8C0413" + "00000080" + SET_DAY_DATE, [(0, 0), (8, 0)]),
    (TOTAL + "840413" + (1000).to_bytes(4, "little").hex() + SET_DAY_DATE, []),
])
def test_the_registers_read_from_the_data_bytes_are_those_the_built_records_give(
    records_hex: str, expected: list[tuple[int, int]]
) -> None:
    body = bytes.fromhex("2F2F" + records_hex)
    first, second = parse_record_set(body), parse_record_set(body)
    assert isinstance(first, RecordSet) and first.structure is not None
    built = tuple(first)  # a plain sequence of records: the rule reads each record
    registers = no_value._no_value_registers(second)  # read from the data bytes of the cached structure
    assert registers == no_value._no_value_registers(built) == expected
    assert registers == no_value._no_value_registers(parse_record_set(body))  # a second time, from the cache
