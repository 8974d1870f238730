"""Techem MK Radio 3 / MK Radio 4 water meters (CI 0xA2, Techem's own layout).

Format (public: wmbusmeters src/driver_mkradio3.cc and src/driver_mkradio4.cc): the payload after CI 0xA2
is ``[0] ?, [1:3] date of the last period (LE: day bits 0-4, month 5-8, year-2000 9-14), [3:5] volume of
the last period (LE, 0.1 m3), [5:7] current date (day bits 4-8, month 9-12; no year), [7:9] volume
consumed since (LE, 0.1 m3)``. The index is last period + since; the last period is the set-day value.
MK Radio 4a (CI 0x72, standard records) and WEH-coded Techem meters follow OMS and need no code here.
"""

from __future__ import annotations

from datetime import date

from gateway.decoders.base import Match, MeterDecoder
from gateway.decoders.draft import ReadingDraft
from gateway.wmbus.telegram import Telegram

_CI_A2 = frozenset({0xA2})


def _period_date(word: int) -> date | None:
    try:
        return date(2000 + ((word >> 9) & 0x3F), (word >> 5) & 0x0F, word & 0x1F)
    except ValueError:
        return None


def _mk_radio(telegram: Telegram, draft: ReadingDraft) -> None:
    data = telegram.payload
    if len(data) < 9:
        draft.mark_unsupported(f"Techem payload of {len(data)} bytes, need 9")
        return
    previous_m3 = int.from_bytes(data[3:5], "little") / 10
    since_m3 = int.from_bytes(data[7:9], "little") / 10
    current = int.from_bytes(data[5:7], "little")
    draft.total_m3 = round(previous_m3 + since_m3, 1)
    draft.target_m3 = previous_m3
    draft.target_date = _period_date(int.from_bytes(data[1:3], "little"))
    # The current date carries no year: keep it as month-day for traceability.
    draft.extra["current_month_day"] = f"{(current >> 9) & 0x0F:02d}-{(current >> 4) & 0x1F:02d}"


MK_RADIO = MeterDecoder(
    name="mkradio",
    aliases=("mkradio3", "mkradio4"),
    matches=(
        Match("TCH", 0x74, 0x62, _CI_A2),
        Match("TCH", 0x74, 0x72, _CI_A2),
        Match("TCH", 0x95, 0x62, _CI_A2),
        Match("TCH", 0x95, 0x72, _CI_A2),
        Match("TCH", 0x70, 0x62, _CI_A2),
        Match("TCH", 0x70, 0x72, _CI_A2),
    ),
    description="Techem MK Radio 3 / MK Radio 4 water meter (proprietary CI 0xA2 frame)",
    proprietary=_mk_radio,
)

DECODERS = (MK_RADIO,)
