"""Alarm normalisation for every family that reports alarms: real vectors where they carry alarms,
otherwise telegrams built here from the public format (each says so); also constructed proprietary frames."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from Crypto.Cipher import AES

from gateway.decoders import decode_reading
from gateway.decoders.default_keys import default_key
from gateway.decoders.diehl import DEFAULT_KEYS, prios_keystream
from gateway.reading import Alarm, Reading
from gateway.wmbus.crc import crc16
from gateway.wmbus.manufacturer import encode_manufacturer
from gateway.wmbus.telegram import parse_telegram
from tests.vectors import Vector, all_vectors

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _vector(line: int) -> Vector:
    return next(vector for vector in all_vectors() if vector.line == line)


def _decode_vector(line: int) -> Reading:
    vector = _vector(line)
    key = vector.key or default_key(vector.telegram)
    return decode_reading(parse_telegram(vector.telegram, key), AT, key=key)


def _decode(frame: bytes, key: bytes | None = None) -> Reading:
    return decode_reading(parse_telegram(frame, key), AT, key=key)


def _dll(maker: str, meter_id: str, version: int, device_type: int) -> bytes:
    return (
        bytes([0x44])
        + encode_manufacturer(maker).to_bytes(2, "little")
        + bytes.fromhex(meter_id)[::-1]
        + bytes([version, device_type])
    )


def _frame(body: bytes) -> bytes:
    return bytes([len(body)]) + body


# --- Standard TPL status byte (every OMS meter) -------------------------------------------------


def test_tpl_power_low_is_low_battery() -> None:
    reading = _decode_vector(236)  # WaterStar M, TPL status 0x04
    assert Alarm.LOW_BATTERY in reading.alarms
    assert reading.status_raw is not None and "tpl=0x04" in reading.status_raw
    assert reading.extra["status"] == "POWER_LOW"


def test_tpl_permanent_error_is_meter_error() -> None:
    reading = _decode_vector(108)  # B Meters IWM-TX5, TPL status 0x08
    assert reading.alarms == frozenset({Alarm.METER_ERROR})


def test_clean_status_raises_nothing() -> None:
    reading = _decode_vector(235)  # WaterStar M, status 0, flags 0
    assert reading.alarms == frozenset()
    assert reading.extra["status"] == "OK"


# --- Maker error flags -----------------------------------------------------------------------------


def test_waterstar_m_leak_flag_and_power_low() -> None:
    reading = _decode_vector(237)  # error flags 0x0040 with TPL power low
    assert reading.alarms == frozenset({Alarm.LEAK, Alarm.LOW_BATTERY})
    assert reading.extra["status"] == "LEAKAGE_OR_NO_USAGE POWER_LOW"


def test_kaden_and_picoflux_leak_bits_in_tpl_status() -> None:
    for line in (119, 176):  # TPL status 0x63: alarm state, leak flow below and above 100 l/h
        reading = _decode_vector(line)
        assert Alarm.LEAK in reading.alarms
        assert reading.extra["status"] == "ALARM LEAK_FLOW_HIGH LEAK_FLOW_LOW"
    assert _decode_vector(118).alarms == frozenset()


def test_ultrimis_current_flags_raise_history_flags_do_not() -> None:
    dry = _decode_vector(230)  # DRY HIGH_TEMPERATURE NO_FLOW_PREV_MONTH
    assert dry.alarms == frozenset({Alarm.DRY})
    assert dry.extra["status"] == "DRY HIGH_TEMPERATURE NO_FLOW_PREV_MONTH"
    history = _decode_vector(231)  # NO_FLOW_PREV_MONTH REVERSE_THIS_MONTH: nothing current
    assert history.alarms == frozenset()


def test_ultrimis_constructed_leak_and_reverse() -> None:
    # Built from the public Ultrimis format: error flags 03 FD 17 = 0x0000C0 (leak, reverse now).
    body = (_dll("APA", "95969798", 0x01, 0x16) + bytes.fromhex("7A4B000000")
            + bytes.fromhex("2F2F0413320C000003FD17C00000"))
    reading = _decode(_frame(body))
    assert reading.decoder == "ultrimis"
    assert reading.alarms == frozenset({Alarm.LEAK, Alarm.BACKFLOW})


def test_engelmann_faw_constructed_removal_and_leak() -> None:
    # Built from the public FAW format: 01 FD 17 = 0x28 (removal detected, leakage).
    body = (_dll("EFE", "20254060", 0x00, 0x07) + bytes.fromhex("7A01000000")
            + bytes.fromhex("2F2F0413E803000001FD1728"))
    reading = _decode(_frame(body))
    assert reading.decoder == "engelmann"
    assert reading.total_m3 == pytest.approx(1.0)
    assert reading.alarms == frozenset({Alarm.REMOVAL, Alarm.LEAK})


# --- Kamstrup info codes ---------------------------------------------------------------------------


def test_kamstrup_dry_from_full_and_compact_frames() -> None:
    for line in (139, 140):  # the same meter, full frame then compact frame: info code DRY
        reading = _decode_vector(line)
        assert reading.alarms == frozenset({Alarm.DRY})
        assert reading.extra["time_dry"] == "22-31 days"


def test_kamstrup_constructed_compact_leak_burst_reverse() -> None:
    # Built from the public layout 02FF20 0413 4413 615B 6167 (signature 0xA8ED): info = 0x000E.
    layout = bytes.fromhex("02FF2004134413615B6167")
    data = bytes.fromhex("0E00" + "10270000" + "10270000" + "0A" + "0B")
    body = (_dll("KAM", "76348799", 0x1B, 0x16) + b"\x79"
            + crc16(layout).to_bytes(2, "little") + b"\x00\x00" + data)
    reading = _decode(_frame(body))
    assert reading.decoder == "kamwater"
    assert reading.total_m3 == pytest.approx(10.0)
    assert reading.alarms == frozenset({Alarm.LEAK, Alarm.BURST, Alarm.BACKFLOW})


# --- Diehl IZAR (PRIOS) ----------------------------------------------------------------------------


def test_izar_vector_meter_blocked() -> None:
    reading = _decode_vector(245)  # current alarms: meter_blocked, underflow
    assert reading.alarms == frozenset({Alarm.METER_ERROR})
    assert reading.extra["current_alarms"] == "meter_blocked,underflow"


def test_izar_constructed_leak_and_back_flow() -> None:
    # Built from the public PRIOS format: status bytes 11-13 = 0x01 (period 8 s), 0x94 (leak now,
    # 10 years), 0x80 (back flow); content scrambled with the first public default key.
    header = b"\x00" + _dll("SAP", "21242472", 0x01, 0xD4) + bytes([0xA2, 0x01, 0x94, 0x80, 0x00])
    volumes = (12345).to_bytes(4, "little") + (12000).to_bytes(4, "little")
    plain = bytes([0x4B]) + volumes + bytes([0x3E, 0x2C])
    mask = prios_keystream(header, DEFAULT_KEYS[0], len(plain))
    frame = header + bytes(a ^ b for a, b in zip(plain, mask, strict=True))
    frame = bytes([len(frame) - 1]) + frame[1:]
    reading = _decode(frame)
    assert reading.decoder == "izar"
    assert reading.total_m3 == pytest.approx(12.345)
    assert reading.target_m3 == pytest.approx(12.0)
    assert reading.alarms == frozenset({Alarm.LEAK, Alarm.BACKFLOW})


# --- Apator NA-1 ----------------------------------------------------------------------------------


def test_apator_na1_constructed_leak_and_battery() -> None:
    # Built from the public NA-1 format: AES-CBC block with current status 0x09 (battery low, leak).
    key = bytes(range(16))
    dll = _dll("APA", "04913581", 0x14, 0x07)
    access = 0x42
    raw_total = (0x1234 << 8) | (0 << 4) | 0x5  # mantissa 0x12345 litres, scale 1
    plain = (b"\x00" + raw_total.to_bytes(4, "little") + (800_000_000).to_bytes(4, "little")
             + bytes([0x10, 0x00, 0x00, 0x00, 0x00, 0x09, 0x00]))
    iv = dll[1:9] + bytes([access]) * 8
    body = dll + bytes([0xA0, access, 0x00]) + AES.new(key, AES.MODE_CBC, iv).encrypt(plain)
    reading = _decode(_frame(body), key)
    assert reading.decoder == "apatorna1"
    assert reading.total_m3 == pytest.approx(0x12345 / 1000)
    assert reading.alarms == frozenset({Alarm.LOW_BATTERY, Alarm.LEAK})


def test_gwf_battery_low_flag_in_manufacturer_block() -> None:
    reading = _decode_vector(68)  # GWF block type 1, flags 0x20, with TPL power low
    assert reading.alarms == frozenset({Alarm.LOW_BATTERY})
    assert reading.extra["status"] == "BATTERY_LOW POWER_LOW"
    unknown = _decode_vector(70)  # block type 2: not public
    assert unknown.alarms == frozenset()
    assert unknown.unsupported is not None and "0x02" in unknown.unsupported


def test_hydrodigit_constructed_fraud_and_leak_dates() -> None:
    # Built from the public Hydrodigit block: contents 0x83 (battery, fraud, leak), battery nibble 0xA,
    # magnetic fraud on 2024-05-17, leak on 2024-06-01.
    body = (_dll("BMT", "86868686", 0x13, 0x07) + bytes.fromhex("7A01000000")
            + bytes.fromhex("0C1366380000" + "0F" + "83" + "0A" + "80240517" + "240601"))
    reading = _decode(_frame(body))
    assert reading.decoder == "hydrodigit"
    assert reading.total_m3 == pytest.approx(3.866)
    assert reading.battery_v == pytest.approx(3.05)
    assert reading.extra["fraud_date"] == "2024-05-17"
    assert reading.extra["leak_date"] == "2024-06-01"
    assert reading.alarms == frozenset({Alarm.TAMPER, Alarm.LEAK})
    assert _decode_vector(84).alarms == frozenset()  # contents announce fraud and leak, both dates empty


def test_minomess_constructed_leaking_and_backflowing() -> None:
    # Built from the public Minomess format: 02 FD 17 = 0x2028 (was leaking, leaking now, backflowing now).
    body = (_dll("ZRI", "15503451", 0x00, 0x07) + bytes.fromhex("7A01000000")
            + bytes.fromhex("2F2F0C1359000000" + "02FD172820"))
    reading = _decode(_frame(body))
    assert reading.decoder == "minomess"
    assert reading.alarms == frozenset({Alarm.LEAK, Alarm.BACKFLOW})
    assert reading.extra["status"] == "BACKFLOWING LEAKING WAS_LEAKING"


def test_diehl_real_data_constructed() -> None:
    # Built from the public "real data" format: CI 0x7A with configuration bit 12 set, records scrambled
    # with the PRIOS LFSR under the second public default key, checked by their byte sum.
    plain = bytes.fromhex("0413" + "39300000" + "4413" + "10270000" + "426C" + "5E39")
    header = b"\x00" + _dll("DME", "12345678", 0x70, 0x07) + bytes([0x7A, 0x2A, 0x00])
    config_high = (sum(plain) & 0xEF) | 0x10
    header += bytes([0x00, config_high])
    mask = prios_keystream(header, DEFAULT_KEYS[1], len(plain))
    frame = header + bytes(a ^ b for a, b in zip(plain, mask, strict=True))
    frame = bytes([len(frame) - 1]) + frame[1:]
    reading = _decode(frame)
    assert reading.decoder == "diehl"
    assert reading.unsupported is None
    assert reading.total_m3 == pytest.approx(12.345)
    assert reading.target_m3 == pytest.approx(10.0)
    assert reading.target_date is not None and reading.target_date.isoformat() == "2026-09-30"


def test_aventies_error_flags_sabotage_and_battery() -> None:
    # Built from the public Aventies water format: 02 FD 17 error flags, bit 1 sabotage, bit 2 battery.
    def reading(flags: int) -> Reading:
        body = (_dll("AAA", "27180000", 0x25, 0x07) + bytes.fromhex("7A05000000")
                + bytes.fromhex("2F2F0C1378563412" + "02FD17") + flags.to_bytes(2, "little"))
        return _decode(_frame(body))

    raised = reading(0x0006)
    assert raised.decoder == "aventieswm"
    assert raised.total_m3 == pytest.approx(12345.678)
    assert raised.alarms == frozenset({Alarm.TAMPER, Alarm.LOW_BATTERY})
    assert reading(0x0008).alarms == frozenset()  # "CS" is reported, not an alarm
    assert reading(0x0000).alarms == frozenset()
