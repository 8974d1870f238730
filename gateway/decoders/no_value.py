"""Makers' "no value" patterns in registers: never published as a volume, whichever decoder reads them.

Zenner (ZRI): a register holding the top bit alone (0x80000000 in 4 bytes, 0x800000 in 3, as in its empty
monthly profile entries) has no value yet, whatever its data type says (as an int32 it reads -2147483648,
as BCD 80000000): new Minomess meters send it for a set day they have not reached.
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.decoders.draft import ReadingDraft
from gateway.wmbus.records import DataRecord

#: Makers whose registers use the top-bit-alone pattern for "no value".
TOP_BIT_MAKERS = frozenset({"ZRI"})
# Data bytes of each DIF data field of 2 bytes or more (the integer and BCD ones a volume register uses).
_DATA_SIZES = {0x2: 2, 0x3: 3, 0x4: 4, 0x6: 6, 0x7: 8, 0xA: 2, 0xB: 3, 0xC: 4, 0xE: 6}


def is_no_value(record: DataRecord) -> bool:
    """True when the record's data bytes are the top bit alone."""
    size = _DATA_SIZES.get(record.dif & 0x0F)
    if size is None:
        return False
    data = record.raw[-size:]
    return data[-1] == 0x80 and not any(data[:-1])


def drop_no_values(records: Iterable[DataRecord], draft: ReadingDraft) -> None:
    """Withdraw the volumes read from no-value registers (the set day's date stays); ``extra["no_value"]``
    names them."""
    names = []
    for record in records:
        if record.quantity != "volume" or not is_no_value(record):
            continue
        if record.storage == 0 and record.tariff == 0:
            if draft.total_m3 is not None:
                draft.total_m3 = None
                names.append("total_m3")
            continue
        for index, offered in enumerate(draft.set_days):
            if offered.storage == record.storage and offered.volume_m3 is not None:
                draft.set_days[index] = offered._replace(volume_m3=None)
                names.append(f"storage_{record.storage}_m3")
    if names:
        draft.extra["no_value"] = ",".join(names)
