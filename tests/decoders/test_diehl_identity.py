"""Diehl-group readings under the id on the label: PRIOS, SAP PRIOS labels and alarm reports."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.decoders import decode_reading
from gateway.wmbus.diehl import AddressLayout, address_layout
from gateway.wmbus.manufacturer import encode_manufacturer
from gateway.wmbus.telegram import parse_telegram
from tests.vectors import radio_vectors

AT = datetime(2026, 12, 1, tzinfo=UTC)


def test_sap_prios_readings_carry_the_label_the_reference_prints() -> None:
    checked = 0
    for vector in radio_vectors():
        if address_layout(vector.telegram) is not AddressLayout.SAP_PRIOS:
            continue
        reading = decode_reading(parse_telegram(vector.telegram, vector.key), AT)
        assert reading.meter_id == vector.meter_id
        for name in ("prefix", "serial_number"):
            if name in vector.expected:
                assert reading.extra[name] == vector.expected[name], vector.name
                checked += 1
        if "manufacture_year" in vector.expected:
            assert str(reading.extra["manufacture_year"]) == vector.expected["manufacture_year"]
    assert checked >= 6


def test_prios_readings_are_under_the_telegrams_own_id() -> None:
    for vector in radio_vectors():
        if address_layout(vector.telegram) is AddressLayout.STANDARD:
            continue
        telegram = parse_telegram(vector.telegram, vector.key)
        reading = decode_reading(telegram, AT)
        assert reading.meter_id == telegram.meter_id == vector.meter_id, vector.name


def test_a_diehl_alarm_report_is_no_reading() -> None:
    # DME, C 0x44, A field laid out version 0x8B, type 0x07, id 60897379; CI 0x71 and one alarm byte
    body = b"\x44" + encode_manufacturer("DME").to_bytes(2, "little") + bytes.fromhex("8b07 79738960 71 01")
    reading = decode_reading(parse_telegram(bytes((len(body),)) + body), AT)
    assert reading.meter_id == "60897379"
    assert reading.total_m3 is None
    assert reading.unsupported is not None and "alarm report" in reading.unsupported
