"""Engelmann (EFE) water meters (WaterStar M, FAW): OMS records, also as compact frames.

Format facts (public: wmbusmeters drivers/src/engelmann_faw.xmq): storage 1 holds the set-day (reporting
date) volume and date, storages 2-16 the month ends; the compact frames (CI 0x73/0x7B, encrypted, the
signature after the 0x2F2F check) use the layout registered below. Error flags (VIF 0xFD17, 8 bits):
coils defect, reset, CRC error, removal, magnetic manipulation, leakage, blocked, reverse flow.
"""

from __future__ import annotations

from gateway.decoders.base import Match, MeterDecoder
from gateway.decoders.compact import register_format
from gateway.decoders.status import Flag, FlagTable
from gateway.reading import Alarm

register_format(
    "426C441301FD17840113C40113840213C40213840313C40313840413C40413840513C40513840613C40613840713C40713840813"
    "046D0413"
)

ERROR_FLAGS = FlagTable(
    "error_flags",
    (
        Flag(0x01, "VOLUME_DETECTION_COILS_DEFECT", Alarm.METER_ERROR),
        Flag(0x02, "RESET"),
        Flag(0x04, "CRC_ERROR", Alarm.METER_ERROR),
        Flag(0x08, "REMOVAL_DETECTED", Alarm.REMOVAL),
        Flag(0x10, "MAGNETIC_MANIPULATION", Alarm.TAMPER),
        Flag(0x20, "LEAKAGE", Alarm.LEAK),
        Flag(0x40, "BLOCKED", Alarm.METER_ERROR),
        Flag(0x80, "REVERSE_FLOW", Alarm.BACKFLOW),
    ),
)

WATER = MeterDecoder(
    name="engelmann",
    matches=tuple(Match("EFE", device_type=kind) for kind in (0x06, 0x07, 0x16)),
    description="Engelmann WaterStar M / FAW water meters (OMS, compact frames)",
    error_flags=ERROR_FLAGS,
)

DECODERS = (WATER,)
