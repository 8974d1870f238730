"""Aventies (AAA) water meters: OMS records with an error-flags word.

Format facts (public: wmbusmeters drivers/src/aventieswm.xmq): error flags (VIF 0xFD17) bit 1 sabotage,
bit 2 battery, bit 3 "CS", bit 4 "HF", bit 5 reset; storages 1-14 hold the set-day volumes.
"""

from __future__ import annotations

from gateway.decoders.base import Match, MeterDecoder
from gateway.decoders.status import Flag, FlagTable
from gateway.reading import Alarm

ERROR_FLAGS = FlagTable(
    "error_flags",
    (
        Flag(0x02, "SABOTAGE", Alarm.TAMPER),
        Flag(0x04, "BATTERY", Alarm.LOW_BATTERY),
        Flag(0x08, "CS"),
        Flag(0x10, "HF"),
        Flag(0x20, "RESET"),
    ),
)

WATER = MeterDecoder(
    name="aventieswm",
    matches=(Match("AAA", 0x25, 0x07),),
    description="Aventies water meter (OMS records, error flags)",
    error_flags=ERROR_FLAGS,
)

DECODERS = (WATER,)
