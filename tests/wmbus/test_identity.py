"""Which header names the meter: the id on its label, in telegrams, in errors and in the header-only peek.

The frames built here follow EN 13757-4/-7 and, for the Diehl group's own A-field layouts, the facts in
gateway/wmbus/diehl.py (public: wmbusmeters src/manufacturer_specificities.cc); none is copied from a test
suite.
"""

from __future__ import annotations

import pytest

from gateway.wmbus.diehl import AddressLayout, address_layout, sap_label
from gateway.wmbus.errors import Identity, KeyMissingError, TruncatedError, UnknownCiError, WMBusError
from gateway.wmbus.manufacturer import encode_manufacturer
from gateway.wmbus.telegram import parse_telegram, peek_address, peek_identity
from tests.vectors import radio_vectors

RECORDS = bytes.fromhex("0413f8110000")  # volume, 1 l, 4 bytes: 4.600 m3


def _frame(c_field: int, maker: str, a_field: bytes, after_dll: bytes) -> bytes:
    body = bytes((c_field,)) + encode_manufacturer(maker).to_bytes(2, "little") + a_field + after_dll
    return bytes((len(body),)) + body


def _a_field(meter_id: str, version: int, device_type: int) -> bytes:
    """The standard A field: the id as 4 BCD bytes least significant first, version, device type."""
    return bytes.fromhex(meter_id)[::-1] + bytes((version, device_type))


def _short_tpl(access: int, config: int) -> bytes:
    return bytes((0x7A, access, 0x00)) + config.to_bytes(2, "little")


def _long_tpl(meter_id: str, maker: str, version: int, device_type: int, access: int) -> bytes:
    address = bytes.fromhex(meter_id)[::-1] + encode_manufacturer(maker).to_bytes(2, "little")
    return bytes((0x72,)) + address + bytes((version, device_type, access, 0x00, 0x00, 0x00))


def _identity_of(frame: bytes, key: bytes | None = None) -> Identity:
    try:
        return parse_telegram(frame, key).identity
    except WMBusError as error:
        assert error.identity is not None
        return error.identity


def test_every_radio_vector_gives_the_id_the_reference_prints_errors_included() -> None:
    failed = 0
    for vector in radio_vectors():
        try:
            meter_id = parse_telegram(vector.telegram, vector.key).meter_id
        except WMBusError as error:
            failed += 1
            assert error.identity is not None, vector.name
            meter_id = error.identity.meter_id
        assert meter_id == vector.meter_id, vector.name
    assert failed >= 1  # the vector of an encrypted meter whose key is not published


def test_the_header_only_peek_names_the_meter_as_the_parse_does() -> None:
    for vector in radio_vectors():
        peeked = peek_identity(vector.telegram)
        parsed = _identity_of(vector.telegram, vector.key)
        if peeked.ci is None:  # an encrypted ELL hides the CI after it
            parsed = parsed._replace(ci=None)
        assert peeked == parsed, vector.name
        assert peek_address(vector.telegram) == peeked[:4]


# --- Diehl-group layouts ------------------------------------------------------------------------------

SWAPPED_A = bytes((0x8B, 0x07)) + bytes.fromhex("60897379")[::-1]  # version, type, then the id 60897379


@pytest.mark.parametrize("maker", ["DME", "HYD", "EWT", "SPL", "SAP"])
def test_real_data_frames_put_version_and_type_before_the_id(maker: str) -> None:
    # CI 0x7A whose configuration word has bit 12 set: security mode 16, "real data"
    frame = _frame(0x44, maker, SWAPPED_A, _short_tpl(0x8F, 0x1000) + RECORDS)
    assert address_layout(frame) is AddressLayout.SWAPPED
    telegram = parse_telegram(frame)
    assert (telegram.meter_id, telegram.version, telegram.device_type, telegram.medium) == (
        "60897379", 0x8B, 0x07, "water"
    )
    assert telegram.link_id is None
    assert telegram.raw[4:10] == SWAPPED_A  # the bytes as sent: the descrambling seeds from them
    assert peek_identity(frame) == telegram.identity


def test_a_diehl_short_tpl_frame_without_the_real_data_flag_is_standard() -> None:
    frame = _frame(0x44, "HYD", _a_field("60897379", 0x8B, 0x07), _short_tpl(0x8F, 0x0000) + RECORDS)
    assert address_layout(frame) is AddressLayout.STANDARD
    assert parse_telegram(frame).meter_id == "60897379"


def test_alarm_reports_of_the_diehl_group_are_swapped_and_reach_the_decoders() -> None:
    frame = _frame(0x44, "DME", SWAPPED_A, bytes((0x71, 0x01)))
    telegram = parse_telegram(frame)
    assert (telegram.meter_id, telegram.ci, telegram.payload) == ("60897379", 0x71, b"\x01")
    assert telegram.records == ()
    assert peek_identity(frame) == telegram.identity


@pytest.mark.parametrize("ci", [0xA0, 0xA2, 0xA7, 0xB1, 0xB3])
def test_prios_frames_put_version_and_type_before_the_id(ci: int) -> None:
    frame = _frame(0x44, "DME", SWAPPED_A, bytes((ci, 0x01, 0x18, 0x00, 0x13)) + bytes(8))
    telegram = parse_telegram(frame)
    assert (telegram.meter_id, telegram.version, telegram.device_type) == ("60897379", 0x8B, 0x07)


@pytest.mark.parametrize(("c_field", "maker", "ci"), [
    (0x08, "DME", 0xA2),  # a response, not a spontaneous message
    (0x44, "KAM", 0xA2),  # not of the Diehl group
    (0x44, "DME", 0xB0),  # SAP PRIOS standard / reserved: nothing known to move
    (0x44, "DME", 0xA8),
])
def test_other_frames_keep_the_standard_a_field(c_field: int, maker: str, ci: int) -> None:
    frame = _frame(c_field, maker, _a_field("12345678", 0x20, 0x07), bytes((ci,)) + bytes(12))
    assert address_layout(frame) is AddressLayout.STANDARD
    telegram = parse_telegram(frame)
    assert (telegram.meter_id, telegram.version, telegram.device_type) == ("12345678", 0x20, 0x07)


def test_sap_prios_keeps_the_id_and_reads_the_version_byte_as_part_of_the_label() -> None:
    # Label C19UA145842: the year and serial as the 8 decimal digits 19145842 in the id's low 26 bits, then
    # letters of 5 bits: supplier C (3), meter type U (21), diameter A (1) spread over id, version and type.
    number = 19145842
    supplier, meter_type, diameter = 3, 21, 1
    a3 = (number >> 24) & 0x03 | (diameter & 0x07) << 5
    version = (supplier & 0x01) << 7 | meter_type << 2 | diameter >> 3
    type_byte = supplier >> 1
    a_field = (number & 0xFFFFFF).to_bytes(3, "little") + bytes((a3, version, type_byte))
    frame = _frame(0x44, "SAP", a_field, bytes((0xA2, 0x01, 0x3D, 0x40, 0x13)) + bytes(8))
    assert address_layout(frame) is AddressLayout.SAP_PRIOS
    telegram = parse_telegram(frame)
    assert telegram.meter_id == a_field[3::-1].hex()
    assert (telegram.version, telegram.device_type, telegram.medium) == (0, 0x07, "water")
    assert sap_label(frame) == ("C19UA", "145842", 2019)


# --- Long transport headers: id and link_id -----------------------------------------------------------

REPEATER = _a_field("11111111", 0x01, 0x32)  # a unidirectional repeater's own address


def test_a_long_tpl_header_names_the_meter_and_the_dll_is_the_link_id() -> None:
    frame = _frame(0x44, "ABC", REPEATER, _long_tpl("22334455", "KAM", 0x1B, 0x16, 0x42) + RECORDS)
    telegram = parse_telegram(frame)
    assert (telegram.meter_id, telegram.manufacturer, telegram.link_id) == ("22334455", "KAM", "11111111")
    assert telegram.access_number == 0x42
    assert peek_identity(frame) == telegram.identity


def test_behind_an_ell_the_long_tpl_header_names_the_meter_for_the_peek_too() -> None:
    ell = bytes((0x8C, 0x20, 0x42))
    frame = _frame(0x44, "ABC", REPEATER, ell + _long_tpl("22334455", "KAM", 0x1B, 0x16, 0x42) + RECORDS)
    telegram = parse_telegram(frame)
    assert (telegram.meter_id, telegram.link_id, telegram.ci) == ("22334455", "11111111", 0x72)
    assert peek_identity(frame) == telegram.identity
    assert peek_address(frame)[0] == "22334455"


def test_the_same_id_in_both_headers_gives_no_link_id() -> None:
    frame = _frame(0x44, "KAM", _a_field("22334455", 0x1B, 0x16),
                   _long_tpl("22334455", "KAM", 0x1B, 0x16, 0x42) + RECORDS)
    assert parse_telegram(frame).link_id is None


# --- Errors carry what was decoded before them ------------------------------------------------------


def test_an_encrypted_meter_without_a_key_is_still_identified() -> None:
    tpl = bytearray(_long_tpl("22334455", "KAM", 0x1B, 0x16, 0x42))
    tpl[11:13] = (0x0500 | 0x10).to_bytes(2, "little")  # mode 5, one encrypted block
    frame = _frame(0x44, "ABC", REPEATER, bytes(tpl) + bytes(range(16)))
    with pytest.raises(KeyMissingError) as caught:
        parse_telegram(frame)
    expected = Identity("22334455", "KAM", 0x1B, 0x16, "cold_water", 0x72, 0x42, "11111111")
    assert caught.value.identity == expected


def test_an_unknown_ci_error_names_the_meter_of_the_link_layer() -> None:
    frame = _frame(0x44, "KAM", _a_field("22334455", 0x1B, 0x16), bytes((0x55, 0x00)))
    with pytest.raises(UnknownCiError) as caught:
        parse_telegram(frame)
    assert caught.value.identity == Identity("22334455", "KAM", 0x1B, 0x16, "cold_water", 0x55, None, None)


def test_a_frame_that_ends_inside_the_long_header_still_names_its_link() -> None:
    frame = _frame(0x44, "ABC", REPEATER, _long_tpl("22334455", "KAM", 0x1B, 0x16, 0x42)[:6])
    with pytest.raises(TruncatedError) as caught:
        parse_telegram(frame)
    assert caught.value.identity is not None
    assert (caught.value.identity.meter_id, caught.value.identity.link_id) == ("11111111", None)


def test_a_frame_shorter_than_its_link_layer_carries_no_identity() -> None:
    with pytest.raises(TruncatedError) as caught:
        parse_telegram(bytes((0x09, 0x44, 0x2D, 0x2C, 0x01, 0x02, 0x03, 0x04)))
    assert caught.value.identity is None
