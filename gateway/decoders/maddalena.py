"""Maddalena (MAD) water meters (Italy): OMS records, and the EVO 868 radio module's history.

Format facts (public: wmbusmeters drivers/src/maddalena.xmq): current volume, meter time, error flags
(meanings not public: kept raw), fabrication number, the set day in storage 1 and the month end in
storage 2 with their dates. The set day (storage 1) is the billing target, as the standard convention has it.

EVO 868 (public: wmbusmeters drivers/src/evo868.xmq; versions 0x50, warm, water and cold water): volume,
meter time, error flags (no published bit meanings), fabrication number, the set day (storage 1: a yearly
date such as 31 December) and the last month end (storage 2) with their dates, the maximum flow (function
maximum, storage 3) with its date and time, the storage interval (FD 28, months) and twelve month-end
volumes in storages 8-19, of which only storage 8 carries a date: storage 8 + n is n months before it.
"""

from __future__ import annotations

from datetime import date, datetime

from gateway.decoders.base import STANDARD_FIELDS, Match, MeterDecoder
from gateway.decoders.draft import ReadingDraft
from gateway.decoders.fields import Field
from gateway.decoders.status import FlagTable
from gateway.decoders.units import fabrication_no, months_before, valid_date
from gateway.wmbus.records import Function
from gateway.wmbus.telegram import Telegram

WATER = MeterDecoder(
    name="maddalena",
    matches=(Match("MAD", 0x01, 0x06), Match("MAD", 0x01, 0x07)),
    description="Maddalena water meter (OMS records)",
)

_HISTORY_FIRST = 8
_HISTORY_MONTHS = 12


def _minutes(value: object) -> str | None:
    return value.isoformat(timespec="minutes") if isinstance(value, datetime) else None


def _history_dates(telegram: Telegram, draft: ReadingDraft) -> None:
    """Date each month-end volume by its distance from storage 8, the only one the meter dates."""
    extra = draft.extra
    reference = extra.get("history_reference_date")
    if not isinstance(reference, str):
        return
    newest = date.fromisoformat(reference)
    for month in range(1, _HISTORY_MONTHS + 1):
        if f"consumption_at_history_{month}_m3" in extra:
            extra[f"history_{month}_date"] = months_before(newest, month - 1).isoformat()


EVO_868 = MeterDecoder(
    name="evo868",
    matches=(Match("MAD", 0x50, 0x06), Match("MAD", 0x50, 0x07), Match("MAD", 0x50, 0x16)),
    description="Maddalena EVO 868 water meter module (OMS records, twelve month ends)",
    fields=(
        *STANDARD_FIELDS,
        Field("fabrication_no", "fabrication_number", convert=fabrication_no),
        Field("consumption_at_set_date_m3", "volume", storage=1),
        Field("set_date", "date", storage=1, convert=valid_date),
        Field("consumption_at_set_date_2_m3", "volume", storage=2),
        Field("set_date_2", "date", storage=2, convert=valid_date),
        Field("max_flow_since_datetime_m3h", "volume_flow", function=Function.MAXIMUM, storage=3),
        Field("max_flow_datetime", "datetime", storage=3, convert=_minutes),
        Field("history_reference_date", "date", storage=_HISTORY_FIRST, convert=valid_date),
        *(
            Field(f"consumption_at_history_{month}_m3", "volume", storage=_HISTORY_FIRST + month - 1)
            for month in range(1, _HISTORY_MONTHS + 1)
        ),
    ),
    error_flags=FlagTable("error_flags", (), unknown_prefix="ERROR_FLAGS"),
    proprietary=_history_dates,
)

DECODERS = (WATER, EVO_868)
