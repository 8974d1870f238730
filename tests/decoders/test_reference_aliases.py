"""The reference's driver names dme_07 and uiws name our decoders; uiws (Zenner IUWS), which no vector holds,
is checked with a telegram written from the reference's documented layout (drivers/src/uiws.xmq)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from gateway.decoders import decode_reading, decoder_names
from gateway.wmbus.telegram import parse_telegram
from tests.decoders.frames import address, date_g, le, radio, short_tpl

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_the_reference_names_are_accepted() -> None:
    assert {"dme_07", "uiws"} <= set(decoder_names())


def test_dme_07_is_the_diehl_decoder() -> None:
    # DME 0x7B 0x07 (written from drivers/src/dme_07.xmq): index and error flags.
    records = b"\x04\x13" + le(214_787, 4) + b"\x02\xfd\x17" + le(0, 2)
    telegram = parse_telegram(radio(address("DME", "93929190", 0x7B, 0x07), 0x7A, short_tpl() + records))
    by_name = decode_reading(telegram, AT, "dme_07")
    assert by_name.decoder == "diehl"
    assert by_name == decode_reading(telegram, AT)
    assert by_name.total_m3 == pytest.approx(214.787)


def _iuws(flags: int) -> bytes:
    # Index, a storage 1 volume of unknown meaning (here the "no value" pattern), the compact profile's
    # base month in storage 30 (date and volume: the set day), error flags.
    records = b"\x04\x13" + le(1, 4) + b"\x44\x13" + le(0x8000_0000, 4)
    records += b"\x82\x0f\x6c" + date_g(date(2026, 6, 1)) + b"\x84\x0f\x13" + le(1, 4)
    records += b"\x02\xfd\x17" + le(flags, 2)
    return radio(address("ZRI", "61330764", 0x99, 0x07), 0x7A, short_tpl() + records)


def test_uiws_target_is_the_compact_profile_base_month() -> None:
    reading = decode_reading(parse_telegram(_iuws(0x0028)), AT, "uiws")
    assert reading.decoder == "uiws"
    assert reading == decode_reading(parse_telegram(_iuws(0x0028)), AT)
    assert reading.total_m3 == pytest.approx(0.001)
    assert reading.target_m3 == pytest.approx(0.001)
    assert reading.target_date == date(2026, 6, 1)
    assert reading.extra["status"] == "ERROR_FLAGS_28"
