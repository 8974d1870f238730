"""Proprietary parts find their records by header (`plan.select`) and decode only the values they read."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from gateway.decoders import clear_caches, decode_reading
from gateway.decoders.plan import HeaderTest, is_manufacturer_data, select
from gateway.wmbus import records as records_module
from gateway.wmbus.records import DataRecord, parse_record_set
from gateway.wmbus.telegram import parse_telegram
from tests.decoders.whole_frames import no_build, whole_frames
from tests.vectors import parsed_vectors

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _proprietary_frames() -> list[tuple[str, bytes, bytes | None]]:
    return [
        (decoder.name, vector.telegram, vector.key)
        for vector, _, decoder in whole_frames()
        if decoder.proprietary is not None
    ]


def test_a_proprietary_part_reads_the_same_reading_without_building_the_records(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frames = _proprietary_frames()
    lazy = Counter[str]()
    for name, frame, key in frames:
        clear_caches()
        plain = parse_telegram(frame, key)
        assert plain.records is not None  # built first: every part reads built records, selections cold
        expected = decode_reading(plain, AT)
        assert decode_reading(parse_telegram(frame, key), AT) == expected  # selections warm, records lazy
        with monkeypatch.context() as patch:
            patch.setattr(records_module, "_build", no_build)
            try:
                reading = decode_reading(parse_telegram(frame, key), AT)
            except AssertionError:
                continue  # this part still iterates the records (Diehl's real data, Apator NA-1 ...)
        assert reading == expected
        lazy[name] += 1
    # The makers whose parts read by header decode without a record built (a kind seen sending compact
    # frames, e.g. by an earlier test, is left out above: its full frames are read in full to learn layouts).
    present = {name for name, _, _ in frames}
    assert "qundis" in present
    for name in ("qundis", "kamheat", "kamwater", "gwfwater", "hydrodigit", "itron", "apator162"):
        assert name not in present or lazy[name] > 0, (name, lazy)


def _walk_by(record: DataRecord) -> bool:
    return record.vif == 0xFF


@pytest.mark.parametrize("test", [is_manufacturer_data, _walk_by])
def test_select_is_the_records_whose_header_passes(test: HeaderTest) -> None:
    for _, telegram in parsed_vectors():
        records = telegram.record_set
        expected = tuple(index for index, record in enumerate(records.records) if test(record))
        assert select(records, test) == expected
        assert select(records.records, test) == expected  # a plain tuple: scanned every time
        again = parse_record_set(records._payload, records._base_offset)
        assert select(again, test) == expected  # the cached selection of the same payload shape


def test_the_manufacturer_data_value_is_read_without_building_the_records() -> None:
    seen = 0
    for _, telegram in parsed_vectors():
        payload, base_offset = telegram.record_set._payload, telegram.record_set._base_offset
        lazy = parse_record_set(payload, base_offset)
        if lazy.error is not None:
            continue
        for index in select(lazy, is_manufacturer_data):
            seen += 1
            assert lazy._built is None or index < len(lazy._entries)
            assert lazy.value(index) == parse_record_set(payload, base_offset).records[index].value
    assert seen > 5
