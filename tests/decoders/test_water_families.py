"""The water families of issue 14 (first half): ActisLink, APT-MBUS-NA-1, Aquastream, Emerlin 868, EV200,
EVO 868, Fiorentini, LSE QWater 5.5 and MK Radio 3a.

Each family is read from its vectors (../shared/vectors) where they hold a telegram of it; where they hold
none, or none that shows a part (an alarm, a history), the telegram is written here from the maker's
documented layout (the module docstring of its decoder cites it), and the test says so.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from gateway.decoders import REGISTRY, decode_reading
from gateway.decoders.units import months_before
from gateway.radio.simulator.encoder import (
    CI_TECHEM,
    CI_TPL_SHORT,
    address_bytes,
    date_g,
    datetime_f,
    frame,
    volume_litres_int32,
)
from gateway.reading import Alarm, Reading
from gateway.wmbus.telegram import parse_telegram
from tests.vectors import Vector, all_vectors

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _vector(line: int) -> Vector:
    return next(vector for vector in all_vectors() if vector.line == line)


def _decode_vector(line: int) -> tuple[Vector, Reading]:
    vector = _vector(line)
    return vector, decode_reading(parse_telegram(vector.telegram, vector.key), AT, key=vector.key)


def _oms(maker: str, version: int, device_type: int, records: bytes, status: int = 0) -> Reading:
    """A plain OMS telegram (TPL short header, no security) of the given meter kind."""
    head = address_bytes("12345678", maker, version, device_type)
    body = bytes([CI_TPL_SHORT, 0x21, status, 0x00, 0x00]) + records
    return decode_reading(parse_telegram(frame(head, body)), AT)


# --- which decoder: every (manufacturer, version, type) of the reference's detection lists ---------------

KINDS = [
    ("ALK", 0x04, 0x07, "actislink"),
    ("APA", 0x15, 0x07, "aptmbusna"),
    ("IMT", 0x01, 0x07, "aquastream"),
    ("ELR", 0x11, 0x37, "emerlin868"),
    ("ELR", 0x12, 0x37, "emerlin868"),
    ("ELR", 0x0D, 0x07, "ev200"),
    ("MAD", 0x50, 0x06, "evo868"),
    ("MAD", 0x50, 0x07, "evo868"),
    ("MAD", 0x50, 0x16, "evo868"),
    ("FIO", 0x01, 0x07, "fiowater"),
    ("LSE", 0x16, 0x07, "lse_07_17"),
    ("LSE", 0x17, 0x07, "lse_07_17"),
    ("LSE", 0x18, 0x06, "lse_07_17"),
    ("LSE", 0x18, 0x07, "lse_07_17"),
    ("LSE", 0xD8, 0x07, "lse_07_17"),
]


@pytest.mark.parametrize(("maker", "version", "device_type", "name"), KINDS)
def test_each_meter_kind_finds_its_family(maker: str, version: int, device_type: int, name: str) -> None:
    reading = _oms(maker, version, device_type, volume_litres_int32(1234))
    assert reading.decoder == name
    assert reading.total_m3 == pytest.approx(1.234)


def test_families_keep_their_neighbours_generic() -> None:
    # A version the reference does not list for the maker stays with the generic decoder.
    assert _oms("ELR", 0x0E, 0x07, volume_litres_int32(1)).decoder == "oms"
    assert _oms("MAD", 0x51, 0x07, volume_litres_int32(1)).decoder == "oms"
    assert _oms("LSE", 0x18, 0x04, volume_litres_int32(1)).decoder == "oms"


# --- ActisLink ------------------------------------------------------------------------------------------


def test_actislink_reads_its_volume() -> None:
    # Written from the layout (the vector's telegram is DES-encrypted): a plain OMS volume record.
    reading = _oms("ALK", 0x04, 0x07, volume_litres_int32(1000))
    assert reading.decoder == "actislink"
    assert reading.total_m3 == 1.0
    assert reading.medium == "water"


# --- Apator APT-MBUS-NA-1 -------------------------------------------------------------------------------


@pytest.mark.parametrize("line", [25, 26])
def test_aptmbusna_vectors(line: int) -> None:
    vector, reading = _decode_vector(line)
    expected = vector.expected
    assert reading.decoder == "aptmbusna"
    assert reading.extra["fabrication_no"] == expected["fabrication_no"]
    assert reading.extra["operating_time_h"] == expected["operating_time_h"]
    assert reading.flow_m3h == pytest.approx(expected["volume_flow_m3h"])
    # The reference's names, but for P_LEAK: its 0x000800 is P_DETECTOR_ERROR (see aptmbusna.py), and
    # UNKNOWN_E0 (the TPL status' maker bits, which carry no published meaning) is not named.
    reference = set(expected["status"].split()) - {"UNKNOWN_E0", "P_LEAK"}
    ours = set(str(reading.extra["status"]).split()) - {"P_DETECTOR_ERROR"}
    assert ours == reference
    assert reading.alarms == {Alarm.METER_ERROR}  # TPL permanent error; past events raise nothing


def test_aptmbusna_current_conditions_raise_alarms() -> None:
    # Written from the layout: error flags 03 FD 17 with the third byte (conditions now) set.
    flags = 0x010000 | 0x040000 | 0x400000 | 0x000400 | 0x000080
    reading = _oms("APA", 0x15, 0x07, volume_litres_int32(5) + b"\x03\xfd\x17" + flags.to_bytes(3, "little"))
    assert reading.alarms == {Alarm.TAMPER, Alarm.REMOVAL, Alarm.BACKFLOW, Alarm.LOW_BATTERY}
    assert reading.extra["status"] == "BATTERY_LOW MAGNETIC_FIELD MBUS_DISCONNECTED P_LEAK REVERSE_FLOW"
    assert reading.status_raw == "tpl=0x00 error_flags=0x450480"


# --- Integra Aquastream ---------------------------------------------------------------------------------


def test_aquastream_vector() -> None:
    vector, reading = _decode_vector(27)
    expected = vector.expected
    assert reading.decoder == "aquastream"
    assert reading.extra["battery_y"] == pytest.approx(expected["battery_y"])
    assert reading.extra["status"] == expected["status"]
    assert reading.total_backward_m3 == expected["total_backwards_m3"]
    assert not reading.alarms


@pytest.mark.parametrize(
    ("flags", "alarms", "status"),
    [
        (0x0004, {Alarm.LOW_BATTERY}, "LOW_BATTERY"),
        (0x0010, {Alarm.TAMPER}, "TEMPORARY_ALARM"),
        (0x0020, {Alarm.LEAK}, "LEAKAGE"),
        (0x0030, {Alarm.BURST}, "BURST"),
        (0x0034, {Alarm.BURST, Alarm.LOW_BATTERY}, "BURST LOW_BATTERY"),
    ],
)
def test_aquastream_error_flags(flags: int, alarms: set[Alarm], status: str) -> None:
    # Written from the layout: 02 FD 17 with bit 2 and the two-bit code in bits 4-5.
    records = volume_litres_int32(16899) + b"\x02\xfd\x17" + flags.to_bytes(2, "little")
    reading = _oms("IMT", 0x01, 0x07, records)
    assert reading.alarms == alarms
    assert reading.extra["status"] == status


def test_aquastream_backward_volume_is_tariff_1() -> None:
    # Written from the layout: the second volume register, DIF 0x84 DIFE 0x10 (tariff 1).
    records = volume_litres_int32(16899) + b"\x84\x10\x13" + (250).to_bytes(4, "little")
    reading = _oms("IMT", 0x01, 0x07, records)
    assert reading.total_m3 == pytest.approx(16.899)
    assert reading.total_backward_m3 == pytest.approx(0.25)


# --- Elster Emerlin 868 and EV200 -----------------------------------------------------------------------


def test_emerlin868_vector_is_a_water_meter_with_its_flags_kept() -> None:
    vector, reading = _decode_vector(55)
    assert reading.decoder == "emerlin868"
    assert reading.medium == "water"  # the module says "radio converter (meter side)"
    assert reading.total_m3 == vector.expected["total_m3"]
    assert reading.target_m3 == vector.expected["target_m3"]
    assert reading.target_date is None  # the reference prints 2000-00-00: no set day has passed yet
    assert reading.extra["status"] == "ERROR_FLAGS_8080"
    assert reading.status_raw == "tpl=0x00 error_flags=0x8080"


def test_ev200_vector() -> None:
    vector, reading = _decode_vector(60)
    assert reading.decoder == "ev200"
    assert reading.total_m3 == vector.expected["total_m3"]
    assert reading.target_m3 == vector.expected["target_m3"]
    assert reading.alarms == {Alarm.METER_ERROR}  # TPL status 0x08


# --- Maddalena EVO 868 ----------------------------------------------------------------------------------


def _evo868_records() -> bytes:
    """An EVO 868 payload written from the layout: volume, time, error flags, fabrication number (8 BCD
    digits), set day (storage 1) and last month end (storage 2) with dates, the maximum flow (function
    maximum, storage 3) with its time, the storage interval and twelve month ends in storages 8-19."""
    records = volume_litres_int32(52731) + datetime_f(datetime(2026, 6, 14, 9, 41))
    records += b"\x04\xfd\x17" + bytes(4)
    records += b"\x0c\x78" + bytes.fromhex("56341200")  # fabrication number 00123456
    records += volume_litres_int32(40112, storage=1) + date_g(date(2025, 12, 31), storage=1)
    records += volume_litres_int32(50840, storage=2) + date_g(date(2026, 5, 31), storage=2)
    records += b"\xd3\x01\x3b" + (812).to_bytes(3, "little")  # max flow 0.812 m3/h, storage 3
    records += b"\xc4\x01\x6d" + datetime_f(datetime(2026, 3, 2, 17, 5))[2:]  # its time, storage 3
    records += b"\x81\x04\xfd\x28\x01"  # storage 8: interval one month
    records += date_g(date(2026, 5, 31), storage=8)
    for month in range(12):
        records += volume_litres_int32(50840 - 900 * month, storage=8 + month)
    return records


def test_evo868_set_days_and_twelve_month_ends() -> None:
    reading = _oms("MAD", 0x50, 0x16, _evo868_records())
    extra = reading.extra
    assert reading.decoder == "evo868"
    assert reading.medium == "cold_water"
    assert reading.total_m3 == pytest.approx(52.731)
    assert reading.meter_datetime == datetime(2026, 6, 14, 9, 41)
    # The set day (storage 1) is the billing target, as for the maker's other meters.
    assert reading.target_m3 == pytest.approx(40.112)
    assert reading.target_date == date(2025, 12, 31)
    assert extra["consumption_at_set_date_m3"] == pytest.approx(40.112)
    assert extra["set_date"] == "2025-12-31"
    assert extra["consumption_at_set_date_2_m3"] == pytest.approx(50.84)
    assert extra["set_date_2"] == "2026-05-31"
    assert extra["max_flow_since_datetime_m3h"] == pytest.approx(0.812)
    assert extra["max_flow_datetime"] == "2026-03-02T17:05"
    assert extra["fabrication_no"] == "00123456"
    assert extra["history_reference_date"] == "2026-05-31"
    assert extra["status"] == "OK"
    for month in range(1, 13):
        litres = 50840 - 900 * (month - 1)
        assert extra[f"consumption_at_history_{month}_m3"] == pytest.approx(litres / 1000)
    # Month ends counted back from storage 8's date: 31 May, 30 April, ... 30 June of the year before.
    assert extra["history_2_date"] == "2026-04-30"
    assert extra["history_4_date"] == "2026-02-28"
    assert extra["history_12_date"] == "2025-06-30"


def test_evo868_without_a_history_date_dates_nothing() -> None:
    # Written from the layout: month ends sent without storage 8's date.
    records = volume_litres_int32(100) + volume_litres_int32(90, storage=8)
    records += volume_litres_int32(80, storage=9)
    reading = _oms("MAD", 0x50, 0x07, records)
    assert reading.extra["consumption_at_history_2_m3"] == pytest.approx(0.08)
    assert not any(name.startswith("history_") for name in reading.extra)


def test_evo868_unknown_error_bits_are_named_not_alarmed() -> None:
    records = volume_litres_int32(100) + b"\x04\xfd\x17" + (0x0102).to_bytes(4, "little")
    reading = _oms("MAD", 0x50, 0x07, records)
    assert reading.extra["status"] == "ERROR_FLAGS_102"
    assert not reading.alarms


@pytest.mark.parametrize(
    ("reference", "months", "expected"),
    [
        (date(2026, 5, 31), 1, date(2026, 4, 30)),
        (date(2024, 3, 31), 1, date(2024, 2, 29)),
        (date(2026, 1, 31), 13, date(2024, 12, 31)),
        (date(2026, 3, 15), 1, date(2026, 2, 15)),
        (date(2026, 3, 30), 1, date(2026, 2, 28)),
        (date(2026, 2, 28), 1, date(2026, 1, 31)),
    ],
)
def test_months_before_keeps_month_ends(reference: date, months: int, expected: date) -> None:
    assert months_before(reference, months) == expected


# --- Fiorentini -----------------------------------------------------------------------------------------


def test_fiowater_vector() -> None:
    vector, reading = _decode_vector(64)
    assert reading.decoder == "fiowater"
    assert reading.total_m3 == vector.expected["total_m3"]
    assert reading.meter_datetime == datetime.fromisoformat(vector.expected["meter_datetime"])
    assert reading.extra["status"] == vector.expected["status"]


def test_fiowater_on_times_and_fabrication_number() -> None:
    # Written from the layout: on time (VIF 0x22, hours), on time at error (DIF function 3), BCD number.
    records = volume_litres_int32(159222) + b"\x04\x22" + (7300).to_bytes(4, "little")
    records += b"\x34\x22" + (12).to_bytes(4, "little") + b"\x0c\x78" + bytes.fromhex("14690125")
    reading = _oms("FIO", 0x01, 0x07, records)
    assert reading.extra["on_time_h"] == 7300
    assert reading.extra["on_time_at_error_h"] == 12
    assert reading.extra["fabrication_no"] == "25016914"


# --- LSE (QWater 5.5) -----------------------------------------------------------------------------------


def test_lse_month_end_and_model_version() -> None:
    vector, reading = _decode_vector(154)
    expected = vector.expected
    assert reading.decoder == "lse_07_17"
    assert reading.extra["consumption_at_set_date_8_m3"] == expected["consumption_at_set_date_8_m3"]
    assert reading.extra["set_date_8"] == expected["set_date_8"]
    assert reading.extra["model_version"] == expected["model_version"]
    assert reading.meter_datetime == datetime.fromisoformat(expected["device_datetime"])


def test_lse_due_day_and_error_code() -> None:
    vector, reading = _decode_vector(155)
    expected = vector.expected
    assert reading.extra["due_m3"] == expected["due_m3"]
    assert reading.extra["error_code"] == expected["error_code"]
    assert "due_date" not in reading.extra and "error_date" not in reading.extra  # both 0xFFFF: none
    assert reading.flow_m3h is None  # 02 BB 56 is the error code, not a flow
    assert reading.total_m3 == expected["total_m3"]
    assert not reading.alarms


def test_lse_error_code_raises_meter_error_with_its_date() -> None:
    # Written from the layout: a non-zero error code (02 BB 56) and the error's date (DIF 0x32, VIF 0x6C).
    records = b"\x0c\x13" + bytes.fromhex("23333200") + b"\x02\xbb\x56" + (0x0008).to_bytes(2, "little")
    records += b"\x32" + date_g(date(2026, 10, 3))[1:]
    reading = _oms("LSE", 0xD8, 0x07, records)
    assert reading.total_m3 == pytest.approx(323.323)
    assert reading.extra["error_code"] == "ERROR_CODE_8"
    assert reading.extra["error_date"] == "2026-10-03"
    assert reading.alarms == {Alarm.METER_ERROR}
    assert reading.flow_m3h is None


# --- Techem MK Radio 3a ---------------------------------------------------------------------------------


def _mkradio3a(day: date, total_dm3: int, halves: list[int]) -> bytes:
    """An MK Radio 3a frame written from the layout: two bytes, the date word, the 24-bit total, then
    twelve (byte, history word) pairs of half-month consumptions, newest first, and a last byte."""
    word = day.day | day.month << 5 | (day.year - 2000) << 9
    body = bytes([CI_TECHEM, 0x0C, 0x00]) + word.to_bytes(2, "little") + total_dm3.to_bytes(3, "little")
    for pair in range(12):
        body += bytes([0x00, halves[2 * pair], halves[2 * pair + 1]])
    body += b"\x00"
    return frame(address_bytes("62562021", "TCH", 0x50, 0x72), body)


HALVES = [7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103]


def test_mkradio3a_late_in_the_month() -> None:
    reading = decode_reading(parse_telegram(_mkradio3a(date(2026, 3, 20), 12345, HALVES)), AT)
    extra = reading.extra
    assert reading.decoder == "mkradio3a"
    assert reading.total_m3 == pytest.approx(1234.5)
    # From the 16th the running half-month and the one before make up March so far: 0.7 + 1.1 m3.
    assert extra["last_mar_m3"] == pytest.approx(1.8)
    assert extra["last_feb_m3"] == pytest.approx(1.3 + 1.7)
    assert extra["last_apr_m3"] == pytest.approx(10.1 + 10.3)  # eleven months back
    assert reading.target_m3 == pytest.approx(1232.7)
    assert reading.target_date == date(2026, 3, 1)
    assert extra["current_date"] == "2026-03-20"


def test_mkradio3a_early_in_the_month() -> None:
    reading = decode_reading(parse_telegram(_mkradio3a(date(2026, 1, 9), 500, HALVES)), AT)
    extra = reading.extra
    # Up to the 15th the running half-month alone is the month so far; each month before takes two.
    assert extra["last_jan_m3"] == pytest.approx(0.7)
    assert extra["last_dec_m3"] == pytest.approx(1.1 + 1.3)
    assert extra["last_feb_m3"] == pytest.approx(9.7 + 10.1)
    assert reading.target_m3 == pytest.approx(49.3)
    assert reading.target_date == date(2026, 1, 1)


def test_mkradio3a_short_or_undated_frames_are_unsupported_not_errors() -> None:
    short = frame(address_bytes("62562021", "TCH", 0x50, 0x72), bytes([CI_TECHEM]) + bytes(20))
    reading = decode_reading(parse_telegram(short), AT)
    assert reading.unsupported is not None and "need 43" in reading.unsupported
    no_date = bytes([CI_TECHEM]) + bytes(44)  # date word 0: day 0 of month 0
    undated = decode_reading(parse_telegram(frame(address_bytes("62562021", "TCH", 0x50, 0x72), no_date)), AT)
    assert undated.unsupported is not None and "not a date" in undated.unsupported


def test_every_new_family_is_registered_by_name() -> None:
    names = set(REGISTRY.names())
    assert {"actislink", "aptmbusna", "aquastream", "emerlin868", "ev200", "evo868", "fiowater",
            "lse_07_17", "mkradio3a"} <= names
