"""Kamstrup water meters: MULTICAL 21, flowIQ 2100/2200/3100, KWM (full and compact frames, info codes).

Format facts (public: wmbusmeters drivers/src/kamwater.xmq): the meters send full frames (CI 0x78) and
compact frames (CI 0x79) whose format signatures name the layouts registered below; the info codes come
in a manufacturer record, 16 bits after DIF/VIF 02 FF 20 (bit 0 dry, 1 reverse, 2 leak, 3 burst; bits
4-6, 7-9, 10-12, 13-15 how long dry, reversed, leaking, bursting) or 32 bits after 04 FF 23 (adds bit 4
tamper, 5 low battery, 6 low ambient temperature, 7 flow above Q4, 9 no consumption). The set-day volume
is storage 1 with its date (storage 1, type G) when sent.
"""

from __future__ import annotations

from gateway.decoders.base import Match, MeterDecoder
from gateway.decoders.compact import register_format
from gateway.decoders.draft import ReadingDraft
from gateway.decoders.status import Flag, FlagTable, word_of
from gateway.reading import Alarm
from gateway.wmbus.telegram import Telegram

# Full-frame DIF/VIF layouts that Kamstrup water meters announce by format signature in compact frames.
COMPACT_LAYOUTS = (
    "02FF2004134413615B6167",
    "02FF20041392013BA1015B8101E7FF0F",
    "04FF234413523B06FF1B426C61675167023B04138101E7FF0F",
    "02FF2004134413426C523B615B616751678101E7FF0F06FF1B",
    "02FF2004134413A1015B8101E7FF0F",
    "02FF2004134413615B5167",
    "02FF2004134413",
    "02FF200413523B",
    "04FF2304134413426C023B92013BA2013B06FF1BA1015B91015BA10167",
)
for _layout in COMPACT_LAYOUTS:
    register_format(_layout)

_DURATIONS = ("", "1-8 hours", "9-24 hours", "2-3 days", "4-7 days", "8-14 days", "15-21 days", "22-31 days")
_DURATION_FIELDS = (("time_dry", 4), ("time_reversed", 7), ("time_leaking", 10), ("time_bursting", 13))
INFO_CODES = FlagTable(
    "info",
    (
        Flag(0x0001, "DRY", Alarm.DRY),
        Flag(0x0002, "REVERSE", Alarm.BACKFLOW),
        Flag(0x0004, "LEAK", Alarm.LEAK),
        Flag(0x0008, "BURST", Alarm.BURST),
    ),
)
INFO_CODES_32 = FlagTable(
    "info",
    (
        *INFO_CODES.flags,
        Flag(0x0010, "TAMPER", Alarm.TAMPER),
        Flag(0x0020, "LOW_BATTERY", Alarm.LOW_BATTERY),
        Flag(0x0040, "LOW_AMBIENT_TEMPERATURE"),
        Flag(0x0080, "FLOW_ABOVE_Q4", Alarm.OVERFLOW),
        Flag(0x0200, "NO_CONSUMPTION"),
    ),
)


def _info_codes(telegram: Telegram, draft: ReadingDraft) -> None:
    del telegram  # the codes come from the (possibly expanded compact) records
    for record in draft.records:
        if record.vif != 0xFF or not record.vifes or record.vifes[0] not in (0x20, 0x23):
            continue
        word = word_of(record.value)
        if word is None:
            continue
        if record.vifes[0] == 0x23:
            INFO_CODES_32.apply(word, draft, width=8)
        else:
            INFO_CODES.apply(word, draft)
            for name, shift in _DURATION_FIELDS:
                draft.extra[name] = _DURATIONS[(word >> shift) & 0x07]
        return


_WATER_TYPES = (0x06, 0x07, 0x15, 0x16)
MULTICAL_21 = MeterDecoder(
    name="kamwater",
    matches=tuple(Match(maker, device_type=kind) for maker in ("KAM", "KAW") for kind in _WATER_TYPES),
    description="Kamstrup MULTICAL 21 / flowIQ water meters (full and compact frames, info codes)",
    proprietary=_info_codes,
)

DECODERS = (MULTICAL_21,)
