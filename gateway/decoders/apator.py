"""Apator water meters: AT-WMBUS-16/17 (APA v05, tagged proprietary block), APT 08x/17x (CI 0xA0),
the NA-1 family (CI 0xA0/0xA1, AES inside the maker's frame) and Ultrimis (standard records).

Format facts (public: wmbusmeters drivers/src/apator162.xmq, src/driver_apator08.cc, src/driver_apator172.cc,
drivers/src/apatorna1.xmq):
- AT-WMBUS-16/17: after DIF 0x0F come 7 status bytes, then fields each introduced by a tag byte whose
  length is fixed by the tag (table below); tag 0x10 is the total volume in litres (uint32 LE); FF padding
  and a 2-byte checksum end the block.
- APT 08x (CI 0xA0): the first 4 payload bytes are a uint32 LE counter in thirds of a litre.
- APT 17x (CI 0xA0, device type 0x11): the first 4 payload bytes are a uint32 LE counter in thirds of a m3.
- Ultrimis (public: wmbusmeters drivers/src/ultrimisv2.xmq): error flags (03 FD 17) bits 0-7 tamper, low
  battery, dry, no flow, high temperature, burst, reverse, leak now; bits 8-15 this month; 16-23 last month.
- OP-041A (APA 0x1A 0x07, public: drivers/src/op041a.xmq): standard records (index, meter time) behind an
  ELL; the block after DIF 0x0F is not public and is left unread.
- NA-1 (CI 0xA0/0xA1): payload ``access number | frame status | 16 bytes AES-128-CBC`` with the OMS mode 5
  IV (M, A of the DLL, access number x 8). Plaintext: ``pad | packed total (uint32 LE) | meter time
  (uint32 LE seconds since 2000-01-01) | history age low | age high/delta low bits | delta (3 bytes) |
  current status | historic status``. Packed total: mantissa ((raw >> 8) * 16 + (raw & 0x0F)) litres
  times 10 ** ((raw >> 4) & 3); the historic value is total minus delta (same scaling).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from Crypto.Cipher import AES

from gateway.decoders.base import Match, MeterDecoder
from gateway.decoders.draft import ReadingDraft
from gateway.decoders.plan import is_manufacturer_data, record_value, select
from gateway.decoders.status import Flag, FlagTable
from gateway.reading import Alarm
from gateway.wmbus.telegram import Telegram

# Tag -> number of data bytes after the tag (AT-WMBUS-16/17 proprietary block).
_TAG_SIZES: dict[int, int] = {0x00: 4, 0x01: 3, 0x10: 4, 0x11: 2, 0x40: 6, 0x41: 2, 0x42: 4, 0x43: 2, 0x44: 3}
_TAG_SIZES.update({0x70 + n: 1 + 4 * (n + 1) for n in range(1, 13)})
_TAG_SIZES.update(dict.fromkeys((0x80, 0x81, 0x82, 0x83, 0x84, 0x86, 0x87), 10))
_TAG_SIZES.update(dict.fromkeys((0x85, 0x88, 0x8F), 11))
_TAG_SIZES.update({0x8A: 9, 0x8B: 6, 0x8C: 6, 0x8E: 7})
_TAG_SIZES.update(dict.fromkeys((0xA7, 0xA8, 0xAA, 0xAB, 0xAC, 0xAD), 2))
_TAG_SIZES.update({0xA0: 4, 0xA1: 4, 0xA2: 1, 0xA3: 7, 0xA4: 4, 0xA5: 1, 0xA6: 3, 0xA9: 1, 0xAF: 1})
_TAG_SIZES.update({0xB0: 5, 0xB1: 8, 0xB2: 16, 0xB3: 8, 0xB4: 2, 0xB5: 16})
_TAG_SIZES.update(dict.fromkeys((*range(0xB6, 0xC0), *range(0xC0, 0xC8), 0xD0, 0xD3), 3))
_TAG_SIZES[0xF0] = 4
_TAG_TOTAL_L = 0x10
_STATUS_BYTES = 7
_CHECKSUM_BYTES = 2


def _tagged_block(telegram: Telegram) -> bytes:
    records = telegram.record_set
    for index in select(records, is_manufacturer_data):
        value = record_value(records, index)
        if isinstance(value, bytes):
            return value
    # Older meters start the block without the 0x0F marker.
    return telegram.payload.lstrip(b"\x2f")[1:]


def _at_wmbus_16(telegram: Telegram, draft: ReadingDraft) -> None:
    block = _tagged_block(telegram)
    pos = _STATUS_BYTES
    end = len(block) - _CHECKSUM_BYTES
    draft.extra["status_bytes"] = block[:_STATUS_BYTES].hex()
    while pos < end and block[pos] != 0xFF:
        tag = block[pos]
        size = _TAG_SIZES.get(tag)
        if size is None:
            draft.mark_unsupported(f"Apator block: unknown tag 0x{tag:02X} at {pos}")
            return
        if tag == _TAG_TOTAL_L:
            draft.total_m3 = int.from_bytes(block[pos + 1 : pos + 5], "little") / 1000
        pos += 1 + size
    if draft.total_m3 is None:
        draft.mark_unsupported("Apator block without a total volume field")


def _thirds_of_litre(telegram: Telegram, draft: ReadingDraft) -> None:
    if len(telegram.payload) < 4:
        raise ValueError("APT payload shorter than its counter")
    draft.total_m3 = int.from_bytes(telegram.payload[0:4], "little") / 3000


def _thirds_of_m3(telegram: Telegram, draft: ReadingDraft) -> None:
    if len(telegram.payload) < 4:
        raise ValueError("APT payload shorter than its counter")
    draft.total_m3 = int.from_bytes(telegram.payload[0:4], "little") / 3


NA1_STATUS = FlagTable(
    "status",
    (
        Flag(0x01, "BATTERY_LOW", Alarm.LOW_BATTERY),
        Flag(0x02, "MAGNETIC_FIELD", Alarm.TAMPER),
        Flag(0x04, "DEVICE_DISCONNECTED", Alarm.REMOVAL),
        Flag(0x08, "LEAK", Alarm.LEAK),
        Flag(0x10, "MEASUREMENT_UNCHANGED"),
        Flag(0x20, "REVERSE_FLOW", Alarm.BACKFLOW),
        Flag(0x40, "MAXIMUM_FLOW", Alarm.OVERFLOW),
        Flag(0x80, "MINIMUM_FLOW"),
    ),
)
NA1_FRAME = FlagTable(
    "frame",
    (
        Flag(0x01, "SUMMER_TIME"),
        Flag(0x02, "HISTORICAL_INDICATION"),
        Flag(0x04, "MAX_SPEED_EXCEEDED"),
        Flag(0x08, "DEVICE_ACCESS_ERROR", Alarm.METER_ERROR),
        Flag(0x10, "TWO_WAY_COM_BLOCK"),
        Flag(0x20, "INSTALL_FRAME"),
        Flag(0x40, "WRONG_TEMPERATURE"),
        Flag(0x80, "SERVICE_EVENT"),
    ),
)
_NA1_EPOCH = datetime(2000, 1, 1)


def _packed_scale(raw: int) -> int:
    return int(10 ** ((raw >> 4) & 0x03))


def _na1(telegram: Telegram, draft: ReadingDraft) -> None:
    data = telegram.payload
    if len(data) < 18:
        raise ValueError(f"NA-1 payload of {len(data)} bytes, need 18")
    if draft.key is None or telegram.link is None:
        draft.mark_unsupported("Apator NA-1 frame is encrypted inside the maker's layout: key needed")
        return
    access_number, frame_status = data[0], data[1]
    iv = telegram.raw[2:10] + bytes([access_number]) * 8
    plain = AES.new(draft.key, AES.MODE_CBC, iv).decrypt(data[2:18])
    raw_total = int.from_bytes(plain[1:5], "little")
    scale = _packed_scale(raw_total)
    total_l = ((raw_total >> 8) * 16 + (raw_total & 0x0F)) * scale
    draft.total_m3 = total_l / 1000
    draft.meter_datetime = _NA1_EPOCH + timedelta(seconds=int.from_bytes(plain[5:9], "little"))
    age_h = (plain[10] >> 2) * 256 + plain[9]
    delta = (plain[13] << 18) + (plain[12] << 10) + (plain[11] << 2) + (plain[10] & 0x03)
    historic_at = draft.meter_datetime - timedelta(hours=age_h)
    draft.extra["historic_m3"] = (total_l - delta * scale) / 1000
    draft.extra["historic_datetime"] = historic_at.isoformat(timespec="minutes")
    draft.extra["historic_age_h"] = age_h
    draft.extra["frame_status"] = " ".join(NA1_FRAME.apply(frame_status, draft, width=2)) or "OK"
    draft.extra["current_status"] = " ".join(NA1_STATUS.apply(plain[14], draft, width=2)) or "OK"
    # Historic flags describe the last period: reported, never raised as alarms.
    draft.extra["historic_status"] = " ".join(NA1_STATUS.labels(plain[15])) or "OK"


AT_WMBUS_16 = MeterDecoder(
    name="apator162",
    matches=(Match("APA", 0x05, 0x07), Match("APA", 0x05, 0x06)),
    description="Apator AT-WMBUS-16/17 (tagged proprietary block after DIF 0x0F)",
    proprietary=_at_wmbus_16,
)
APT_08 = MeterDecoder(
    name="apator08",
    matches=(Match("APT", 0x03, 0x03, frozenset({0xA0})), Match("APT", 0x0F, 0x0F, frozenset({0xA0}))),
    description="Apator APT 08x (CI 0xA0, counter in thirds of a litre; sends device type gas)",
    proprietary=_thirds_of_litre,
    medium="water",
)
APT_17 = MeterDecoder(
    name="apator172",
    matches=(Match("APT", 0x04, 0x11, frozenset({0xA0})),),
    description="Apator APT 17x (CI 0xA0, counter in thirds of a m3)",
    proprietary=_thirds_of_m3,
    medium="water",
)
NA_1 = MeterDecoder(
    name="apatorna1",
    matches=(Match("APA", 0x14, 0x07, frozenset({0xA0, 0xA1})),),
    description="Apator NA-1 (CI 0xA0/0xA1, AES-128-CBC inside the maker's frame)",
    proprietary=_na1,
)
def _ultrimis_flags() -> FlagTable:
    current = (
        ("TAMPER", Alarm.TAMPER),
        ("LOW_BATTERY", Alarm.LOW_BATTERY),
        ("DRY", Alarm.DRY),
        ("NO_FLOW", None),
        ("HIGH_TEMPERATURE", None),
        ("BURST", Alarm.BURST),
        ("REVERSE", Alarm.BACKFLOW),
        ("LEAK", Alarm.LEAK),
    )
    flags = [Flag(1 << bit, name, alarm) for bit, (name, alarm) in enumerate(current)]
    # Bits 8-15 latch the same conditions for this month, bits 16-23 for the previous one: history only.
    for base, suffix in ((8, "_THIS_MONTH"), (16, "_PREV_MONTH")):
        flags += [Flag(1 << (base + bit), name + suffix) for bit, (name, _) in enumerate(current)]
    return FlagTable("error_flags", tuple(flags))


ULTRIMIS = MeterDecoder(
    name="ultrimis",
    aliases=("ultrimisv2",),
    matches=(Match("APA", 0x01, 0x16), Match("APA", 0x20, 0x16)),
    description="Apator Ultrimis (standard OMS records, 24-bit error flags)",
    error_flags=_ultrimis_flags(),
)

OP041A = MeterDecoder(
    name="op041a",
    matches=(Match("APA", 0x1A, 0x07),),
    description="Apator OP-041A water meter (OMS records behind an ELL; maker block after DIF 0x0F unread)",
)

DECODERS = (AT_WMBUS_16, APT_08, APT_17, NA_1, ULTRIMIS, OP041A)
