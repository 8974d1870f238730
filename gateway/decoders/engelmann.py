"""Engelmann (EFE) FAW and Lorenz/Engelmann WaterStar M (DWZ, EFE) water meters: OMS records, compact frames.

Format facts (public: wmbusmeters drivers/src/engelmann_faw.xmq, src/driver_waterstarm.cc): storage 1 holds
the set-day volume and date, storages 2-16 the month ends; FAW compact frames (CI 0x73/0x7B, encrypted,
the signature after the 0x2F2F check) use the layout registered below. FAW error flags (VIF 0xFD17, 8
bits): coils defect, reset, CRC error, removal, magnetic manipulation, leakage, blocked, reverse flow.
WaterStar M error flags (16 bits): software, CRC, sensor, measurement error, battery voltage,
manipulation, leakage or no usage, reverse flow, overload.
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

WATERSTAR_FLAGS = FlagTable(
    "error_flags",
    (
        Flag(0x0001, "SW_ERROR", Alarm.METER_ERROR),
        Flag(0x0002, "CRC_ERROR", Alarm.METER_ERROR),
        Flag(0x0004, "SENSOR_ERROR", Alarm.METER_ERROR),
        Flag(0x0008, "MEASUREMENT_ERROR", Alarm.METER_ERROR),
        Flag(0x0010, "BATTERY_VOLTAGE_ERROR", Alarm.LOW_BATTERY),
        Flag(0x0020, "MANIPULATION", Alarm.TAMPER),
        Flag(0x0040, "LEAKAGE_OR_NO_USAGE", Alarm.LEAK),
        Flag(0x0080, "REVERSE_FLOW", Alarm.BACKFLOW),
        Flag(0x0100, "OVERLOAD", Alarm.OVERFLOW),
    ),
)
_WATER_TYPES = (0x06, 0x07, 0x16)

FAW = MeterDecoder(
    name="engelmann",
    aliases=("engelmann_faw", "engelmann-faw"),
    matches=tuple(Match("EFE", version, kind) for version in (0x00, 0x01, 0x02) for kind in _WATER_TYPES),
    description="Engelmann FAW water meter (OMS, compact frames)",
    error_flags=ERROR_FLAGS,
)
WATERSTAR_M = MeterDecoder(
    name="waterstarm",
    matches=(
        *(Match("DWZ", device_type=kind) for kind in _WATER_TYPES),
        *(Match("EFE", version, 0x07) for version in (0x03, 0x70)),
    ),
    description="Lorenz / Engelmann WaterStar M (OMS records, error flags)",
    error_flags=WATERSTAR_FLAGS,
)

DECODERS = (FAW, WATERSTAR_M)
