"""Itron (ITW) water meters: Cyble radio modules, Intelis, Allmess with Itron modules (OMS records).

Format facts (public: wmbusmeters drivers/src/itron.xmq): current volume, backward volume, flow, meter
time and the set day in storage 1 (volume and type G date); two manufacturer records (04 7F, 02 7F) whose
meaning is not public are kept raw as ``itron_mfct_a`` / ``itron_mfct_b``.
"""

from __future__ import annotations

from gateway.decoders.base import STANDARD_FIELDS, Match, MeterDecoder
from gateway.decoders.draft import ReadingDraft
from gateway.decoders.plan import record_value, select
from gateway.wmbus.records import DataRecord
from gateway.wmbus.telegram import Telegram


def _is_manufacturer_vif(record: DataRecord) -> bool:
    return record.vif == 0x7F


def _raw_manufacturer_records(telegram: Telegram, draft: ReadingDraft) -> None:
    del telegram
    names = iter(("itron_mfct_a", "itron_mfct_b"))
    records = draft.records
    for index in select(records, _is_manufacturer_vif):
        value = record_value(records, index)
        if isinstance(value, bytes):
            name = next(names, None)
            if name is None:
                return
            draft.extra[name] = value[::-1].hex().upper()


WATER = MeterDecoder(
    name="itron",
    matches=tuple(Match("ITW", device_type=kind) for kind in (0x06, 0x07, 0x16)),
    description="Itron Cyble / Intelis water meters (OMS records)",
    fields=STANDARD_FIELDS,
    proprietary=_raw_manufacturer_records,
)

DECODERS = (WATER,)
