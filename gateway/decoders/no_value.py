"""Makers' "no value" patterns in registers: never published as a volume, whichever decoder reads them.

Zenner (ZRI): a register holding the top bit alone (0x80000000 in 4 bytes, 0x800000 in 3, as in its empty
monthly profile entries) has no value yet, whatever its data type says (as an int32 it reads -2147483648,
as BCD 80000000): new Minomess meters send it for a set day they have not reached.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.decoders.draft import ReadingDraft
from gateway.wmbus.records import DataRecord, RecordSet

#: Makers whose registers use the top-bit-alone pattern for "no value".
TOP_BIT_MAKERS = frozenset({"ZRI"})
# Data bytes of each DIF data field of 2 bytes or more (the integer and BCD ones a volume register uses).
_DATA_SIZES = {0x2: 2, 0x3: 3, 0x4: 4, 0x6: 6, 0x7: 8, 0xA: 2, 0xB: 3, 0xC: 4, 0xE: 6}
# A payload structure (RecordSet.structure) -> its volume registers that may hold the pattern, as
# (index, storage, tariff): which records those are depends on the headers alone, so the records are
# built once per structure, not per telegram.
_REGISTERS: dict[int, tuple[tuple[int, int, int], ...]] = {}
_REGISTERS_LIMIT = 256  # structures are few (RecordSet's shapes are bounded alike)


def clear_registers() -> None:
    """Forget the volume registers found per payload structure (benchmarks and tests)."""
    _REGISTERS.clear()


def _top_bit_alone(data: bytes) -> bool:
    return data[-1] == 0x80 and not any(data[:-1])


def is_no_value(record: DataRecord) -> bool:
    """True when the record's data bytes are the top bit alone."""
    size = _DATA_SIZES.get(record.dif & 0x0F)
    if size is None:
        return False
    return _top_bit_alone(record.raw[-size:])


def _volume_registers(records: Sequence[DataRecord]) -> tuple[tuple[int, int, int], ...]:
    return tuple(
        (index, record.storage, record.tariff)
        for index, record in enumerate(records)
        if record.quantity == "volume" and (record.dif & 0x0F) in _DATA_SIZES
    )


def _no_value_registers(records: Sequence[DataRecord]) -> list[tuple[int, int]]:
    """(storage, tariff) of each volume register of ``records`` that holds the pattern."""
    if type(records) is RecordSet and records.structure is not None:
        registers = _REGISTERS.get(records.structure)
        if registers is None:
            if len(_REGISTERS) >= _REGISTERS_LIMIT:
                _REGISTERS.clear()
            registers = _REGISTERS[records.structure] = _volume_registers(records)
        data_of = records.data_of
        return [(storage, tariff) for index, storage, tariff in registers if _top_bit_alone(data_of(index))]
    return [(r.storage, r.tariff) for r in records if r.quantity == "volume" and is_no_value(r)]


def drop_no_values(records: Sequence[DataRecord], draft: ReadingDraft) -> None:
    """Withdraw the volumes read from no-value registers (the set day's date stays); ``extra["no_value"]``
    names them."""
    names = []
    for storage, tariff in _no_value_registers(records):
        if storage == 0 and tariff == 0:
            if draft.total_m3 is not None:
                draft.total_m3 = None
                names.append("total_m3")
            continue
        for index, offered in enumerate(draft.set_days):
            if offered.storage == storage and offered.volume_m3 is not None:
                draft.set_days[index] = offered._replace(volume_m3=None)
                names.append(f"storage_{storage}_m3")
    if names:
        draft.extra["no_value"] = ",".join(names)
