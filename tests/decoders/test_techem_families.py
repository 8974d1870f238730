"""Techem: MK Radio 4a (vector and a written HYD telegram), MK Radio 4 and Compact V on CI 0xA0/0xA1.

Where the vectors hold no telegram (HYD 0xFE 0x06 behind the radio, CI 0xA0/0xA1 frames, Compact V
registers above 16 bits), the telegrams are written from the documented layouts (drivers/src/mkradio4a.xmq,
drivers/src/mkradio4.xmq, drivers/src/compact5.xmq) and say so.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from gateway.decoders import REGISTRY, decode_reading
from gateway.wmbus.telegram import parse_telegram
from tests.decoders.frames import address, date_g, le, long_tpl, radio, short_tpl
from tests.vectors import all_vectors

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
RADIO = address("TCH", "00714486", 0x95, 0x37)


def test_mk_radio_4a_vector_named_as_the_reference_names_it() -> None:
    vector = next(vector for vector in all_vectors() if vector.driver == "mkradio4a")
    reading = decode_reading(parse_telegram(vector.telegram), AT, "mkradio4a")
    assert reading.decoder == "mkradio4a"
    assert reading.meter_id == vector.expected["id"]
    assert reading.target_m3 == pytest.approx(vector.expected["target_m3"])
    assert reading.target_date is not None
    assert reading.target_date.isoformat() == vector.expected["target_date"]


def _set_day_records() -> bytes:
    # Storage 1: volume (VIF 0x15, 0.1 m3) and the date the previous year ended.
    return b"\x43\x15" + le(1_234, 3) + b"\x42\x6c" + date_g(date(2025, 12, 31))


def test_a_hydrus_behind_the_techem_radio_is_mk_radio_4a_not_diehl() -> None:
    # Written: the long header names the meter HYD 0xFE 0x06 (warm water) behind the TCH 0x95 0x37 radio.
    meter = address("HYD", "66953825", 0xFE, 0x06)
    telegram = parse_telegram(radio(RADIO, 0x72, long_tpl(meter) + _set_day_records()))
    assert (telegram.manufacturer, telegram.version, telegram.device_type) == ("HYD", 0xFE, 0x06)
    reading = decode_reading(telegram, AT)
    assert reading.decoder == "mkradio4a"
    assert reading.meter_id == "66953825"
    assert reading.target_m3 == pytest.approx(123.4)
    assert reading.target_date == date(2025, 12, 31)


def test_the_techem_radio_names_a_telegram_without_a_long_header() -> None:
    telegram = parse_telegram(radio(RADIO, 0x7A, short_tpl() + _set_day_records()))
    assert REGISTRY.find(telegram).name == "mkradio4a"


def _mk_radio_4(ci: int) -> bytes:
    # drivers/src/mkradio4.xmq: [1:3] last period date, [3:5] last period volume (0.1 m3), [5:7] current
    # day and month, [7:9] volume since (0.1 m3).
    payload = b"\x06" + le(0x3F3F, 2) + le(1_234, 2) + le(0x0B50, 2) + le(56, 2) + bytes(4)
    return radio(address("TCH", "20014102", 0x95, 0x62), ci, payload)


@pytest.mark.parametrize("ci", [0xA0, 0xA1])
def test_mk_radio_4_is_read_on_ci_a0_and_a1_as_on_a2(ci: int) -> None:
    reading = decode_reading(parse_telegram(_mk_radio_4(ci)), AT)
    assert reading.unsupported is None
    assert reading.decoder == "mkradio"
    assert reading.total_m3 == pytest.approx(129.0)
    assert reading.target_m3 == pytest.approx(123.4)
    same = decode_reading(parse_telegram(_mk_radio_4(0xA2)), AT)
    assert (reading.total_m3, reading.target_m3, reading.target_date) == (
        same.total_m3, same.target_m3, same.target_date,
    )


@pytest.mark.parametrize("ci", [0xA0, 0xA1, 0xA2])
def test_compact_v_registers_are_three_bytes_on_every_ci(ci: int) -> None:
    # drivers/src/compact5.xmq: previous period kWh at 3-5, current period kWh at 7-9 (3 bytes each).
    payload = b"\x00\xff\x32" + le(155_712, 3) + b"\x02" + le(70_000, 3) + bytes(8)
    telegram = parse_telegram(radio(address("TCH", "41711422", 0x45, 0x43), ci, payload))
    reading = decode_reading(telegram, AT)
    assert reading.decoder == "compact5"
    assert reading.unsupported is None
    assert reading.extra["previous_kwh"] == 155_712
    assert reading.extra["current_kwh"] == 70_000
    assert reading.extra["total_energy_consumption_kwh"] == 225_712
