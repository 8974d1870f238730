"""parse_telegram over every vector of ../shared/vectors: headers, decryption, identity, errors."""

from __future__ import annotations

import random

import pytest

from gateway.wmbus.crc import crc16
from gateway.wmbus.dll import meter_id_from_bytes
from gateway.wmbus.errors import (
    CrcError,
    DecryptionError,
    KeyMissingError,
    TruncatedError,
    UnknownCiError,
    WMBusError,
    WrongKeyError,
)
from gateway.wmbus.manufacturer import decode_manufacturer
from gateway.wmbus.phl import add_format_a_crcs, add_format_b_crcs
from gateway.wmbus.telegram import KeyLookup, Telegram, clear_caches, parse_telegram, peek_address
from tests.vectors import Vector, all_vectors, radio_vectors
from tests.wmbus.builders import encrypt_ell, encrypt_mode5, encrypt_mode7

OTHER_KEY = bytes(range(16))


def _addresses(frame: bytes) -> set[str]:
    """Every meter id an address field of the frame carries (DLL, and a TPL long header right after)."""
    ids = {meter_id_from_bytes(frame[4:8]), meter_id_from_bytes(frame[7:11])}
    if len(frame) > 15 and frame[10] in (0x72, 0x73):
        ids.add(meter_id_from_bytes(frame[11:15]))
    return ids


def _standard_encrypted() -> list[Vector]:
    """Vectors with an AES key whose TPL or ELL says encrypted (manufacturer CIs keep their own schemes;
    DES mode 2 has its own tests, test_des_mode2.py)."""
    return [
        v for v in all_vectors() if v.key and len(v.key) == 16 and parse_telegram(v.telegram, v.key).encrypted
    ]


def _parse(vector: Vector) -> Telegram | None:
    """Parse a vector; None when it is truly encrypted and the vector carries no (AES) key."""
    try:
        return parse_telegram(vector.telegram, vector.key)
    except KeyMissingError as exc:
        assert vector.key is None, "a vector with its key must decrypt"
        assert exc.meter_id in _addresses(vector.telegram)
        return None


@pytest.mark.parametrize("vector", all_vectors(), ids=lambda v: v.name)
def test_vector_parses(vector: Vector) -> None:
    telegram = _parse(vector)
    if telegram is None:
        return
    assert telegram.raw[: len(telegram.raw)] == vector.telegram[: len(telegram.raw)]
    assert telegram.wired is vector.wired
    assert (telegram.link is None) is vector.wired
    assert len(telegram.meter_id) == 8 and len(telegram.manufacturer) == 3
    if vector.meter_id in _addresses(vector.telegram) or vector.wired:
        # Where the reference took the id from an address field, it took the same one we do.
        assert telegram.meter_id == vector.meter_id
    end = len(telegram.raw) - 2 if telegram.wired else len(telegram.raw)  # wired: checksum and 0x16
    assert telegram.payload == telegram.raw[telegram.payload_offset : end] or telegram.encrypted
    if vector.key is not None and telegram.security_mode in (5, 7):
        assert telegram.encrypted and telegram.payload[:2] == b"\x2f\x2f"
    if telegram.tpl is not None and not telegram.compact and not telegram.records_error:
        assert all(telegram.payload_offset <= r.offset < len(telegram.raw) for r in telegram.records)


def test_most_vectors_parse_without_a_key_error() -> None:
    parsed = [_parse(vector) for vector in radio_vectors()]
    missing = sum(1 for telegram in parsed if telegram is None)
    # Only telegrams still encrypted on publication and lacking an AES key can fail, and they are few.
    assert missing <= len(parsed) // 50


@pytest.mark.parametrize("vector", _standard_encrypted(), ids=lambda v: v.name)
def test_missing_key_names_the_meter(vector: Vector) -> None:
    with pytest.raises(KeyMissingError) as info:
        parse_telegram(vector.telegram)
    assert info.value.meter_id == parse_telegram(vector.telegram, vector.key).meter_id
    assert info.value.meter_id in str(info.value)


@pytest.mark.parametrize("vector", _standard_encrypted(), ids=lambda v: v.name)
def test_wrong_key_is_refused_and_never_shown(vector: Vector) -> None:
    with pytest.raises(WrongKeyError) as info:
        parse_telegram(vector.telegram, OTHER_KEY)
    text = f"{info.value} {info.value!r} {info.value.args}"
    assert OTHER_KEY.hex() not in text.lower()
    assert vector.key is not None and vector.key.hex() not in text.lower()


@pytest.mark.parametrize("vector", _standard_encrypted(), ids=lambda v: v.name)
def test_key_lookup_by_meter_id(vector: Vector) -> None:
    assert vector.key is not None
    expected = parse_telegram(vector.telegram, vector.key)
    asked: list[str] = []

    def lookup(meter_id: str) -> bytes | None:
        asked.append(meter_id)
        return {expected.meter_id: vector.key}.get(meter_id)

    assert parse_telegram(vector.telegram, lookup).payload == expected.payload
    assert asked == [expected.meter_id]


def test_lookup_not_called_for_plain_telegrams() -> None:
    plain = next(v for v in radio_vectors() if v.telegram[10] == 0x7A and v.telegram[14] == 0)

    def lookup(meter_id: str) -> bytes | None:
        raise AssertionError("no key needed")

    assert parse_telegram(plain.telegram, lookup).security_mode == 0


def test_bad_key_length_is_a_decryption_error() -> None:
    vector = _standard_encrypted()[0]
    with pytest.raises(DecryptionError, match="16 bytes"):
        parse_telegram(vector.telegram, b"\x01" * 8)


@pytest.mark.parametrize("vector", radio_vectors()[::7], ids=lambda v: v.name)
def test_peek_address_agrees_with_parse(vector: Vector) -> None:
    telegram = _parse(vector)
    if telegram is None or (telegram.ell is not None and telegram.ell.m_and_a is not None):
        return
    assert peek_address(vector.telegram) == (
        telegram.meter_id, telegram.manufacturer, telegram.version, telegram.device_type
    )


@pytest.mark.parametrize("vector", radio_vectors()[::5], ids=lambda v: v.name)
def test_frames_with_link_crcs(vector: Vector) -> None:
    frame = vector.telegram[: vector.telegram[0] + 1]
    plain = _parse(vector)
    if plain is None:
        return
    for framed in (add_format_a_crcs(frame), add_format_b_crcs(frame)):
        assert parse_telegram(framed, vector.key, link_crcs=True).payload == plain.payload
    broken = bytearray(add_format_a_crcs(frame))
    broken[3] ^= 0x01
    with pytest.raises(CrcError):
        parse_telegram(bytes(broken), vector.key, link_crcs=True)


def test_status_and_configuration_word() -> None:
    # Techem-style room sensor from ../shared/vectors/captures (short TPL header, status 0x48).
    frame = bytes.fromhex(
        "2e44333003020100071b7a634820252f2f0265840842658308820165950802fb1aae0142fb1aae018201fb1aa9012f"
    )
    telegram = parse_telegram(frame)
    assert telegram.access_number == 0x63 and telegram.status == 0x48
    assert telegram.status_flags == {"permanent_error", "manufacturer_2"}
    assert telegram.tpl is not None and telegram.tpl.config == 0x2520
    assert telegram.security_mode == 5 and telegram.tpl.encrypted_blocks == 2
    assert (telegram.meter_id, telegram.manufacturer) == ("00010203", "LAS")
    assert telegram.medium == "room_sensor"


def test_manufacturer_ci_hands_payload_over() -> None:
    vector = next(v for v in radio_vectors() if 0xA0 <= v.telegram[10] <= 0xB7 and not v.key)
    telegram = parse_telegram(vector.telegram)
    assert telegram.manufacturer_specific and telegram.records == ()
    assert telegram.payload == vector.telegram[11 : vector.telegram[0] + 1]


def test_unknown_ci() -> None:
    frame = bytes.fromhex("0b44b40970739122180701ff")
    with pytest.raises(UnknownCiError) as info:
        parse_telegram(frame)
    assert info.value.offset == 10


@pytest.mark.parametrize("cut", [1, 5, 10, 11, 14])
def test_truncated_frames(cut: int) -> None:
    vector = next(v for v in radio_vectors() if v.telegram[10] == 0x7A)
    with pytest.raises(TruncatedError):
        parse_telegram(vector.telegram[:cut])


def test_wired_frames_parse_and_checksum_is_checked() -> None:
    wired = [v for v in all_vectors() if v.wired]
    assert wired
    for vector in wired:
        telegram = parse_telegram(vector.telegram, vector.key)
        assert telegram.wired and telegram.wired_link is not None and telegram.ci == 0x72
        assert telegram.meter_id == vector.meter_id
        broken = bytearray(vector.telegram)
        broken[-2] ^= 0xFF
        with pytest.raises(CrcError):
            parse_telegram(bytes(broken))


def test_ell_payload_crc_is_checked_when_not_encrypted() -> None:
    vector = next(v for v in radio_vectors() if v.telegram[10] == 0x8D)
    frame = bytearray(vector.telegram[: vector.telegram[0] + 1])
    frame[13:17] = (int.from_bytes(frame[13:17], "little") & 0x1FFFFFFF).to_bytes(4, "little")  # ENC = 0
    assert parse_telegram(bytes(frame)).ell is not None
    frame[-1] ^= 0x01
    with pytest.raises(CrcError):
        parse_telegram(bytes(frame))
    assert frame[17] | frame[18] << 8 != crc16(bytes(frame[19:]))


def _with_ell_address(vector: Vector, ci: int) -> bytes:
    """Turn an ELL I vector (0x8C) into ELL III (0x8E) or ELL IV (0x8F, plaintext with its payload CRC)
    whose address names another meter, as a radio converter sends it."""
    frame = vector.telegram[: vector.telegram[0] + 1]
    address = bytes.fromhex("2d2c78563412") + b"\x1b\x16"  # KAM, id 12345678, version 0x1b, cold water
    rest = frame[13:]
    if ci == 0x8F:
        rest = crc16(rest).to_bytes(2, "little") + rest
        header = bytes((ci,)) + frame[11:13] + address + (1 << 29).to_bytes(4, "little")
    else:
        header = bytes((ci,)) + frame[11:13] + address
    body = frame[1:10] + header + rest
    return bytes((len(body),)) + body


@pytest.mark.parametrize("ci", [0x8E, 0x8F])
def test_ell_with_address_names_the_meter(ci: int) -> None:
    vector = next(
        v for v in radio_vectors()
        if v.telegram[10] == 0x8C and v.telegram[13] == 0x7A and v.telegram[17] & 0x1F == 0 and not v.key
    )
    plain = parse_telegram(vector.telegram)
    frame = _with_ell_address(vector, ci)
    telegram = parse_telegram(frame)
    assert (telegram.meter_id, telegram.manufacturer, telegram.medium) == ("12345678", "KAM", "cold_water")
    assert telegram.link is not None and telegram.link.meter_id == plain.meter_id
    assert telegram.payload == plain.payload
    assert peek_address(frame) == ("12345678", "KAM", 0x1B, 0x16)
    if ci == 0x8F:
        sent = encrypt_ell(frame, OTHER_KEY)
        assert parse_telegram(sent, OTHER_KEY).payload == plain.payload
        with pytest.raises(KeyMissingError):
            parse_telegram(sent)


def _outcome(frame: bytes, key: bytes | None) -> object:
    try:
        return parse_telegram(frame, key)
    except WMBusError as exc:
        return type(exc), str(exc)


def test_caches_change_no_result() -> None:
    # Headers, identities, record layouts and shapes, AES keys: every cache is a shortcut to the same result.
    cases = [(v.telegram, key) for v in all_vectors() for key in (v.key, None, OTHER_KEY)]
    warm = [_outcome(frame, key) for frame, key in cases]
    assert warm == [_outcome(frame, key) for frame, key in cases]  # a second time, from the caches
    cold = []
    for frame, key in cases:
        clear_caches()
        cold.append(_outcome(frame, key))
    assert cold == warm


def test_identity_comes_from_the_layer_that_names_the_meter() -> None:
    # The DLL's own fields serve when no TPL long header, ELL address or converter's record names the meter;
    # link_id keeps the DLL's id where another header names a different meter.
    checked = converted = 0
    for vector in all_vectors():
        for key in (vector.key, None):
            try:
                telegram = parse_telegram(vector.telegram, key)
            except WMBusError:
                continue
            identity = (telegram.meter_id, telegram.manufacturer, telegram.version, telegram.device_type,
                        telegram.medium)
            tpl, ell, link = telegram.tpl, telegram.ell, telegram.link
            if tpl is not None and tpl.m_and_a is not None:
                assert identity == (tpl.meter_id, tpl.manufacturer, tpl.version, tpl.device_type, tpl.medium)
            elif ell is not None and ell.m_and_a is not None:
                assert identity[:2] == (ell.meter_id, ell.manufacturer)
                assert identity[2:] == (ell.m_and_a[6], ell.m_and_a[7], ell.medium)
            elif link is not None and link.device_type == 0x37 and telegram.payload[:2] == b"\x07\x79":
                # a radio converter: the enhanced identification record (id, M, version, type) names the meter
                record = telegram.records[0]
                assert record.quantity == "enhanced_identification"
                assert isinstance(record.value, int)
                data = record.raw[2:]
                assert identity[:4] == (data[3::-1].hex(), decode_manufacturer(data[4] | data[5] << 8),
                                        data[6], data[7])
                converted += 1
            else:
                assert link is not None
                assert identity == (link.meter_id, link.manufacturer, link.version, link.device_type,
                                    link.medium)
            link_id = None if link is None or link.meter_id == identity[0] else link.meter_id
            assert telegram.link_id == link_id
            checked += 1
    assert converted >= 2
    assert checked > 400


def test_bytes_after_the_l_field_change_nothing() -> None:
    for vector in radio_vectors():
        assert _outcome(vector.telegram + b"\x00\x7f", vector.key) == _outcome(vector.telegram, vector.key)


def _outcome_with_key(frame: bytes, key: bytes | KeyLookup | None) -> object:
    try:
        return parse_telegram(frame, key)
    except WMBusError as exc:
        return type(exc).__name__, str(exc), exc.args


def _frames_with_twins_and_mutations() -> list[tuple[bytes, bytes | None]]:
    key = bytes(range(16))
    frames: list[tuple[bytes, bytes | None]] = []
    for vector in all_vectors():
        frames.append((vector.telegram, vector.key))
        for encrypt in (encrypt_mode5, encrypt_mode7, encrypt_ell):
            try:
                frames.append((encrypt(vector.telegram, key), key))
            except Exception:  # not a telegram of that kind
                continue
    rng = random.Random(7)
    for frame, frame_key in list(frames):
        for _ in range(6):
            mutated = bytearray(frame)
            at = rng.randrange(len(mutated))
            if rng.random() < 0.5:
                mutated[at] ^= 1 << rng.randrange(8)
            else:
                del mutated[at:]
            frames.append((bytes(mutated), frame_key))
    return frames


def _lookup_answering(key: bytes | None) -> KeyLookup:
    return lambda _meter_id: key


def test_key_fast_paths_equal_the_lookup_path() -> None:
    # A key as bytes and no key at all skip the lookup (_key_for) and, without a key, the opening of a
    # payload that starts with 0x2F2F; a lookup answering the same takes the whole path: same Telegram
    # or the same typed error, for every vector, encrypted twin and mutated frame, right and wrong keys.
    wrong = bytes(16)
    for frame, key in _frames_with_twins_and_mutations():
        for given in (key, None, wrong):
            expected = _outcome_with_key(frame, given)
            assert expected == _outcome_with_key(frame, _lookup_answering(given))
            if given is not None:  # a lookup's bytearray answer is the same key
                assert expected == _outcome_with_key(frame, _lookup_answering(bytearray(given)))  # type: ignore[arg-type]
        # a key of the wrong length: the same typed error given directly and through a lookup
        assert _outcome_with_key(frame, wrong[:15]) == _outcome_with_key(frame, _lookup_answering(wrong[:15]))
