"""B Meters (BMT): Hydrodigit (OMS records + a block after DIF 0x0F), IWM-TX5 and the old RFM-TX1 frame.

Format facts (public: wmbusmeters src/driver_rfmtx1.cc, drivers/src/hydrodigit.xmq, iwmtx5.xmq):
- RFM-TX1 with configuration word 0x1006 XORs the first 6 payload bytes with the access number and with a
  row of a fixed 16 x 6 table chosen by the access number's low nibble; bytes 2-5 of the result are the
  total as 8 BCD digits (LE, litres). Payload bytes 13-18 are the meter time as BCD s, min, h, d, month, yy.
- Hydrodigit block: a contents byte (bit 0 battery, 1 fraud, 7 leak, 2 backflow, 4 monthly data), then
  in this order the parts it announces: battery (low nibble indexes a voltage table), fraud (type byte:
  0x80 magnetic, 0x40 sensor, 0x20 module removed; date: BCD year, month, BCD day), leak date (BCD year,
  month, day), backflow (uint32 LE litres), twelve month-end totals (uint24 LE, 0.01 m3, January first).
"""

from __future__ import annotations

from datetime import date, datetime

from gateway.decoders.base import Match, MeterDecoder
from gateway.decoders.draft import ReadingDraft
from gateway.decoders.plan import is_manufacturer_data, record_value, select
from gateway.decoders.status import Flag, FlagTable
from gateway.reading import Alarm
from gateway.wmbus.telegram import Telegram

_RFM_TX1_CONFIG = 0x1006
# The de-obfuscation table, one 6-byte row per value of the access number's low nibble.
_RFM_TX1_ROWS = (
    "75967A101A0A", "5B7F70132213", "B318B90B8E99", "8E7D79074A16", "B591079ACB69", "B8A332A1390E",
    "BD809C7E6099", "275CB4C480A3", "30D00ACE1903", "C24CF005A586", "544B1698115E", "4BEE0CC97DA2",
    "87CA4A48E41F", "C487772E8AE8", "E330BD78578C", "A49A396F2805",
)
_ROWS = tuple(bytes.fromhex(row) for row in _RFM_TX1_ROWS)


def _bcd(value: int) -> int:
    return (value >> 4) * 10 + (value & 0x0F)


def _is_obfuscated(telegram: Telegram) -> bool:
    return telegram.tpl is not None and telegram.tpl.config == _RFM_TX1_CONFIG


def _rfm_tx1(telegram: Telegram, draft: ReadingDraft) -> None:
    if not _is_obfuscated(telegram):
        return  # newer RFM-TX1 firmware sends standard records
    data = telegram.payload
    access = telegram.access_number or 0
    if len(data) < 19:
        raise ValueError("RFM-TX1 payload too short")
    plain = bytes(data[i] ^ access ^ _ROWS[access & 0x0F][i] for i in range(6))
    digits = plain[2:6][::-1].hex()
    if not digits.isdigit():
        draft.mark_unsupported("RFM-TX1 total did not de-obfuscate to BCD digits")
        return
    draft.total_m3 = int(digits) / 1000
    second, minute, hour, day, month, year = (_bcd(b) for b in data[13:19])
    try:
        draft.meter_datetime = datetime(2000 + year, month, day, hour, minute, second)
    except ValueError:
        draft.meter_datetime = None


_VOLTAGES = (3.7, 1.9, 2.1, 2.2, 2.3, 2.4, 2.5, 2.65, 2.8, 2.9, 3.05, 3.2, 3.35, 3.5, 3.7, 3.7)
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
_BATTERY, _FRAUD, _BACKFLOW, _MONTHLY, _LEAK = 0x01, 0x02, 0x04, 0x10, 0x80
_MONTHLY_INVALID = 10_000_000
CONTENTS = FlagTable(
    "contents",
    (
        Flag(_BATTERY, "BATTERY_VOLTAGE"),
        Flag(_FRAUD, "FRAUD_DATE"),
        Flag(_BACKFLOW, "BACKFLOW"),
        Flag(_MONTHLY, "MONTHLY_DATA"),
        Flag(_LEAK, "LEAK_DATE"),
    ),
)
FRAUD_TYPES = FlagTable(
    "fraud",
    (
        Flag(0x80, "MAGNETIC_FRAUD_ATTEMPT", Alarm.TAMPER),
        Flag(0x40, "SENSOR_FRAUD_ATTEMPT", Alarm.TAMPER),
        Flag(0x20, "MODULE_REMOVED", Alarm.REMOVAL),
    ),
)


def _bcd_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(2000 + _bcd(year), month, _bcd(day))
    except ValueError:
        return None


def _hydrodigit(telegram: Telegram, draft: ReadingDraft) -> None:
    records = draft.records
    blocks = (record_value(records, index) for index in select(records, is_manufacturer_data))
    block = next((value for value in blocks if isinstance(value, bytes)), None)
    if not block:
        return
    contents = block[0]
    draft.extra["contents"] = " ".join(sorted(CONTENTS.labels(contents)))
    pos = 1
    if contents & _BATTERY:
        draft.battery_v = _VOLTAGES[block[pos] & 0x0F]
        pos += 1
    if contents & _FRAUD:
        kind, year, month, day = block[pos : pos + 4]
        draft.extra["fraud_type"] = " ".join(FRAUD_TYPES.apply(kind & 0xE0, draft, width=2)) or "NO_TYPE_INFO"
        fraud_at = _bcd_date(year, month & 0x0F, day)
        draft.extra["fraud_date"] = None if fraud_at is None else fraud_at.isoformat()
        pos += 4
    if contents & _LEAK:
        year, month, day = block[pos : pos + 3]
        leak_at = _bcd_date(year, _bcd(month), day)
        draft.extra["leak_date"] = None if leak_at is None else leak_at.isoformat()
        if leak_at is not None:
            draft.alarms.add(Alarm.LEAK)  # the meter recorded a leak on that date
        pos += 3
    if contents & _BACKFLOW:
        draft.total_backward_m3 = int.from_bytes(block[pos : pos + 4], "little") / 1000
        pos += 4
    if contents & _MONTHLY:
        for month_name in _MONTHS:
            raw = int.from_bytes(block[pos : pos + 3], "little")
            draft.extra[f"{month_name}_total_m3"] = raw / 100 if raw < _MONTHLY_INVALID else 0.0
            pos += 3
    if pos > len(block):
        raise ValueError(f"Hydrodigit block of {len(block)} bytes is shorter than its contents byte says")
    del telegram


HYDRODIGIT = MeterDecoder(
    name="hydrodigit",
    matches=tuple(Match("BMT", version, kind) for version in (0x13, 0x15, 0x17) for kind in (0x06, 0x07)),
    description="B Meters Hydrodigit (OMS records + block after DIF 0x0F: battery, fraud, leak, backflow)",
    proprietary=_hydrodigit,
)
RFM_TX1 = MeterDecoder(
    name="rfmtx1",
    matches=(Match("BMT", 0x05, 0x07),),
    description="B Meters RFM-TX1 (obfuscated total in old firmware, else OMS records)",
    proprietary=_rfm_tx1,
    records_valid=lambda telegram: not _is_obfuscated(telegram),
)
WATER = MeterDecoder(
    name="bmeters",
    aliases=("iwmtx5",),
    matches=tuple(Match("BMT", device_type=kind) for kind in (0x06, 0x07, 0x16)),
    description="B Meters IWM-TX5 and other BMT water meters (OMS records)",
)

DECODERS = (HYDRODIGIT, RFM_TX1, WATER)
