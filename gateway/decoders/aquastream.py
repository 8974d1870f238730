"""Integra Metering (IMT) Aquastream water meters: OMS records, error flags, battery, backward volume.

Format facts (public: wmbusmeters drivers/src/aquastream.xmq; akenza-io device-type-library
types/integra/aquastream): volume (storage 0), the set day in storage 1 with its date, meter time, a second
volume register in tariff 1 which the maker's integrators read as the backward (reverse-flow) volume (older
reference versions print it as ``total_backwards_m3``, newer ones as ``total_tariff1_m3``), remaining
battery life (VIF 0xFD74, days; the reference prints years of 365 days), error flags (02 FD 17): bit 2 low
battery (18 months before end of life), bits 4-5 a code: 01 temporary alarm (manipulation, module
removed), 10 leakage, 11 burst.
"""

from __future__ import annotations

from gateway.decoders.base import STANDARD_FIELDS, Match, MeterDecoder
from gateway.decoders.fields import Field
from gateway.decoders.status import Flag, FlagTable
from gateway.decoders.units import years
from gateway.reading import Alarm

_ALARM_CODE = 0x30

ERROR_FLAGS = FlagTable(
    "error_flags",
    (
        Flag(0x04, "LOW_BATTERY", Alarm.LOW_BATTERY),
        Flag(_ALARM_CODE, "TEMPORARY_ALARM", Alarm.TAMPER, value=0x10),
        Flag(_ALARM_CODE, "LEAKAGE", Alarm.LEAK, value=0x20),
        Flag(_ALARM_CODE, "BURST", Alarm.BURST, value=0x30),
    ),
)

WATER = MeterDecoder(
    name="aquastream",
    matches=(Match("IMT", 0x01, 0x07),),
    description="Integra Aquastream water meter (OMS records, error flags, backward volume in tariff 1)",
    fields=(
        *STANDARD_FIELDS,
        Field("total_backward_m3", "volume", tariff=1),
        Field("battery_y", "remaining_battery_life", convert=years),
    ),
    error_flags=ERROR_FLAGS,
)

DECODERS = (WATER,)
