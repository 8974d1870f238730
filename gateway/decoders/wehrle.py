"""Wehrle water meters: WEH meters (alone or behind a Techem radio) and the modularis (WZG) M-Bus meter.

Format facts (public: wmbusmeters drivers/src/weh_07.xmq, drivers/src/werhlemodwm.xmq):
- WEH 0xFE/0x03 water meters send standard records: the index, and the most recent billing date with
  its volume in storage 1 (the set day). Behind a Techem radio (link address TCH 0x95 0x37) the long
  transport header carries the meter's own address WEH 0xFE 0x07.
- The modularis meter (WZG 0x03 0x16) keeps its set day and twelve month ends in storages 1-13, each a
  volume with a type G date, reported as ``target_<storage>_m3`` / ``target_<storage>_date``; storage 1
  also holds the next set day, a date marked with the "future value" VIFE (0x7E): ``next_target_date``.
  The fabrication number (VIF 0x78, 8 BCD digits) is ``fabrication_no``.
"""

from __future__ import annotations

from gateway.decoders.base import STANDARD_FIELDS, Match, MeterDecoder
from gateway.decoders.draft import ReadingDraft
from gateway.decoders.fields import Field, as_date
from gateway.decoders.plan import record_value, select
from gateway.reading import JsonScalar
from gateway.wmbus.records import DataRecord
from gateway.wmbus.telegram import Telegram

_FUTURE = "future_value"
_MONTHS = range(1, 14)  # the set day and twelve month ends


def _digits(value: object) -> JsonScalar:
    """An 8-digit BCD number as the meter prints it (leading zeros kept)."""
    return f"{value:08d}" if type(value) is int else None


WEH_07 = MeterDecoder(
    name="weh_07",
    matches=(Match("WEH", 0xFE, 0x07), Match("WEH", 0x03, 0x07)),
    description="Wehrle water meter (OMS records, set day in storage 1)",
)


def _is_next_set_day(record: DataRecord) -> bool:
    return record.storage == 1 and record.quantity == "date" and _FUTURE in record.modifiers


def _next_set_day(telegram: Telegram, draft: ReadingDraft) -> None:
    del telegram
    records = draft.records
    for index in select(records, _is_next_set_day)[:1]:
        found = as_date(record_value(records, index))
        draft.extra["next_target_date"] = None if found is None else found.isoformat()


_NOT_FUTURE = frozenset({_FUTURE})
MODULARIS = MeterDecoder(
    name="werhlemodwm",
    matches=(Match("WZG", 0x03, 0x16),),
    description="Wehrle modularis water meter (set day and month ends in storages 1-13)",
    fields=(
        *STANDARD_FIELDS,
        Field("fabrication_no", "fabrication_number", convert=_digits),
        *(Field(f"target_{n}_m3", "volume", storage=n, without=_NOT_FUTURE) for n in _MONTHS),
        *(Field(f"target_{n}_date", "date", storage=n, without=_NOT_FUTURE) for n in _MONTHS),
    ),
    proprietary=_next_set_day,
)

DECODERS = (WEH_07, MODULARIS)
