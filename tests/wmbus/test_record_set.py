"""RecordSet: the records of a payload built on first read, single values decoded alone, the same as
parse_records in every case (complete, broken tail, cached shape or not)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.wmbus import records as records_module
from gateway.wmbus.errors import WMBusError
from gateway.wmbus.records import PartialRecordError, RecordSet, parse_record_set, parse_records
from gateway.wmbus.telegram import parse_telegram
from tests.vectors import all_vectors


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
    assert first.structure is not None and same.structure == first.structure
    assert other.structure not in (None, first.structure)
    assert broken.structure is None and broken.error is not None and len(broken) == 1
    records_module.clear_caches()
    again = parse_record_set(bytes.fromhex("2F2F" "0413" "01000000" "426C" "BF2C"))
    assert again.structure not in (None, first.structure, other.structure)
    assert again == first and again.records == first.records
