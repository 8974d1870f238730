"""Kamstrup meters: MULTICAL 21, flowIQ 2100/2200/3100, KWM water meters and MULTICAL 302-803 heat meters.

Format facts (public: wmbusmeters drivers/src/kamwater.xmq): the meters send full frames (CI 0x78) and
compact frames (CI 0x79) whose format signatures name the layouts registered below; the info codes come
in a manufacturer record, 16 bits after DIF/VIF 02 FF 20 (bit 0 dry, 1 reverse, 2 leak, 3 burst; bits
4-6, 7-9, 10-12, 13-15 how long dry, reversed, leaking, bursting) or 32 bits after 04 FF 23 (adds bit 4
tamper, 5 low battery, 6 low ambient temperature, 7 flow above Q4, 9 no consumption). The set-day volume
is storage 1 with its date (storage 1, type G) when sent. Heat meters (drivers/src/kamheat.xmq) put their
error flags in 04 FF 22 (bit 1 low battery, 2 sensor error, 9 wrong flow direction, 12-13 and 18-19
leakage inputs, 28-29 burst, 30-31 leakage) and send the compact layouts registered below. A layout not
registered here (a signature such as 0x2168) is learnt from the meter's full frame, which Kamstrup meters
send now and then: every full frame is learnt, so a compact frame is read once its full frame was seen,
and says so in ``unsupported`` until then.
"""

from __future__ import annotations

from gateway.decoders.base import Match, MeterDecoder
from gateway.decoders.compact import register_format
from gateway.decoders.draft import ReadingDraft
from gateway.decoders.plan import record_value, select
from gateway.decoders.status import Flag, FlagTable, word_of
from gateway.reading import Alarm
from gateway.wmbus.records import DataRecord
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
HEAT_COMPACT_LAYOUTS = (
    "030643060314426C022D01FF21",
    "030E430E0313426C022D01FF21",
    "040604FF0704FF080414043B0259025D04FF22026C44064414426C",
)
for _layout in (*COMPACT_LAYOUTS, *HEAT_COMPACT_LAYOUTS):
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
    unknown_prefix="ERROR_FLAGS",
)


HEAT_ERRORS = FlagTable(
    "error_flags",
    (
        Flag(0x00000001, "VOLTAGE_INTERRUPTED"),
        Flag(0x00000002, "LOW_BATTERY_LEVEL", Alarm.LOW_BATTERY),
        Flag(0x00000004, "SENSOR_ERROR", Alarm.METER_ERROR),
        Flag(0x00000200, "WRONG_FLOW_DIRECTION", Alarm.BACKFLOW),
        Flag(0x00001000, "IN_A1_LEAKAGE_IN_THE_SYSTEM", Alarm.LEAK),
        Flag(0x00002000, "IN_B1_LEAKAGE_IN_THE_SYSTEM", Alarm.LEAK),
        Flag(0x00040000, "IN_A2_LEAKAGE_IN_THE_SYSTEM", Alarm.LEAK),
        Flag(0x00080000, "IN_B2_LEAKAGE_IN_THE_SYSTEM", Alarm.LEAK),
        Flag(0x10000000, "V1_V2_BURST_WATER_LOSS", Alarm.BURST),
        Flag(0x20000000, "V1_V2_BURST_WATER_PENETRATION", Alarm.BURST),
        Flag(0x40000000, "V1_V2_LEAKAGE_WATER_LOSS", Alarm.LEAK),
        Flag(0x80000000, "V1_V2_LEAKAGE_WATER_PENETRATION", Alarm.LEAK),
    ),
)


def _is_heat_errors(record: DataRecord) -> bool:
    return record.vif == 0xFF and record.vifes[:1] == (0x22,) and record.storage == 0


def _is_info_codes(record: DataRecord) -> bool:
    return record.vif == 0xFF and record.vifes[:1] in ((0x20,), (0x23,))


def _is_info_codes_32(record: DataRecord) -> bool:
    return record.vif == 0xFF and record.vifes[:1] == (0x23,)


def _heat_errors(telegram: Telegram, draft: ReadingDraft) -> None:
    del telegram
    records = draft.records
    for index in select(records, _is_heat_errors)[:1]:
        word = word_of(record_value(records, index))
        if word is not None:
            HEAT_ERRORS.apply(word, draft, width=8)


def _info_codes(telegram: Telegram, draft: ReadingDraft) -> None:
    del telegram  # the codes come from the (possibly expanded compact) records
    records = draft.records
    for index in select(records, _is_info_codes):
        word = word_of(record_value(records, index))
        if word is None:
            continue
        if index in select(records, _is_info_codes_32):
            INFO_CODES_32.apply(word, draft, width=8)
        else:
            INFO_CODES.apply(word, draft)
            for name, shift in _DURATION_FIELDS:
                draft.extra[name] = _DURATIONS[(word >> shift) & 0x07]
        return


_WATER_TYPES = (0x06, 0x07, 0x15, 0x16)
MULTICAL_21 = MeterDecoder(
    name="kamwater",
    aliases=("multical21", "flowiq2200", "flowiq3100"),
    matches=tuple(Match(maker, device_type=kind) for maker in ("KAM", "KAW") for kind in _WATER_TYPES),
    description="Kamstrup MULTICAL 21 / flowIQ water meters (full and compact frames, info codes)",
    proprietary=_info_codes,
    sends_compact=True,
)

MULTICAL_HEAT = MeterDecoder(
    name="kamheat",
    aliases=("multical302", "multical303", "multical403", "multical602", "multical603", "multical803"),
    matches=tuple(Match("KAM", device_type=kind) for kind in (0x04, 0x0A, 0x0B, 0x0C, 0x0D)),
    description="Kamstrup MULTICAL 302/303/403/602/603/803 heat meters (full and compact frames)",
    proprietary=_heat_errors,
    sends_compact=True,
)

DECODERS = (MULTICAL_21, MULTICAL_HEAT)
