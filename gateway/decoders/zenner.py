"""Zenner (ZRI) water meters: Minomess (OMS records) and the EDC B.One module (DIF 0x0F block).

Format facts (public: wmbusmeters src/driver_zenner0b.cc, drivers/src/minomess tests): the B.One block
after DIF 0x0F is ``status (uint32 LE) | current-period volume (uint32 LE) | total (uint32 LE)``, volumes
in 1/256000 m3. Minomess sends its set day as storage 8 (volume and type G date), which the generic
lowest-storage rule picks.
"""

from __future__ import annotations

from gateway.decoders.base import Match, MeterDecoder
from gateway.decoders.draft import ReadingDraft
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
MINOMESS = MeterDecoder(
    name="minomess",
    matches=tuple(Match("ZRI", device_type=kind) for kind in (0x06, 0x07, 0x16, 0x37)),
    description="Zenner Minomess and other ZRI water meters (OMS records)",
)

DECODERS = (B_ONE, MINOMESS)
