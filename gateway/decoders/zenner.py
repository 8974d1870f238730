"""Zenner (ZRI) water meters: Minomess (OMS records) and the EDC B.One module (DIF 0x0F block).

Format facts (public: wmbusmeters src/driver_zenner0b.cc, drivers/src/minomess tests): the B.One block
after DIF 0x0F is ``status (uint32 LE) | current-period volume (uint32 LE) | total (uint32 LE)``, volumes
in 1/256000 m3. Minomess (drivers/src/minomess.xmq) sends its set day as storage 8 (volume and type G
date), older ones as storage 1; its error flags (02 FD 17): 0x8000 was removed, 0x4000 was tampered,
0x2000 was leaking, 0x1000 temporary error, 0x0800 permanent error, 0x0400 battery end of life, 0x0200
abnormal error, 0x0080 bursting, 0x0040 removed, 0x0020 leaking, 0x0010 was backflowing, 0x0008
backflowing, 0x0004 was blocked, 0x0002 undersized, 0x0001 oversized. The IUWS ultrasonic meter (ZRI
0x99 0x07, public: drivers/src/uiws.xmq) sends its most recent month end as the base of a compact
profile in storage 30 (volume and type G date, the set day), a storage 1 volume of unknown meaning, and
error flags whose bits are not public (reported as ``ERROR_FLAGS_<hex>``). A register holding the top bit
alone (0x80000000) has no value yet: the set day of a meter installed after it (telegrams of new Minomess
meters show it beside an all-0x800000 monthly profile, where older ones send all ones, an invalid BCD): see
gateway.decoders.no_value, applied to every ZRI telegram whichever decoder reads it.
"""

from __future__ import annotations

from gateway.decoders.base import Match, MeterDecoder
from gateway.decoders.draft import ReadingDraft
from gateway.decoders.status import Flag, FlagTable
from gateway.reading import Alarm
from gateway.wmbus.telegram import Telegram

_UNITS_PER_M3 = 256_000


def _b_one(telegram: Telegram, draft: ReadingDraft) -> None:
    blocks = (r.value for r in telegram.records if r.quantity == "manufacturer_data")
    block = next((value for value in blocks if isinstance(value, bytes)), None)
    if block is None or len(block) < 12:
        draft.mark_unsupported("Zenner B.One: manufacturer block missing or shorter than 12 bytes")
        return
    status = int.from_bytes(block[0:4], "little")
    draft.target_m3 = int.from_bytes(block[4:8], "little") / _UNITS_PER_M3
    draft.total_m3 = int.from_bytes(block[8:12], "little") / _UNITS_PER_M3
    # The bit meanings of the B.One status word are not public yet: kept raw, no alarm raised.
    draft.note_status(f"b_one=0x{status:08X}")
    if status:
        draft.add_labels([f"0x{status:08X}"])


B_ONE = MeterDecoder(
    name="zenner0b",
    matches=(Match("ZRI", 0x0B, 0x16),),
    description="Zenner EDC B.One radio module (proprietary block after DIF 0x0F)",
    proprietary=_b_one,
)
MINOMESS_FLAGS = FlagTable(
    "error_flags",
    (
        Flag(0x8000, "WAS_REMOVED"),
        Flag(0x4000, "WAS_TAMPERED"),
        Flag(0x2000, "WAS_LEAKING"),
        Flag(0x1000, "TEMPORARY_ERROR"),
        Flag(0x0800, "PERMANENT_ERROR", Alarm.METER_ERROR),
        Flag(0x0400, "BATTERY_EOL", Alarm.LOW_BATTERY),
        Flag(0x0200, "ABNORMAL_ERROR", Alarm.METER_ERROR),
        Flag(0x0080, "BURSTING", Alarm.BURST),
        Flag(0x0040, "REMOVED", Alarm.REMOVAL),
        Flag(0x0020, "LEAKING", Alarm.LEAK),
        Flag(0x0010, "WAS_BACKFLOWING"),
        Flag(0x0008, "BACKFLOWING", Alarm.BACKFLOW),
        Flag(0x0004, "WAS_BLOCKED"),
        Flag(0x0002, "UNDERSIZED"),
        Flag(0x0001, "OVERSIZED"),
    ),
)
MINOMESS = MeterDecoder(
    name="minomess",
    matches=tuple(Match("ZRI", device_type=kind) for kind in (0x06, 0x07, 0x16, 0x37)),
    description="Zenner Minomess and other ZRI water meters (OMS records, error flags)",
    target_storage=8,
    error_flags=MINOMESS_FLAGS,
)

UIWS = MeterDecoder(
    name="uiws",
    matches=(Match("ZRI", 0x99, 0x07),),
    description="Zenner IUWS ultrasonic water meter (OMS records, compact profile base month as set day)",
    target_storage=30,
    error_flags=FlagTable("error_flags", (), unknown_prefix="ERROR_FLAGS"),
)

DECODERS = (B_ONE, MINOMESS, UIWS)
