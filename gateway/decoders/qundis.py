"""Qundis (QDS) Q water 5.5 / 5.5 S, Q heat 5.5 and Q caloric 5.5: OMS records or the walk-by block.

Format facts (public: wmbusmeters src/driver_qwater.cc, src/driver_qheat.cc, drivers/src/qwaterv2.xmq,
qcaloric and qheatv2 tests): standard telegrams send the set day in storage 1 (yearly due date) and the
last month end in storage 17, each with a type G date; the month end is the billing target. Walk-by
telegrams (CI 0x78) carry one 53-byte record (DIF 0x0D, VIF 0xFF 0x5F) holding at bytes 12-15 the
current register (8 BCD digits), 16-17 the due date (type G), 18-21 its register, 22-23 the month-end
date, 24-27 its register: litres for water meters, 0.1 kWh for heat meters, plain units for heat cost
allocators. Q water 5.5 meters also come with the older manufacturer code LSE (Landis+Staefa, Qundis'
predecessor) and the qwaterv2 versions 0x19, 0x1A, 0x1D, 0x33, 0x35, 0x36. Radio converters say device
type 0x37; the enhanced-identification record (07 79: id, manufacturer, version, type) names the real one.
"""

from __future__ import annotations

from datetime import date

from gateway.decoders.base import STANDARD_FIELDS, Match, MeterDecoder
from gateway.decoders.draft import ReadingDraft
from gateway.decoders.fields import Direction, Field
from gateway.decoders.plan import Records, record_value, select
from gateway.wmbus.records import DataRecord
from gateway.wmbus.telegram import Telegram

_WALK_BY_SIZE = 53
_WALK_BY_VIFE = 0x5F
_DUE_STORAGE = 1
_MONTH_END_STORAGE = 17
_HEAT_TYPES = frozenset({0x04, 0x0C, 0x0D})
_HCA_TYPE = 0x08
# Heat, warm water, water, heat cost allocator, heat (outlet), hot, cold water, radio converter.
_KINDS = (0x04, 0x06, 0x07, 0x08, 0x0C, 0x15, 0x16, 0x37)
# Q water 5.5 sold under the older LSE code: the versions qwaterv2 reads (other LSE versions are lse_07_17's).
_LSE_VERSIONS = (0x19, 0x1A, 0x1D, 0x33, 0x35, 0x36)
_LSE_KINDS = (0x06, 0x07, 0x37)  # warm water, water, radio converter


def bcd_digits(data: bytes) -> int | None:
    """Little-endian packed BCD as an integer (None when a nibble is not a decimal digit)."""
    digits = data[::-1].hex()
    return int(digits) if digits.isdigit() else None


def type_g_date(data: bytes) -> date | None:
    """EN 13757-3 type G date (None for the all-ones "no date" or an impossible date)."""
    low, high = data[0], data[1]
    year = ((high & 0xF0) >> 1) | (low >> 5)
    try:
        return date(2000 + year, high & 0x0F, low & 0x1F)
    except ValueError:
        return None


def _is_walk_by(record: DataRecord) -> bool:
    return record.vif == 0xFF and record.vifes[:1] == (_WALK_BY_VIFE,)


def _is_identification(record: DataRecord) -> bool:
    return record.quantity == "enhanced_identification" and record.dif & 0x0F == 0x07


def _walk_by_block(records: Records) -> bytes | None:
    for index in select(records, _is_walk_by):
        value = record_value(records, index)
        if isinstance(value, bytes):
            return value
    return None


def _device_type(telegram: Telegram, records: Records) -> int:
    for index in select(records, _is_identification):
        value = record_value(records, index)
        if isinstance(value, int) and not isinstance(value, bool):
            return (value >> 56) & 0xFF  # id (4), manufacturer (2), version, type: type is the top byte
        if isinstance(value, bytes) and len(value) == 8:
            return value[7]
    return telegram.device_type


def _walk_by(telegram: Telegram, draft: ReadingDraft) -> None:
    block = _walk_by_block(draft.records)
    if block is None:
        return  # a standard telegram: the field table has read it
    if len(block) != _WALK_BY_SIZE:
        draft.mark_unsupported(f"Qundis walk-by record of {len(block)} bytes, expected {_WALK_BY_SIZE}")
        return
    current, due, month_end = (bcd_digits(block[i : i + 4]) for i in (12, 18, 24))
    due_date, month_end_date = type_g_date(block[16:18]), type_g_date(block[22:24])
    kind = _device_type(telegram, draft.records)
    if kind == _HCA_TYPE:
        draft.extra["current_consumption_hca"] = current
        draft.extra["consumption_at_set_date_1_hca"] = due
        draft.extra["consumption_at_set_date_17_hca"] = month_end
        draft.extra["set_date_1"] = None if due_date is None else due_date.isoformat()
        draft.extra["set_date_17"] = None if month_end_date is None else month_end_date.isoformat()
        return
    if kind in _HEAT_TYPES:
        draft.medium = "heat"
        for name, value in (
            ("total_energy_consumption_kwh", current),
            ("last_year_energy_consumption_kwh", due),
            ("last_month_energy_consumption_kwh", month_end),
        ):
            draft.extra[name] = None if value is None else value / 10
        draft.extra["last_year_date"] = None if due_date is None else due_date.isoformat()
        draft.extra["last_month_date"] = None if month_end_date is None else month_end_date.isoformat()
        return
    draft.total_m3 = None if current is None else current / 1000
    draft.offer_set_day(_DUE_STORAGE, None if due is None else due / 1000, due_date)
    draft.offer_set_day(_MONTH_END_STORAGE, None if month_end is None else month_end / 1000, month_end_date)


QUNDIS = MeterDecoder(
    name="qundis",
    aliases=("qwater", "qwaterv2", "qheat", "qheatv2", "qcaloric"),
    matches=(
        *(Match("QDS", device_type=kind) for kind in _KINDS),
        *(Match("LSE", version, kind) for version in _LSE_VERSIONS for kind in _LSE_KINDS),
    ),
    description="Qundis Q water / Q heat / Q caloric 5.5 (OMS records or walk-by block), month end as target",
    fields=(
        *STANDARD_FIELDS,
        Field("last_month_energy_consumption_kwh", "energy", storage=17, direction=Direction.PLAIN),
        Field("last_year_energy_consumption_kwh", "energy", storage=1, direction=Direction.PLAIN),
        Field("consumption_at_set_date_17_hca", "hca_units", storage=17),
    ),
    target_storage=_MONTH_END_STORAGE,
    proprietary=_walk_by,
)

DECODERS = (QUNDIS,)
