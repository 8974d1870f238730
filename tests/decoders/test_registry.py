"""The registry finds decoders by (manufacturer, version, type, CI) and falls back to generic OMS."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.decoders import REGISTRY, UnknownDecoderError, decode_reading, decoder_names
from gateway.wmbus.crc import crc16
from gateway.wmbus.telegram import parse_telegram

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

# A standard OMS telegram (CI 0x7A, unencrypted) built for this test from EN 13757-3 records:
# 04 13 volume 0.001 m3 = 12345 l, 44 13 storage 1 = 10000 l, 42 6C storage 1 date 2026-09-30
# (maker "XYZ": claimed by nobody).
OMS = bytes.fromhex("1E44" + "3A63" + "78563412" + "01" + "07" + "7A" + "2A000000" + "2F2F"
                    + "0413" + "39300000" + "4413" + "10270000" + "426C" + "5E39")


def _frame(body: str) -> bytes:
    data = bytes.fromhex(body)
    return bytes([len(data)]) + data


def test_decoder_names_lists_generic_and_makers() -> None:
    names = decoder_names()
    assert "oms" in names
    assert "mkradio" in names
    assert names == sorted(names)


def test_unclaimed_standard_meter_gets_generic_decoder() -> None:
    telegram = parse_telegram(_frame(OMS.hex()[2:]))
    reading = decode_reading(telegram, AT)
    assert reading.decoder == "oms"
    assert reading.total_m3 == pytest.approx(12.345)
    assert reading.target_m3 == pytest.approx(10.0)
    assert reading.target_date is not None and reading.target_date.isoformat() == "2026-09-30"
    assert reading.unsupported is None


def test_named_decoder_wins_and_unknown_name_is_an_error() -> None:
    telegram = parse_telegram(_frame(OMS.hex()[2:]))
    assert decode_reading(telegram, AT, decoder="oms").decoder == "oms"
    with pytest.raises(UnknownDecoderError):
        decode_reading(telegram, AT, decoder="no-such-decoder")


def test_unknown_manufacturer_ci_gives_unsupported_marker_not_exception() -> None:
    # CI 0xA5 from a maker nobody claims: generic reading plus a marker.
    telegram = parse_telegram(_frame("443A637856341201" + "07" + "A5" + "00112233"))
    reading = decode_reading(telegram, AT)
    assert reading.decoder == "oms"
    assert reading.total_m3 is None
    assert reading.unsupported is not None and "0xA5" in reading.unsupported


def test_lookup_is_by_key_not_by_scan() -> None:
    telegram = parse_telegram(_frame("4468507856341274" + "62" + "A2" + "069F255900B0293100000003"))
    assert REGISTRY.find(telegram).name == "mkradio"


def test_compact_layout_learnt_from_a_full_frame() -> None:
    # A maker nobody registered: its first compact frame is unsupported, the next full frame teaches
    # the layout, and the compact frames after it decode.
    signature = crc16(bytes.fromhex("041302FD17")).to_bytes(2, "little")
    compact = _frame("443A6378563499" + "01" + "07" + "79" + signature.hex() + "0000" + "40420F00" + "0000")
    assert decode_reading(parse_telegram(compact), AT).unsupported is not None
    full = _frame("443A6378563499" + "01" + "07" + "7A2A000000" + "0413" + "39300000" + "02FD17" + "0000")
    assert decode_reading(parse_telegram(full), AT).total_m3 == pytest.approx(12.345)
    reading = decode_reading(parse_telegram(compact), AT)
    assert reading.unsupported is None
    assert reading.total_m3 == pytest.approx(1000.0)


def test_compact_frame_with_unknown_signature_is_marked_unsupported() -> None:
    compact = _frame("443A6378563412" + "01" + "07" + "79" + "FEFE" + "0000" + "40420F00")
    reading = decode_reading(parse_telegram(compact), AT)
    assert reading.total_m3 is None
    assert reading.unsupported is not None and "0xFEFE" in reading.unsupported


def test_aliases_name_the_same_decoder() -> None:
    telegram = parse_telegram(_frame("4468507856341274" + "62" + "A2" + "069F255900B0293100000003"))
    assert "mkradio3" in decoder_names()
    reading = decode_reading(telegram, AT, decoder="mkradio3")
    assert reading.decoder == "mkradio"
    assert reading.total_m3 == pytest.approx(13.8)
    assert reading.target_m3 == pytest.approx(8.9)


def test_a_date_of_volume_record_is_not_taken_for_the_index() -> None:
    # 04 93 6A: "date of first begin" of a volume (a point in time), then the plain volume register.
    body = "443A6378563477" + "01" + "07" + "7A2A000000" + "04936A" + "00002101" + "0413" + "39300000"
    reading = decode_reading(parse_telegram(_frame(body)), AT)
    assert reading.total_m3 == pytest.approx(12.345)
