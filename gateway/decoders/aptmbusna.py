"""Apator APT-MBUS-NA-1 water meter M-Bus module (APA, version 0x15): OMS records, 24-bit error flags.

Format facts (public: wmbusmeters drivers/src/aptmbusna.xmq): fabrication number, meter time, volume,
volume flow, the set day in storage 1 with its date, operating time, error flags (03 FD 17, 3 bytes) and
three diagnostic registers (FF 0A optical, FF 0B oscillator, FF 0C power supply; bits unpublished, not
read). Error flags: the first byte latches past events (``P_``: magnetic field, strong light, M-Bus
disconnected, detection without changes, minimum flow, maximum flow, reverse flow, leak), the second byte
processor reset, clock hand error, battery low, detector error, the third byte the same conditions as the
first while they last. Past events are reported in ``status`` and raise nothing; current ones raise alarms.
The reference maps P_LEAK to 0x000800, which is also P_DETECTOR_ERROR: a digit too many for 0x000080, the
leak bit of the first byte's sequence, which is what this decoder reads.
"""

from __future__ import annotations

from gateway.decoders.base import STANDARD_FIELDS, Match, MeterDecoder
from gateway.decoders.fields import Field
from gateway.decoders.status import Flag, FlagTable
from gateway.decoders.units import fabrication_no, hours
from gateway.reading import Alarm

_EVENTS = (
    ("MAGNETIC_FIELD", Alarm.TAMPER),
    ("STRONG_LIGHT", Alarm.TAMPER),
    ("MBUS_DISCONNECTED", Alarm.REMOVAL),
    ("DETECTION_WITHOUT_CHANGES", None),
    ("MINIMUM_FLOW", None),
    ("MAXIMUM_FLOW", Alarm.OVERFLOW),
    ("REVERSE_FLOW", Alarm.BACKFLOW),
    ("LEAK", Alarm.LEAK),
)
_CURRENT_BYTE = 16


def _error_flags() -> FlagTable:
    past = [Flag(1 << bit, f"P_{name}") for bit, (name, _) in enumerate(_EVENTS)]
    device = [
        Flag(0x0100, "P_PROCESSOR_RESET"),
        Flag(0x0200, "P_CLOCK_HAND_ERROR"),
        Flag(0x0400, "BATTERY_LOW", Alarm.LOW_BATTERY),
        Flag(0x0800, "P_DETECTOR_ERROR"),
    ]
    # The third byte is the first byte's conditions now; its top bit is a processor reset in progress.
    current = [Flag(1 << (_CURRENT_BYTE + bit), name, alarm) for bit, (name, alarm) in enumerate(_EVENTS[:7])]
    current.append(Flag(0x800000, "PROCESSOR_RESET", Alarm.METER_ERROR))
    return FlagTable("error_flags", (*past, *device, *current))


WATER = MeterDecoder(
    name="aptmbusna",
    matches=(Match("APA", 0x15, 0x07),),
    description="Apator APT-MBUS-NA-1 water meter module (OMS records, 24-bit error flags)",
    fields=(
        *STANDARD_FIELDS,
        Field("fabrication_no", "fabrication_number", convert=fabrication_no),
        Field("operating_time_h", "operating_time", convert=hours),
    ),
    error_flags=_error_flags(),
)

DECODERS = (WATER,)
