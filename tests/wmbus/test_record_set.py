"""RecordSet: the records of a payload built on first read, single values decoded alone, the same as
parse_records in every case (complete, broken tail, cached shape or not)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.wmbus import records as records_module
from gateway.wmbus.errors import WMBusError
from gateway.wmbus.records import PartialRecordError, RecordSet, parse_record_set, parse_records
from gateway.wmbus.telegram import parse_telegram
from tests.vectors import all_vectors, parsed_vectors
from tests.wmbus.shape_cache import no_known_shapes


def _reference(payload: bytes, base_offset: int) -> tuple[object, ...]:
    try:
        return parse_records(payload, base_offset), None
    except PartialRecordError as error:
        return error.records, (error.reason, error.offset, error.record_offset)


def _check(payload: bytes, base_offset: int) -> RecordSet:
    found = parse_record_set(payload, base_offset)
    records, error = _reference(payload, base_offset)
    assert isinstance(records, tuple)
    assert len(found) == len(records)
    # Values read one by one before the records exist, then the records themselves.
    assert [found.value(index) for index in range(len(records))] == [r.value for r in records]
    assert found.records == records and tuple(found) == records and found[:] == records
    got = None if found.error is None else (found.error.reason, found.error.offset, found.error.record_offset)
    assert got == error
    return found


def test_every_vector_payload_reads_as_parse_records_gives_it() -> None:
    checked = 0
    for vector in all_vectors():
        key = vector.key
        try:
            telegram = parse_telegram(vector.telegram, key)
        except WMBusError:
            continue
        if telegram.tpl is None or telegram.compact:
            assert telegram.records == ()
            continue
        _check(telegram.payload, telegram.payload_offset)
        fresh = parse_telegram(vector.telegram, key)
        assert fresh.records == _reference(telegram.payload, telegram.payload_offset)[0]
        assert fresh == telegram
        checked += 1
    assert checked > 200


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([v.telegram for v in all_vectors()]), st.binary(max_size=8), st.integers(0, 40))
def test_mutated_payloads_read_the_same_lazily(frame: bytes, noise: bytes, where: int) -> None:
    try:
        telegram = parse_telegram(frame)
    except WMBusError:
        return
    payload = bytearray(telegram.payload)
    payload[where:where + len(noise)] = noise
    _check(bytes(payload), 15)  # twice: first walked, then (if it parsed completely) from its cached shape
    _check(bytes(payload), 15)


def test_a_structure_is_shared_by_one_cached_shape_and_never_reused() -> None:
    first = parse_record_set(bytes.fromhex("2F2F" "0413" "01000000" "426C" "BF2C"))
    same = parse_record_set(bytes.fromhex("2F2F" "0413" "02000000" "426C" "9F2C"))
    other = parse_record_set(bytes.fromhex("2F2F" "0414" "01000000" "426C" "BF2C"))
    broken = parse_record_set(bytes.fromhex("0413" "01000000" "0413" "FF"))
    # The same broken tail after other data (its last byte the walk never reads: 4 data bytes, 1 left).
    broken_alike = parse_record_set(bytes.fromhex("0413" "02000000" "0413" "00"))
    assert first.structure is not None and same.structure == first.structure
    assert other.structure not in (None, first.structure)
    assert broken.error is not None and len(broken) == 1
    assert broken.structure not in (None, first.structure, other.structure)
    assert broken_alike.structure == broken.structure and broken_alike.error is not None
    assert str(broken_alike.error) == str(broken.error) == "record needs 4 data bytes, 1 left (at byte 8)"
    assert [r.value for r in broken_alike] == [0.002]
    records_module.clear_caches()
    again = parse_record_set(bytes.fromhex("2F2F" "0413" "01000000" "426C" "BF2C"))
    assert again.structure not in (None, first.structure, other.structure)
    assert again == first and again.records == first.records


# --- broken tails: a payload whose walk ends in a broken record keeps its shape too ---


def _everything(found: RecordSet) -> tuple[object, ...]:
    error = found.error
    told = None if error is None else (
        type(error), error.reason, error.offset, error.record_offset, str(error), error.args, error.records,
    )
    return told, [found.value(index) for index in range(len(found))], found.records, len(found)


def _same_as_a_fresh_walk(payload: bytes, base_offset: int) -> None:
    cached = _everything(parse_record_set(payload, base_offset))
    with no_known_shapes():
        assert cached == _everything(parse_record_set(payload, base_offset))
        assert cached[0] is None or cached[2] == _reference(payload, base_offset)[0]


def _broken_vector_payloads() -> list[bytes]:
    return [telegram.payload for _, telegram in parsed_vectors() if telegram.records_error is not None]


def test_a_broken_vector_payload_is_walked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    payloads = _broken_vector_payloads()
    assert len(payloads) >= 5
    for payload in payloads:
        with no_known_shapes():
            first = _everything(parse_record_set(payload, 15))
            with monkeypatch.context() as patch:
                patch.setattr(records_module, "_scan", _no_walk)
                again = parse_record_set(payload, 15)
                assert again.structure is not None
                assert _everything(again) == first
                # Another base offset: the error's offsets follow it, as they would on a fresh walk.
                moved = _everything(parse_record_set(payload, 40))
            assert moved == _everything(parse_record_set(payload, 40))
        _same_as_a_fresh_walk(payload, 15)


def _no_walk(*_: object) -> None:
    raise AssertionError("cached shape not used")


def test_the_error_records_are_built_only_when_read(monkeypatch: pytest.MonkeyPatch) -> None:
    payload = bytes.fromhex("2F2F" "0413" "01000000" "426C" "BF2C" "0413" "FF")
    expected = parse_records(payload[:12], 15)
    parse_record_set(payload, 15)  # shape cached
    with monkeypatch.context() as patch:
        patch.setattr(records_module, "_build", _no_walk)
        found = parse_record_set(payload, 15)
        error = found.error
        assert error is not None and len(found) == 2
        assert (error.reason, error.offset, error.record_offset) == (
            "record needs 4 data bytes, 1 left", 29, 27
        )
        assert str(error) == "record needs 4 data bytes, 1 left (at byte 29)"
        assert found.value(0) == 0.001
    assert found.records == expected and error.records is found.records
    with pytest.raises(PartialRecordError) as raised:
        parse_records(payload, 15)
    assert raised.value.records == expected and raised.value.record_offset == 27


# Payloads that break in each way a walk can stop early: DIFEs, VIFEs, plain text, LVAR, data, reserved DIF.
_BROKEN = [bytes.fromhex(text) for text in (
    "0413010000008493",  # ends inside its DIFEs
    "04130100000084" + "80" * 11 + "13",  # more than 10 DIFEs
    "0413010000000493",  # ends inside its VIFEs
    "041301000000049380808080808080808080801000",  # more than 10 VIFEs
    "04130100000004",  # ends before its VIF
    "0413010000000C7C",  # ends before its plain-text VIF
    "0413010000000CFC0510033231",  # ends inside its plain-text VIF
    "0413010000000D",  # ends before its VIF
    "0413010000000D78",  # ends before its LVAR byte
    "0413010000000D78F8AABBCC",  # reserved LVAR
    "0413010000000D7805414243",  # LVAR announces more than is left
    "0413010000000413AABB",  # needs 4 data bytes, 2 left
    "2F0413010000006F00",  # reserved special function DIF
)]


def test_every_kind_of_break_is_reused_as_a_fresh_walk_gives_it() -> None:
    for payload in _BROKEN:
        with no_known_shapes():
            assert parse_record_set(payload).error is not None
            for where in range(len(payload)):  # every byte changed, one at a time, against a known shape
                for byte in (0x00, 0x7F, 0x80, 0xFF, payload[where] ^ 0x01):
                    changed = bytearray(payload)
                    changed[where] = byte
                    parse_record_set(payload, 15)
                    _same_as_a_fresh_walk(bytes(changed), 15)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(_BROKEN + [v.telegram[11:] for v in all_vectors()]),
    st.lists(st.tuples(st.integers(0, 300), st.integers(0, 255)), min_size=1, max_size=4),
    st.integers(0, 300),
)
def test_a_known_broken_shape_reads_as_a_fresh_walk(payload: bytes, changes: list[tuple[int, int]],
                                                    cut: int) -> None:
    # Learn a payload's shape (most of these break), then read it with bytes changed (data, the unread
    # tail, or the bytes that decide the walk): always what a walk with no shape known gives.
    payload = payload[:cut] if cut < len(payload) else payload
    parse_record_set(payload, 15)
    changed = bytearray(payload)
    for where, byte in changes:
        if changed:
            changed[where % len(changed)] = byte
    _same_as_a_fresh_walk(bytes(changed), 15)
    _same_as_a_fresh_walk(bytes(changed), 11)


# BCD (DIF 0x09-0x0C, 0x0E) and date/time records (G, J, F, I): RecordSet.value reads all-decimal BCD
# without decode_bcd and keeps decoded points in time by their bytes; both must give what _build gives.
_VALUE_HEADERS = (b"\x09\x13", b"\x0a\x13", b"\x0b\x13", b"\x0c\x13", b"\x0e\x13", b"\x0c\x5b",
                  b"\x02\x6c", b"\x03\x6d", b"\x04\x6d", b"\x06\x6d", b"\x42\x6c", b"\x44\x6d")


def _sized(header: bytes) -> int:
    return {0x09: 1, 0x0A: 2, 0x0B: 3, 0x0C: 4, 0x0E: 6, 0x02: 2, 0x03: 3, 0x04: 4, 0x06: 6}[header[0] & 0x0F]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_VALUE_HEADERS), st.binary(min_size=6, max_size=6)), min_size=1,
                max_size=6), st.booleans())
def test_bcd_and_date_values_read_alone_as_the_records_give_them(
    records: list[tuple[bytes, bytes]], cold: bool
) -> None:
    payload = b"".join(header + data[: _sized(header)] for header, data in records)
    if cold:
        records_module.clear_caches()
    first = _check(payload, 11)
    again = parse_record_set(payload, 11)  # its dates from the kept ones now
    assert [again.value(index) for index in range(len(again))] == [r.value for r in first.records]


def test_bcd_and_date_values_cover_their_special_cases() -> None:
    records_module.clear_caches()
    bcd = ("12345678", "123456f0", "1234567f", "eeeeeeee", "00000000")
    cases = [b"\x0c\x13" + bytes.fromhex(h) for h in bcd]
    cases += [b"\x04\x6d" + bytes.fromhex(h) for h in ("2f0bde1c", "af0bde1c", "ffffffff", "00000000")]
    cases += [b"\x02\x6c" + bytes.fromhex(h) for h in ("de1c", "ffff", "0000")]
    for payload in cases:
        for _ in range(2):  # decoded, then kept
            _check(payload, 0)
