"""Q water 5.5 under the older LSE code (the qwaterv2 versions): no vector holds one, so the telegram is
written from the documented Qundis layout (drivers/src/qwaterv2.xmq: index, yearly due date in storage 1,
month end in storage 17, each with a type G date; the month end is the target)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from gateway.decoders import decode_reading
from gateway.wmbus.telegram import parse_telegram
from tests.decoders.frames import address, bcd, date_g, radio, short_tpl

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _q_water(version: int, device_type: int) -> bytes:
    records = b"\x0c\x13" + bcd(126_753, 4)
    records += b"\x4c\x13" + bcd(59_207, 4) + b"\x42\x6c" + date_g(date(2025, 12, 31))
    records += b"\xcc\x08\x13" + bcd(126_273, 4) + b"\xc2\x08\x6c" + date_g(date(2026, 10, 31))
    return radio(address("LSE", "12230094", version, device_type), 0x7A, short_tpl() + records)


@pytest.mark.parametrize("version", [0x19, 0x1A, 0x1D, 0x33, 0x35, 0x36])
@pytest.mark.parametrize("device_type", [0x06, 0x07])
def test_lse_q_water_reads_as_qundis_with_the_month_end_as_target(version: int, device_type: int) -> None:
    reading = decode_reading(parse_telegram(_q_water(version, device_type)), AT)
    assert reading.decoder == "qundis"
    assert reading.total_m3 == pytest.approx(126.753)
    assert reading.target_m3 == pytest.approx(126.273)
    assert reading.target_date == date(2026, 10, 31)
