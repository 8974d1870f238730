"""Techem MK Radio 3 / MK Radio 4 water meters (CI 0xA0-0xA2, Techem's own layout) and MK Radio 4a.

Format (public: wmbusmeters src/driver_mkradio3.cc and drivers/src/mkradio4.xmq): the payload after CI
0xA2 (MK Radio 4 and Compact V send the same layout on CI 0xA0 and 0xA1 too) is ``[0] ?, [1:3] date of
the last period (LE: day bits 0-4, month 5-8, year-2000 9-14), [3:5] volume of the last period (LE,
0.1 m3), [5:7] current date (day bits 4-8, month 9-12; no year), [7:9] volume consumed since (LE,
0.1 m3)``. The index is last period + since; the last period is the set-day value.
MK Radio 4a (public: drivers/src/mkradio4a.xmq) is a Techem radio (link address TCH 0x95 0x37, mode 5)
in front of a meter whose own address comes in the long transport header (HYD 0xFE 0x06 warm water; WEH
meters go to gateway.decoders.wehrle): standard records, the end of the previous year as storage 1 volume
and date, which is the set day. Techem heat meters use the same two-period layout with energy (public:
drivers/src/compact5.xmq, src/driver_vario451.cc): Compact V counts kWh in 3-byte registers (previous
period at 3-5, current at 7-9), Vario 4 type 4.5.1 counts MJ. The FHKV data II/III heat
cost allocators (src/driver_fhkvdataiii.cc, CI 0xA0/0xA2) also: last-period units at 3-4, units since at
7-8, then room and radiator temperatures (uint16 LE, 0.01 C) at 9 (version 0x69) or 10 (version 0x94).
"""

from __future__ import annotations

from datetime import date

from gateway.decoders.base import Match, MeterDecoder, ProprietaryPart
from gateway.decoders.draft import ReadingDraft
from gateway.wmbus.telegram import Telegram

_CI_A2 = frozenset({0xA2})
_CI_A0_A2 = frozenset({0xA0, 0xA1, 0xA2})  # MK Radio 4 and Compact V: the same layout on the three


def _period_date(word: int) -> date | None:
    try:
        return date(2000 + ((word >> 9) & 0x3F), (word >> 5) & 0x0F, word & 0x1F)
    except ValueError:
        return None


def _mk_radio(telegram: Telegram, draft: ReadingDraft) -> None:
    data = telegram.payload
    if len(data) < 9:
        draft.mark_unsupported(f"Techem payload of {len(data)} bytes, need 9")
        return
    previous_m3 = int.from_bytes(data[3:5], "little") / 10
    since_m3 = int.from_bytes(data[7:9], "little") / 10
    current = int.from_bytes(data[5:7], "little")
    draft.total_m3 = round(previous_m3 + since_m3, 1)
    draft.target_m3 = previous_m3
    draft.target_date = _period_date(int.from_bytes(data[1:3], "little"))
    # The current date carries no year: keep it as month-day for traceability.
    draft.extra["current_month_day"] = f"{(current >> 9) & 0x0F:02d}-{(current >> 4) & 0x1F:02d}"


def _heat(unit_kwh: float, width: int) -> ProprietaryPart:
    """Previous period at 3, current at 7, each ``width`` bytes LE, in units of ``unit_kwh``."""
    need = 7 + width

    def decode(telegram: Telegram, draft: ReadingDraft) -> None:
        data = telegram.payload
        if len(data) < need:
            draft.mark_unsupported(f"Techem payload of {len(data)} bytes, need {need}")
            return
        previous = int.from_bytes(data[3 : 3 + width], "little") * unit_kwh
        current = int.from_bytes(data[7 : 7 + width], "little") * unit_kwh
        draft.extra["total_energy_consumption_kwh"] = round(previous + current, 6)
        draft.extra["previous_kwh"] = round(previous, 6)
        draft.extra["current_kwh"] = round(current, 6)

    return decode


COMPACT_V = MeterDecoder(
    name="compact5",
    matches=tuple(
        Match("TCH", version, kind, _CI_A0_A2)
        for version, kind in ((0x45, 0x04), (0x45, 0xC3), (0x22, 0x43), (0x45, 0x43), (0x39, 0x43))
    ),
    description="Techem Compact V heat meter (proprietary CI 0xA0-0xA2 frame, kWh)",
    proprietary=_heat(1.0, 3),
    medium="heat",
)
VARIO_451 = MeterDecoder(
    name="vario451",
    matches=(Match("TCH", 0x27, 0x04, _CI_A2), Match("TCH", 0x27, 0xC3, _CI_A2)),
    description="Techem Vario 4 type 4.5.1 heat meter (proprietary CI 0xA2 frame, MJ)",
    proprietary=_heat(1 / 3.6, 2),
    medium="heat",
)
def _fhkv(telegram: Telegram, draft: ReadingDraft) -> None:
    data = telegram.payload
    offset = 10 if telegram.version == 0x94 else 9
    if len(data) < offset + 4:
        draft.mark_unsupported(f"Techem FHKV payload of {len(data)} bytes, need {offset + 4}")
        return
    previous_date = _period_date(int.from_bytes(data[1:3], "little"))
    draft.extra["previous_hca"] = int.from_bytes(data[3:5], "little")
    draft.extra["previous_date"] = None if previous_date is None else previous_date.isoformat()
    draft.extra["current_hca"] = int.from_bytes(data[7:9], "little")
    draft.extra["temp_room_c"] = int.from_bytes(data[offset : offset + 2], "little") / 100
    draft.extra["temp_radiator_c"] = int.from_bytes(data[offset + 2 : offset + 4], "little") / 100


FHKV_DATA = MeterDecoder(
    name="fhkvdataiii",
    matches=(
        Match("TCH", 0x69, 0x80, frozenset({0xA0, 0xA2})),
        Match("TCH", 0x94, 0x80, frozenset({0xA0, 0xA2})),
    ),
    description="Techem FHKV data II/III heat cost allocator (proprietary CI 0xA0/0xA2 frame)",
    proprietary=_fhkv,
    medium="heat_cost_allocator",
)
MK_RADIO = MeterDecoder(
    name="mkradio",
    aliases=("mkradio3", "mkradio4"),
    matches=(
        Match("TCH", 0x74, 0x62, _CI_A2),
        Match("TCH", 0x74, 0x72, _CI_A2),
        Match("TCH", 0x95, 0x62, _CI_A0_A2),
        Match("TCH", 0x95, 0x72, _CI_A0_A2),
        Match("TCH", 0x70, 0x62, _CI_A0_A2),
        Match("TCH", 0x70, 0x72, _CI_A0_A2),
    ),
    description="Techem MK Radio 3 / MK Radio 4 water meter (proprietary CI 0xA0-0xA2 frame)",
    proprietary=_mk_radio,
)
MK_RADIO_4A = MeterDecoder(
    name="mkradio4a",
    # TCH 0x95 0x37 is the radio's own address: it names the telegram when no long header follows.
    matches=(Match("TCH", 0x95, 0x37), Match("HYD", 0xFE, 0x06)),
    description="Techem MK Radio 4a (OMS records behind a Techem radio; end of previous year as set day)",
)

DECODERS = (MK_RADIO, MK_RADIO_4A, COMPACT_V, VARIO_451, FHKV_DATA)
