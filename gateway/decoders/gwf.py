"""GWF water meters (Coder/Unico radio): OMS records plus a short manufacturer block after DIF 0x0F.

Format facts (public: wmbusmeters drivers/src/gwfwater.xmq): the block starts with a type byte; type 0x01
is followed by a flags byte (0x02 continuous flow, 0x08 broken pipe, 0x20 battery low, 0x40 backflow)
and a byte whose bit 0 is the power-saving mode and bits 3-7 the remaining battery life in half years.
Other type bytes are not public: the reading says so in ``unsupported``.
"""

from __future__ import annotations

from gateway.decoders.base import Match, MeterDecoder
from gateway.decoders.draft import ReadingDraft
from gateway.decoders.plan import is_manufacturer_data, record_value, select
from gateway.decoders.status import Flag, FlagTable
from gateway.reading import Alarm
from gateway.wmbus.telegram import Telegram

_TYPE_STATUS = 0x01
FLAGS = FlagTable(
    "gwf_flags",
    (
        Flag(0x02, "CONTINUOUS_FLOW", Alarm.LEAK),
        Flag(0x08, "BROKEN_PIPE", Alarm.BURST),
        Flag(0x20, "BATTERY_LOW", Alarm.LOW_BATTERY),
        Flag(0x40, "BACKFLOW", Alarm.BACKFLOW),
    ),
)


def _gwf_block(telegram: Telegram, draft: ReadingDraft) -> None:
    records = draft.records
    blocks = (record_value(records, index) for index in select(records, is_manufacturer_data))
    block = next((value for value in blocks if isinstance(value, bytes)), None)
    if block is None:
        return
    if len(block) < 3 or block[0] != _TYPE_STATUS:
        kind = f"0x{block[0]:02X}" if block else "none"
        draft.mark_unsupported(f"GWF manufacturer block of type {kind} (layout not public)")
        return
    FLAGS.apply(block[1], draft, width=2)
    draft.extra["power_mode"] = "SAVING" if block[2] & 0x01 else "NORMAL"
    draft.extra["battery_y"] = (block[2] >> 3) * 0.5
    del telegram


GWF_WATER = MeterDecoder(
    name="gwfwater",
    matches=tuple(Match("GWF", device_type=kind) for kind in (0x06, 0x07, 0x0E, 0x16)),
    description="GWF water meters and radio modules (OMS records, manufacturer status block)",
    proprietary=_gwf_block,
)

DECODERS = (GWF_WATER,)
