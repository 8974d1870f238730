"""Compact frames expand into a RecordSet read on demand, and full frames teach their layout once."""

from __future__ import annotations

import pytest

from gateway.decoders import compact
from gateway.decoders.compact import expand_compact, learn_layout, register_format
from gateway.wmbus import records as records_module
from gateway.wmbus.crc import crc16
from gateway.wmbus.errors import RecordError
from gateway.wmbus.records import RecordSet, parse_record_set, parse_records
from tests.decoders.whole_frames import no_build

# volume (0x13, litres), error flags (0xFD17), storage 1 volume (0x4413): a layout a meter could send
LAYOUT = "0413" + "04FD17" + "4413"
DATA = bytes.fromhex("78563412" "00000000" "11223344")


def _full() -> bytes:
    return bytes.fromhex("0413" "78563412" "04FD17" "00000000" "4413" "11223344")


def _compact(data: bytes = DATA) -> bytes:
    signature = register_format(LAYOUT)
    return signature.to_bytes(2, "little") + b"\x00\x00" + data


def test_expanded_records_equal_the_full_frame() -> None:
    expanded = expand_compact(_compact())
    assert isinstance(expanded, RecordSet)
    assert expanded.records == parse_records(_full())
    assert expanded.records[0].value == pytest.approx(0x12345678 / 1000)


def test_expanded_values_are_decoded_without_building(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = [record.value for record in parse_records(_full())]
    expand_compact(_compact())  # the shape is cached from here on
    monkeypatch.setattr(records_module, "_build", no_build)
    expanded = expand_compact(_compact())
    assert expanded is not None and expanded.structure is not None
    assert [expanded.value(index) for index in range(len(expected))] == expected


def test_unknown_signature_and_short_data_give_none() -> None:
    unknown = next(signature for signature in range(1 << 16) if signature not in compact._FORMATS)
    assert expand_compact(unknown.to_bytes(2, "little") + b"\x00\x00" + DATA) is None
    assert expand_compact(_compact(DATA[:-1])) is None


def test_a_broken_expansion_raises_the_record_error() -> None:
    # A registered header whose DIFE chain never ends: the rebuilt full frame breaks inside its DIFEs.
    signature = 0x1234
    compact._FORMATS[signature] = ((bytes.fromhex("8480"), 0),)
    try:
        with pytest.raises(RecordError):
            expand_compact(signature.to_bytes(2, "little") + b"\x00\x00")
    finally:
        del compact._FORMATS[signature]


def test_a_full_frame_layout_is_learnt_once_per_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    payload = bytes.fromhex("0413" "01000000" "02FD17" "0000" "4413" "02000000")
    first = parse_record_set(payload)
    learn_layout(first)
    signature = crc16(bytes.fromhex("0413" "02FD17" "4413"))
    assert signature in compact._FORMATS
    assert first.structure in compact._seen_structures
    monkeypatch.setattr(records_module, "_build", no_build)
    learn_layout(parse_record_set(bytes.fromhex("0413" "05000000" "02FD17" "0100" "4413" "06000000")))
