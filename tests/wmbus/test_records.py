"""DIF/DIFE/VIF/VIFE records of EN 13757-3: hand-written records from the standard, and the real vectors."""

from __future__ import annotations

import contextlib
import struct
from datetime import date, datetime, time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.wmbus import records as records_module
from gateway.wmbus.crc import crc16
from gateway.wmbus.datatypes import InvalidValue
from gateway.wmbus.errors import CrcError, RecordError, TruncatedError
from gateway.wmbus.phl import strip_format_b
from gateway.wmbus.records import DataRecord, Function, PartialRecordError, parse_record_set, parse_records
from gateway.wmbus.vif import VifTable
from tests.vectors import Vector, radio_vectors
from tests.wmbus.shape_cache import no_known_shapes

# Payload offset after the DLL (L C M A = 10 bytes) and the CI byte, by CI: TPL short header (ACC, ST, CW),
# TPL long header (id, M, version, type, ACC, ST, CW), no TPL header.
PAYLOAD_START = {0x7A: 15, 0x72: 23, 0x78: 11}
# Meters whose application data after the TPL are not DIF/VIF records (the maker's own layout).
PROPRIETARY_LAYOUT = {"bfw240radio"}


def one(hex_record: str) -> DataRecord:
    records = parse_records(bytes.fromhex(hex_record))
    assert len(records) == 1
    return records[0]


# --- hand-written records (EN 13757-3:2018 clause 6 and Annex A; OMS Vol. 2 Annex N examples) ---


def test_volume_int32_litres() -> None:
    # DIF 0x04 (32-bit integer), VIF 0x13 (volume 10^-3 m3): Table 4 / Table 10
    record = one("0413" + (12345).to_bytes(4, "little").hex())
    assert record.quantity == "volume"
    assert record.unit == "m3"
    assert record.value == 12.345
    assert record.function is Function.INSTANTANEOUS
    assert (record.storage, record.tariff, record.subunit) == (0, 0, 0)
    assert record.vif_table is VifTable.PRIMARY
    assert record.raw == bytes.fromhex("041339300000")


def test_bcd8_energy_kwh() -> None:
    # DIF 0x0C (8 digit BCD), VIF 0x06 (energy 10^3 Wh = kWh): 12345678 kWh
    record = one("0C0678563412")
    assert record.quantity == "energy"
    assert record.value == 12345678


def test_negative_bcd() -> None:
    # Annex A type A: 0xF in the most significant nibble marks a negative number
    record = one("0A5A23F1")  # digits F123, VIF 0x5A: 10^-1 C
    assert record.quantity == "flow_temperature"
    assert record.value == -12.3


def test_hex_in_bcd_is_an_invalid_value() -> None:
    # Hex digits A-F in BCD data carry error codes (EN 13757-3 Annex A, type A)
    record = one("0B13EEEEEE")
    assert isinstance(record.value, InvalidValue)
    assert record.value.hex_digits == "EEEEEE"


def test_storage_tariff_subunit_from_difes() -> None:
    # DIF 0xC4: storage LSB 1, extension; DIFE 0x91: storage bits 1-4 = 1, tariff 1, extension;
    # DIFE 0x40: subunit 1 -> storage 0b00011 = 3, tariff 1, subunit 2 (6.3.2, Table 6)
    record = one("C49140" + "13" + "01000000")
    assert record.storage == 3
    assert record.tariff == 1
    assert record.subunit == 2
    assert record.difes == (0x91, 0x40)


def test_function_field() -> None:
    assert one("1413" + "00000000").function is Function.MAXIMUM
    assert one("2413" + "00000000").function is Function.MINIMUM
    assert one("3413" + "00000000").function is Function.ERROR


def test_date_type_g() -> None:
    # 0x426C: storage 1, date (type G): 2021-12-31 -> day 31, month 12, year 21
    record = one("426CBF2C")
    assert record.quantity == "date"
    assert record.storage == 1
    assert record.value == date(2021, 12, 31)


def test_datetime_type_f_and_invalid_flag() -> None:
    record = one("046D1E02DE21")
    assert record.quantity == "datetime"
    assert record.value == datetime(2022, 1, 30, 2, 30)
    invalid = one("046D9E02DE21")  # bit 7 of the minute byte: time invalid
    assert isinstance(invalid.value, InvalidValue)


def test_backward_flow_vife() -> None:
    # VIF 0x93 (volume 10^-3 m3 with extension), VIFE 0x3C: accumulation of abs value of negative
    # contributions (Table 15): the backward-flow register
    record = one("0493" + "3C" + "E8030000")
    assert record.value == 1.0
    assert "backward_flow" in record.modifiers
    assert "accumulation_abs_negative" in record.modifiers


def test_fd_extension_and_fc_phase() -> None:
    # VIF 0xFD, true VIF 0xC9 (volts 10^0 with extension), VIFE 0xFC (combinable extension), 0x01 phase L1
    record = one("0AFDC9FC013502")
    assert record.vif_table is VifTable.FD
    assert record.quantity == "voltage"
    assert record.value == 235
    assert "at_phase_1" in record.modifiers


def test_error_flags_fd17() -> None:
    record = one("02FD170400")
    assert record.quantity == "error_flags"
    assert record.value == 4
    assert one("02FD17FFFF").value == 0xFFFF  # bit fields (type D) are read unsigned


def test_binary_integers_are_signed() -> None:
    assert one("0213FEFF").value == -0.002  # type B
    assert one("02FD3AFEFF").value == -2  # dimensionless


def test_fb_extension_energy_mwh() -> None:
    # VIF 0xFB, true VIF 0x01: energy 10^0 MWh
    record = one("02FB010300")
    assert record.vif_table is VifTable.FB
    assert record.value == 3000
    assert record.unit == "kWh"


def test_plain_text_vif() -> None:
    # VIF 0x7C: length 3, "abc" last character first, then the data (6.4.3)
    record = one("017C03636261" + "05")
    assert record.vif_table is VifTable.PLAIN_TEXT
    assert record.quantity == "plain_text"
    assert record.unit == "abc"
    assert record.value == 5


def test_manufacturer_vif_keeps_bytes() -> None:
    record = one("02FF20A1B2")
    assert record.quantity == "manufacturer_specific"
    assert record.vif_table is VifTable.MANUFACTURER
    assert record.value == bytes.fromhex("A1B2")


def test_idle_fillers_and_manufacturer_data() -> None:
    records = parse_records(bytes.fromhex("2F2F0413010000002F1F0102"), base_offset=15)
    assert [r.quantity for r in records] == ["volume", "manufacturer_data"]
    assert records[0].offset == 17
    assert records[1].offset == 24
    assert records[1].value == bytes.fromhex("0102")
    assert "more_records_follow" in records[1].modifiers
    assert "more_records_follow" not in parse_records(bytes.fromhex("0F0102"))[0].modifiers


def test_lvar_text() -> None:
    # DIF 0x0D variable length, VIF 0x78... here VIF 0xFD 0x0C model/version, LVAR 3: "ABC" reversed
    record = one("0DFD0C03434241")
    assert record.value == "ABC"


def test_unknown_vif_keeps_raw_value() -> None:
    record = one("026F0A00")  # E110 1111 is reserved in Table 10
    assert record.quantity == "unknown"
    assert record.value == 10


def test_time_only_type_j() -> None:
    # 0x6D with 3 data bytes (DIF 0x03): type J, time of day only
    record = one("036D1E1F0C")
    assert record.quantity == "time"
    assert record.value == time(12, 31, 30)


def test_datetime_type_i() -> None:
    # 0x6D with 6 data bytes (DIF 0x06): type I, with seconds
    assert one("066D2C1AA1D52100").value == datetime(2022, 1, 21, 1, 26, 44)


def test_fahrenheit_is_converted() -> None:
    # VIF 0xFB 0x5A: flow temperature 10^-1 F (Table 12): 212.0 F = 100 C
    record = one("02FB5A4808")
    assert record.quantity == "flow_temperature"
    assert record.value == pytest.approx(100.0)


def test_duration_vife_replaces_the_unit() -> None:
    # VIF 0xBB (volume flow, extension), VIFE 0x56: duration of last lower-limit exceed in hours
    record = one("02BB560200")
    assert record.unit == "s"
    assert record.value == 7200
    assert "duration_of" in record.modifiers


def test_date_of_vife_reads_a_date() -> None:
    # VIF 0x93 (volume, extension), VIFE 0x6A: date of first begin (Table 15), 2 bytes: type G
    record = one("0293" + "6A" + "BF2C")
    assert record.value == date(2021, 12, 31)
    assert "date_of_first_begin" in record.modifiers


def test_correction_factor_vife_scales() -> None:
    # VIFE 0x7D: multiplicative correction factor 10^3 (Table 15)
    assert one("0293" + "7D" + "0500").value == 5.0


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_a_real_that_is_no_number_is_an_invalid_value(number: float) -> None:
    # Type H (DIF 0x05), volume in litres (VIF 0x13): a NaN or an infinity must not reach billing as a float.
    assert one("0513" + struct.pack("<f", 12.5).hex()).value == pytest.approx(0.0125)
    record = one("0513" + struct.pack("<f", number).hex())
    assert record.value == InvalidValue(struct.pack("<f", number), "not a finite number (type H)")


def test_manufacturer_vifes_after_0x7f() -> None:
    record = one("0293FF3C0500")  # 0xFF: the following VIFE (0x3C here) is the manufacturer's
    assert "manufacturer_specific_vifes" in record.modifiers
    assert "backward_flow" not in record.modifiers


def test_plain_text_vif_with_vifes() -> None:
    # 0xFC: the length byte and the text follow the VIF directly, then the VIFEs (EN 13757-3 6.4.3)
    record = one("01FC03636261" + "3C" + "05")
    assert record.unit == "abc"
    assert "backward_flow" in record.modifiers
    assert record.vifes == (0x3C,)
    assert record.value == 5


def test_plain_text_units_with_a_correction_factor_among_other_records() -> None:
    # A sensor's payload as the standard lays it out: a volume, then relative humidity in 0.01 % with the
    # unit as text "%RH" and VIFE 0x74 (x 10^-2), then a temperature in 0.1 degC (VIF 0x66), a text unit
    # without VIFE, and a last volume at storage 1: every record must be read, none left to the break.
    payload = bytes.fromhex(
        "0413E8030000"  # 1.000 m3
        "02FC03" + "%RH"[::-1].encode().hex() + "74" + "7214"  # 5234 x 0.01 = 52.34 %RH
        + "0266D200"  # 21.0 degC
        + "017C01" + b"x".hex() + "07"  # 7 x
        + "4413D0070000"  # 2.000 m3 at storage 1
    )
    records = parse_records(payload, base_offset=0)
    assert [r.quantity for r in records] == ["volume", "plain_text", "external_temperature", "plain_text",
                                             "volume"]
    humidity = records[1]
    assert (humidity.unit, humidity.vifes) == ("%RH", (0x74,))
    assert humidity.value == pytest.approx(52.34)
    assert (records[3].unit, records[3].value) == ("x", 7)
    assert (records[4].storage, records[4].value) == (1, 2.0)
    assert parse_record_set(payload, 0).error is None


def test_partial_records_are_kept_on_error() -> None:
    with pytest.raises(PartialRecordError) as info:
        parse_records(bytes.fromhex("041301000000" + "0413FF"), base_offset=10)
    assert [r.value for r in info.value.records] == [0.001]
    assert info.value.record_offset == 16
    assert info.value.offset == 18


def test_bytearray_and_memoryview_payloads() -> None:
    payload = bytes.fromhex("041301000000")
    for variant in (bytearray(payload), memoryview(payload)):
        (record,) = parse_records(variant)  # type: ignore[arg-type]
        assert record.raw == payload and type(record.raw) is bytes


def test_records_are_frozen_values() -> None:
    record = one("041301000000")
    with pytest.raises(AttributeError):
        record.value = 2  # type: ignore[misc]
    assert record == one("041301000000")
    assert hash(record) == hash(one("041301000000"))


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("04", "VIF"),
        ("0413010203", "data bytes"),
        ("84", "DIFE"),
        ("0D1305", "data bytes"),
        ("0DFD0CF8", "LVAR"),
        ("3F", "special"),
        ("8" + "4" + "80" * 10 + "0013" + "00000000", "DIFEs"),
        ("04" + "93" + "BC" * 10 + "3C00000000", "VIFEs"),
    ],
)
def test_structural_errors(payload: str, reason: str) -> None:
    with pytest.raises(RecordError) as info:
        parse_records(bytes.fromhex(payload), base_offset=100)
    assert reason in info.value.reason
    assert info.value.offset is not None and info.value.offset >= 100


# --- real telegrams ---


def _application_payload(vector: Vector) -> tuple[bytes, int] | None:
    """The record bytes of an unencrypted TPL telegram, the link-layer CRCs removed where still in."""
    frame = vector.telegram
    try:
        frame = strip_format_b(frame)
    except (CrcError, TruncatedError):
        # Some captures keep the CRC of the last format A block inside the L field.
        last_block = 10 + 16 * ((len(frame) - 13) // 16)
        if len(frame) > 12 and crc16(frame[last_block:-2]).to_bytes(2, "big") == frame[-2:]:
            frame = frame[:-2]
    start = PAYLOAD_START.get(frame[10])
    if start is None:
        return None
    config = frame[start - 2] | frame[start - 1] << 8 if frame[10] != 0x78 else 0
    payload = frame[start:]
    if (config >> 8) & 0x1F and not payload.startswith(b"\x2f\x2f"):
        return None  # really encrypted: not this module's concern
    return payload, start


PLAIN = [v for v in radio_vectors() if v.key is None and _application_payload(v) is not None]


@pytest.mark.parametrize("vector", PLAIN, ids=lambda v: v.name)
def test_vectors_parse(vector: Vector) -> None:
    found = _application_payload(vector)
    assert found is not None
    payload, start = found
    if vector.driver in PROPRIETARY_LAYOUT:
        with contextlib.suppress(RecordError):  # any other exception fails the test
            parse_records(payload, start)
        return
    records = parse_records(payload, start)
    assert records
    position = start
    for record in records:
        assert record.offset >= position
        assert payload[record.offset - start :].startswith(record.raw)
        position = record.offset + len(record.raw)


def _current_volume(records: tuple[DataRecord, ...]) -> DataRecord | None:
    for record in records:
        if (
            record.quantity == "volume"
            and record.storage == 0
            and record.tariff == 0
            and record.subunit == 0
            and record.function is Function.INSTANTANEOUS
            and not record.modifiers
        ):
            return record
    return None


def test_vectors_total_m3_from_standard_records() -> None:
    matched = 0
    for vector in PLAIN:
        if "total_m3" not in vector.expected or vector.driver in PROPRIETARY_LAYOUT:
            continue
        found = _application_payload(vector)
        assert found is not None
        volume = _current_volume(parse_records(*found))
        if volume is None:
            continue  # the volume is in the maker's own data: a decoder's job
        assert volume.value == pytest.approx(vector.expected["total_m3"], abs=1e-9), vector.name
        matched += 1
    assert matched >= 40


# --- property tests ---


def assert_covers(payload: bytes, records: tuple[DataRecord, ...], base: int) -> None:
    """Every byte of the payload is in exactly one record, or is an idle filler between records."""
    position = 0
    for record in records:
        start = record.offset - base
        assert set(payload[position:start]) <= {0x2F}
        assert payload[start : start + len(record.raw)] == record.raw
        position = start + len(record.raw)
    assert set(payload[position:]) <= {0x2F}


def _mutations() -> st.SearchStrategy[bytes]:
    payloads = [found[0] for v in PLAIN if (found := _application_payload(v)) is not None]

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(st.sampled_from(payloads)))
        for _ in range(draw(st.integers(1, 4))):
            where = draw(st.integers(0, max(len(data) - 1, 0)))
            action = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
            if action == "flip" and data:
                data[where] = draw(st.integers(0, 255))
            elif action == "cut":
                del data[where:]
            elif action == "insert":
                data[where:where] = draw(st.binary(min_size=1, max_size=4))
            elif data:
                del data[where]
        return bytes(data)

    return mutate()


@settings(max_examples=400, deadline=None)
@given(_mutations())
def test_mutated_vectors_give_records_or_record_error(payload: bytes) -> None:
    try:
        records = parse_records(payload, 15)
    except RecordError as error:
        assert error.offset is not None and 15 <= error.offset <= 15 + len(payload)
        return
    assert_covers(payload, records, 15)


# --- payload shapes: a payload laid out like one seen before only has its values decoded ---


def _outcome(payload: bytes) -> object:
    try:
        return parse_records(payload, 15)
    except PartialRecordError as error:
        return (error.reason, error.offset, error.record_offset, error.records)


@settings(max_examples=400, deadline=None)
@given(_mutations(), st.data())
def test_known_shapes_give_what_a_first_parse_gives(payload: bytes, data: st.DataObject) -> None:
    # Once a payload's shape is known, payloads of the same length with any bytes changed (data bytes:
    # the shape is reused; structural bytes: it is not) read exactly as they would the first time.
    with contextlib.suppress(RecordError):
        parse_records(payload)
    changed = bytearray(payload)
    for _ in range(data.draw(st.integers(1, 3))):
        if changed:
            changed[data.draw(st.integers(0, len(changed) - 1))] = data.draw(st.integers(0, 255))
    reused = _outcome(bytes(changed))
    with no_known_shapes():
        assert reused == _outcome(bytes(changed))


def test_a_known_shape_is_not_walked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    first = parse_records(bytes.fromhex("2F2F" + "0413" + "01000000" + "426C" + "BF2C" + "0F" + "AABB"))

    def walk(payload: bytes, base_offset: int) -> None:
        raise AssertionError("shape not reused")

    monkeypatch.setattr(records_module, "_scan", walk)
    second = parse_records(bytes.fromhex("2F2F" + "0413" + "02000000" + "426C" + "BF2D" + "0F" + "CCDD"))
    assert [r.value for r in first] == [0.001, date(2021, 12, 31), bytes.fromhex("AABB")]
    assert [r.value for r in second] == [0.002, InvalidValue(bytes.fromhex("BF2D"), "invalid date (type G)"),
                                         bytes.fromhex("CCDD")]


def test_known_shapes_are_bounded() -> None:
    with no_known_shapes():
        for n in range(3 * records_module._SHAPE_LIMIT):
            fillers, vif, count = n % 40, 0x10 + (n // 40) % 8, 1 + n // 320
            parse_records(b"\x2f" * fillers + (bytes((0x04, vif)) + bytes(4)) * count)
        lists = records_module._shapes.values()
        assert sum(map(len, lists)) <= records_module._SHAPE_LIMIT
        assert max(map(len, lists)) <= records_module._SHAPES_PER_LENGTH
