"""Wehrle: weh_07 from the reference's vectors; the modularis (werhlemodwm), which no vector holds, from a
telegram written from the reference's documented layout (drivers/src/werhlemodwm.xmq)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from gateway.decoders import decode_reading
from gateway.wmbus.telegram import parse_telegram
from tests.decoders.expected import assert_reported
from tests.decoders.frames import address, bcd, date_g, datetime_f, le, radio, short_tpl
from tests.vectors import Vector, all_vectors

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _weh() -> list[Vector]:
    return [vector for vector in all_vectors() if vector.driver == "weh_07"]


@pytest.mark.parametrize("vector", _weh(), ids=lambda vector: vector.name)
def test_weh_07_reports_what_the_reference_reports(vector: Vector) -> None:
    reading = decode_reading(parse_telegram(vector.telegram), AT)
    assert reading.decoder == "weh_07"
    assert reading.meter_id == vector.expected["id"]
    names = tuple(name for name in ("total_m3", "target_m3", "target_date") if name in vector.expected)
    assert_reported(reading, vector.expected, names)


def _month_end(n: int) -> date:
    return date(2024 + (n + 9) // 12, (n + 9) % 12 + 1, 1)  # any distinct dates will do


def _modularis() -> bytes:
    # Index, meter time, the set day (storage 1: date, volume), the next set day (storage 1, VIFE 0x7E
    # "future value"), fabrication number (0C 78, BCD), then storages 2-13: volume and type G date each.
    records = b"\x04\x13" + le(1_500, 4) + b"\x04\x6d" + datetime_f(datetime(2025, 2, 3, 4, 5))
    records += b"\x42\x6c" + date_g(date(2024, 11, 25)) + b"\x44\x13" + le(1_001, 4)
    records += b"\x42\xec\x7e" + date_g(date(2025, 11, 25))
    records += b"\x0c\x78" + bcd(140_655, 4)
    for storage in range(2, 14):
        low, high = storage & 1, storage >> 1  # storage bit 0 in the DIF, the rest in the DIFE
        records += bytes([0x84 | low << 6, high]) + b"\x13" + le(1_000 + storage, 4)
        records += bytes([0x82 | low << 6, high]) + b"\x6c" + date_g(_month_end(storage))
    return radio(address("WZG", "16466583", 0x03, 0x16), 0x7A, short_tpl() + records)


def test_modularis_set_day_month_ends_and_next_set_day() -> None:
    reading = decode_reading(parse_telegram(_modularis()), AT)
    assert reading.decoder == "werhlemodwm"
    assert reading.total_m3 == pytest.approx(1.5)
    assert reading.target_m3 == pytest.approx(1.001)
    assert reading.target_date == date(2024, 11, 25)
    extra = reading.extra
    assert extra["next_target_date"] == "2025-11-25"
    assert extra["fabrication_no"] == "00140655"
    assert extra["target_1_m3"] == pytest.approx(1.001)
    assert extra["target_1_date"] == "2024-11-25"
    for storage in range(2, 14):
        assert extra[f"target_{storage}_m3"] == pytest.approx((1_000 + storage) / 1000)
        assert extra[f"target_{storage}_date"] == _month_end(storage).isoformat()
