"""Watertech (watertech): no vector holds one; telegrams written from the reference's documented layout."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.decoders import decode_reading
from gateway.wmbus.telegram import parse_telegram
from tests.decoders.frames import address, datetime_i, le, radio, short_tpl

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
METER_TIME = datetime(2025, 3, 14, 9, 26, 53)


def _frame(flags: int, version: bytes = b"V1") -> bytes:
    # drivers/src/watertech.xmq: meter time (06 6D, type I), index (04 13), error flags (02 FD 17),
    # software version (02 FD 0F, two characters, most significant first).
    records = b"\x06\x6d" + datetime_i(METER_TIME) + b"\x04\x13" + le(12_345, 4)
    records += b"\x02\xfd\x17" + le(flags, 2) + b"\x02\xfd\x0f" + version[::-1]
    return radio(address("WTT", "38001122", 0x59, 0x07), 0x7A, short_tpl() + records)


def test_watertech_index_time_and_version() -> None:
    reading = decode_reading(parse_telegram(_frame(0)), AT)
    assert reading.decoder == "watertech"
    assert reading.total_m3 == pytest.approx(12.345)
    assert reading.meter_datetime == METER_TIME
    assert reading.extra["software_version"] == "V1"
    assert reading.extra["status"] == "OK"


def test_watertech_error_flags_are_named_by_their_bits() -> None:
    reading = decode_reading(parse_telegram(_frame(0x0410)), AT)
    assert reading.extra["status"] == "ERROR_FLAGS_410"
    assert "error_flags=0x0410" in (reading.status_raw or "")


def test_a_version_that_is_not_text_is_kept_as_hex() -> None:
    reading = decode_reading(parse_telegram(_frame(0, b"\x01\x02")), AT)
    assert reading.extra["software_version"] == "0102"
