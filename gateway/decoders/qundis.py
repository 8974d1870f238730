"""Qundis (QDS) Q water 5.5 / Q water 5.5 S: OMS records or the proprietary walk-by block (0x0D 0xFF 0x5F).

Format facts (public: wmbusmeters src/driver_qwater.cc and drivers/src/qwaterv2 tests): standard telegrams
send the set day in storage 1 (yearly due date) and the last month end in storage 17, each with a type G
date; the most recent is the billing target. Walk-by telegrams (CI 0x78) carry one 53-byte record
(DIF 0x0D, VIF 0xFF 0x5F) holding at bytes 12-15 the current volume (8 BCD digits, litres), 16-17 the
due date (type G), 18-21 its volume (BCD), 22-23 the month-end date (type G), 24-27 its volume (BCD).
"""

from __future__ import annotations

from datetime import date

from gateway.decoders.base import Match, MeterDecoder
from gateway.decoders.draft import ReadingDraft
from gateway.wmbus.records import DataRecord
from gateway.wmbus.telegram import Telegram

_WALK_BY_SIZE = 53
_WALK_BY_VIFE = 0x5F
_DUE_STORAGE = 1
_MONTH_END_STORAGE = 17


def bcd_litres(data: bytes) -> float | None:
    """Little-endian packed BCD litres as m3 (None when a nibble is not a decimal digit)."""
    digits = data[::-1].hex()
    return int(digits) / 1000 if digits.isdigit() else None


def type_g_date(data: bytes) -> date | None:
    """EN 13757-3 type G date (None for the all-ones "no date" or an impossible date)."""
    low, high = data[0], data[1]
    year = ((high & 0xF0) >> 1) | (low >> 5)
    try:
        return date(2000 + year, high & 0x0F, low & 0x1F)
    except ValueError:
        return None


def _walk_by_block(records: tuple[DataRecord, ...]) -> bytes | None:
    for record in records:
        if record.vif == 0xFF and record.vifes[:1] == (_WALK_BY_VIFE,) and isinstance(record.value, bytes):
            return record.value
    return None


def _walk_by(telegram: Telegram, draft: ReadingDraft) -> None:
    block = _walk_by_block(telegram.records)
    if block is None:
        return  # a standard telegram: the field table has read it
    if len(block) != _WALK_BY_SIZE:
        draft.mark_unsupported(f"Qundis walk-by record of {len(block)} bytes, expected {_WALK_BY_SIZE}")
        return
    draft.total_m3 = bcd_litres(block[12:16])
    draft.offer_set_day(_DUE_STORAGE, bcd_litres(block[18:22]), type_g_date(block[16:18]))
    draft.offer_set_day(_MONTH_END_STORAGE, bcd_litres(block[24:28]), type_g_date(block[22:24]))


Q_WATER = MeterDecoder(
    name="qwater",
    aliases=("qwaterv2",),
    # Water device types (warm, water, hot, cold); Q water S radio modules say 0x37 (radio converter),
    # which Q heat shares, so those match by version.
    matches=(
        *(Match("QDS", device_type=kind) for kind in (0x06, 0x07, 0x15, 0x16)),
        Match("QDS", 0x33, 0x37),
        Match("QDS", 0x35, 0x37),
    ),
    description="Qundis Q water 5.5 (OMS records or the walk-by block), latest closed period as target",
    latest_set_day=True,
    proprietary=_walk_by,
)

DECODERS = (Q_WATER,)
