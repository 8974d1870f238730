"""Techem MK Radio 3a water meters (TCH, version 0x50, type 0x72, CI 0xA2): Techem's half-month layout.

Format facts (public: wmbusmeters drivers/src/mkradio3a.xmq): the payload after CI 0xA2 is ``[0:2] ?,
[2:4] current date (LE: day bits 0-4, month 5-8, year-2000 9-15), [4:7] total volume (LE, 0.1 m3), then
twelve times ``? (1 byte), history word (LE)``, then one byte``. The history words hold 24 half-month
consumptions (one byte each, 0.1 m3), the low byte of the first word being the running half-month: from
the 1st to the 15th the current month is that byte alone, from the 16th that byte and the next; each
earlier month is the next two bytes. The reference prints the month's consumption of each calendar month
(``last_jan_m3`` ... ``last_dec_m3``, the current month's being so far) and this month's consumption so
far as ``target_m3``. A Reading's ``target_m3`` is an index, so here it is the index on the 1st of the
current month (the total minus this month's consumption), dated that day.
"""

from __future__ import annotations

from datetime import date

from gateway.decoders.base import Match, MeterDecoder
from gateway.decoders.draft import ReadingDraft
from gateway.wmbus.telegram import Telegram

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_HISTORY_AT = 8  # the first history word; each takes 3 bytes with the byte before it
_PAYLOAD_BYTES = _HISTORY_AT + 3 * 11 + 2
_LATE = 16  # from this day of the month on, the running half-month is the month's second


def _half_months(data: bytes) -> list[int]:
    halves: list[int] = []
    for word in range(12):
        at = _HISTORY_AT + 3 * word
        halves += (data[at], data[at + 1])
    return halves


def _decode(telegram: Telegram, draft: ReadingDraft) -> None:
    data = telegram.payload
    if len(data) < _PAYLOAD_BYTES:
        draft.mark_unsupported(f"MK Radio 3a payload of {len(data)} bytes, need {_PAYLOAD_BYTES}")
        return
    raw_date = int.from_bytes(data[2:4], "little")
    day, month, year = raw_date & 0x1F, (raw_date >> 5) & 0x0F, 2000 + (raw_date >> 9)
    total_dm3 = int.from_bytes(data[4:7], "little")  # in 0.1 m3
    draft.total_m3 = total_dm3 / 10
    try:
        today = date(year, month, day)
    except ValueError:
        draft.mark_unsupported(f"MK Radio 3a current date 0x{raw_date:04X} is not a date")
        return
    draft.extra["current_date"] = today.isoformat()
    halves = _half_months(data)
    # Month k before this one (k = 0: this month so far), in 0.1 m3.
    first = 2 if day >= _LATE else 1
    months = [sum(halves[:first])]
    months += [halves[first + 2 * k] + halves[first + 2 * k + 1] for k in range(11)]
    for back, consumption in enumerate(months):
        name = _MONTHS[(month - 1 - back) % 12]
        draft.extra[f"last_{name}_m3"] = consumption / 10
    draft.target_m3 = (total_dm3 - months[0]) / 10
    draft.target_date = today.replace(day=1)


WATER = MeterDecoder(
    name="mkradio3a",
    matches=(Match("TCH", 0x50, 0x72, frozenset({0xA2})),),
    description="Techem MK Radio 3a water meter (proprietary CI 0xA2 frame, half-month history)",
    proprietary=_decode,
)

DECODERS = (WATER,)
