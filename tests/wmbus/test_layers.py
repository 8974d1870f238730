"""The declarative construct layouts and the precompiled per-telegram parsers read every vector alike."""

from __future__ import annotations

import pytest

from gateway.wmbus.afl import AFL_LAYOUT, AuthenticationLayer, parse_afl
from gateway.wmbus.dll import DLL_HEADER, parse_dll
from gateway.wmbus.ell import ELL_LAYOUTS, EllCi, ExtendedLinkLayer, parse_ell
from gateway.wmbus.errors import WMBusError
from gateway.wmbus.manufacturer import decode_manufacturer
from gateway.wmbus.medium import medium_name
from gateway.wmbus.telegram import parse_telegram
from gateway.wmbus.tpl import (
    LONG_HEADER,
    SHORT_HEADER,
    HeaderKind,
    TransportLayer,
    parse_tpl,
    status_flags,
)
from gateway.wmbus.tpl import clear_caches as clear_tpl_caches
from gateway.wmbus.wired import LONG_FRAME_HEAD, parse_long_frame
from tests.vectors import Vector, all_vectors, radio_vectors


@pytest.mark.parametrize("vector", radio_vectors(), ids=lambda v: v.name)
def test_dll_layouts_agree(vector: Vector) -> None:
    declared = DLL_HEADER.parse(vector.telegram)
    link = parse_dll(vector.telegram)
    assert (link.length, link.c_field, link.manufacturer_code) == (
        declared.length, declared.c_field, declared.manufacturer
    )
    assert link.meter_id == declared.id[::-1].hex()
    assert link.manufacturer == decode_manufacturer(declared.manufacturer)
    assert (link.version, link.device_type, link.medium) == (
        declared.version, declared.device_type, medium_name(declared.device_type)
    )


@pytest.mark.parametrize("vector", radio_vectors(), ids=lambda v: v.name)
def test_ell_afl_tpl_layouts_agree(vector: Vector) -> None:
    frame = vector.telegram
    pos = 10
    if frame[pos] in (0x8C, 0x8E):  # the ELLs with a session are checked after decryption elsewhere
        declared = ELL_LAYOUTS[EllCi(frame[pos])].parse(frame[pos + 1 :])
        ell, pos = parse_ell(frame, pos)
        assert (ell.cc, ell.access_number) == (declared.cc, declared.acc)
    if frame[pos] == 0x90:
        declared = AFL_LAYOUT.parse(frame[pos + 1 :])
        afl, pos = parse_afl(frame, pos)
        assert (afl.fcl, afl.mcl, afl.message_counter, afl.mac) == (
            declared.fcl, declared.mcl, declared.counter, declared.mac
        )
    if frame[pos] in (0x7A, 0x72):
        tpl, _ = parse_tpl(frame, pos)
        if tpl.kind is HeaderKind.SHORT:
            header = SHORT_HEADER.parse(frame[pos + 1 :])
        else:
            header = LONG_HEADER.parse(frame[pos + 1 :])
            assert tpl.meter_id == header.id[::-1].hex() and tpl.device_type == header.device_type
        assert (tpl.access_number, tpl.status) == (header.access_number, header.status)
        assert tpl.config == header.config


def _tpls_cold_then_kept(
    min_length: int, cis: tuple[int, ...]
) -> tuple[list[bytes], list[tuple[TransportLayer, int]]]:
    """The radio vectors' frames with a TPL of ``cis`` right after the DLL, and their TPLs parsed with the
    caches empty; checks that parsing them again, from the caches, gives the same."""
    frames = [v.telegram for v in radio_vectors() if len(v.telegram) >= min_length and v.telegram[10] in cis]
    clear_tpl_caches()
    fresh = [parse_tpl(frame, 10) for frame in frames]
    assert [parse_tpl(frame, 10) for frame in frames] == fresh
    return frames, fresh


def test_short_headers_from_the_table_are_the_headers_parsed() -> None:
    # Short headers are kept by their bytes: one read from the table equals one parsed afresh.
    frames, fresh = _tpls_cold_then_kept(min_length=16, cis=(0x7A, 0x7B))
    for frame, (tpl, end) in zip(frames, fresh, strict=True):
        header = SHORT_HEADER.parse(frame[11:])
        assert (tpl.ci, tpl.access_number, tpl.status, tpl.config) == (
            frame[10], header.access_number, header.status, header.config
        )
        assert end == (16 if tpl.security_mode == 7 else 15)
        assert tpl.config_ext == (frame[15] if tpl.security_mode == 7 else None)


def test_long_headers_from_the_address_table_are_the_headers_parsed() -> None:
    frames, fresh = _tpls_cold_then_kept(min_length=24, cis=(0x72, 0x73))
    for frame, (tpl, _) in zip(frames, fresh, strict=True):
        header = LONG_HEADER.parse(frame[11:])
        assert (tpl.meter_id, tpl.manufacturer, tpl.version, tpl.device_type) == (
            header.id[::-1].hex(), decode_manufacturer(header.manufacturer), header.version,
            header.device_type,
        )
        assert tpl.m_and_a == frame[15:17] + frame[11:15] + frame[17:19]


@pytest.mark.parametrize("vector", [v for v in all_vectors() if v.wired], ids=lambda v: v.name)
def test_wired_layout_agrees(vector: Vector) -> None:
    declared = LONG_FRAME_HEAD.parse(vector.telegram)
    link, body = parse_long_frame(vector.telegram)
    assert (link.c_field, link.address, link.ci) == (declared.c_field, declared.address, declared.ci)
    assert len(body) == declared.length + 4


def test_status_flags() -> None:
    assert status_flags(0) == frozenset()
    assert status_flags(0x01) == {"busy"}
    assert status_flags(0x02) == {"application_error"}
    assert status_flags(0x03) == {"alarm"}
    assert status_flags(0x1C) == {"power_low", "permanent_error", "temporary_error"}
    assert status_flags(0xE0) == {"manufacturer_1", "manufacturer_2", "manufacturer_3"}


def test_media_names() -> None:
    assert [medium_name(code) for code in (0x07, 0x06, 0x15, 0x16, 0x04, 0x03, 0x02, 0x08)] == [
        "water", "warm_water", "hot_water", "cold_water", "heat", "gas", "electricity", "heat_cost_allocator"
    ]
    assert medium_name(0xFE) == "unknown"


@pytest.mark.parametrize("ci", list(EllCi))
def test_ell_built_in_one_call_is_the_named_tuple_of_the_layout(ci: EllCi) -> None:
    # parse_ell builds its NamedTuple with tuple.__new__: the same fields, defaults and type as the class's.
    body = bytes(range(0x21, 0x21 + 16))
    frame = bytes(10) + bytes((ci,)) + body
    declared = ELL_LAYOUTS[ci].parse(body)
    ell, end = parse_ell(frame, 10)
    address = declared.get("address")
    m_and_a = None if address is None else frame[13:21]
    assert type(ell) is ExtendedLinkLayer and end == 11 + ELL_LAYOUTS[ci].sizeof()
    assert ell == ExtendedLinkLayer(ci, declared.cc, declared.acc, declared.get("sn"), m_and_a)
    assert ell._asdict() == ExtendedLinkLayer._make(ell)._asdict()


def test_afl_built_in_one_call_is_the_named_tuple() -> None:
    afls = []
    for vector in radio_vectors():
        try:
            afls.append(parse_telegram(vector.telegram, vector.key).afl)
        except WMBusError:
            continue
    found = [afl for afl in afls if afl is not None]
    assert found
    for afl in found:
        assert type(afl) is AuthenticationLayer
        assert afl == AuthenticationLayer(*afl) and afl._asdict() == AuthenticationLayer(*afl)._asdict()
