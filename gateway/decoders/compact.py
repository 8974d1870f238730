"""OMS compact frames (CI 0x79): the receiver knows the DIF/VIF layout from its format signature.

A compact frame carries ``signature (2, LE) | full-frame CRC (2, LE) | data``; the signature is the
EN 13757-4 CRC-16 of the DIF/VIF bytes of the full frame (OMS Vol. 2, section 7.2.4; wmbusmeters
src/wmbus.cc ``format signature`` handling). Decoders register the layouts their meters use, and the
expansion rebuilds the full frame's records so that the usual field tables apply. As OMS receivers do,
layouts are also learnt from full frames (a meter sends a full frame now and then, compact ones between).
"""

from __future__ import annotations

from gateway.wmbus.crc import crc16
from gateway.wmbus.records import DataRecord, RecordSet, VifTable, parse_record_set

# Data field sizes by DIF low nibble (0x0D, variable length, is not allowed in a compact layout).
_DATA_SIZES = {0x0: 0, 0x1: 1, 0x2: 2, 0x3: 3, 0x4: 4, 0x5: 4, 0x6: 6, 0x7: 8,
               0x9: 1, 0xA: 2, 0xB: 3, 0xC: 4, 0xE: 6}

_FORMATS: dict[int, tuple[tuple[bytes, int], ...]] = {}
_LEARNT_LIMIT = 4096  # bounds the memory a stream of odd full frames can take
_seen_layouts: set[bytes] = set()  # layouts already considered: the CRC is computed once per layout
_seen_structures: set[int] = set()  # RecordSet structures already learnt: their records are not built again


def _split(layout: bytes) -> tuple[tuple[bytes, int], ...]:
    """Cut a DIF/VIF layout into (header bytes, data size) per record."""
    out: list[tuple[bytes, int]] = []
    i = 0
    while i < len(layout):
        start = i
        dif = layout[i]
        i += 1
        ext = dif & 0x80
        while ext:
            ext = layout[i] & 0x80
            i += 1
        ext = 0x80
        while ext:
            ext = layout[i] & 0x80
            i += 1
        size = _DATA_SIZES.get(dif & 0x0F)
        if size is None:
            raise ValueError(f"DIF 0x{dif:02X} cannot appear in a compact frame layout")
        out.append((layout[start:i], size))
    return tuple(out)


def register_format(layout_hex: str) -> int:
    """Register a full-frame DIF/VIF layout; return its format signature."""
    layout = bytes.fromhex(layout_hex)
    signature = crc16(layout)
    _FORMATS[signature] = _split(layout)
    return signature


def learn_layout(records: RecordSet | tuple[DataRecord, ...]) -> None:
    """Remember the DIF/VIF layout of a full frame so that its compact frames can be expanded.

    A RecordSet of a cached payload shape is read once per shape (same headers, same layout)."""
    if type(records) is RecordSet:
        structure = records.structure
        if structure is not None:
            if structure in _seen_structures:
                return
            if len(_seen_structures) >= _LEARNT_LIMIT:
                _seen_structures.clear()
            _seen_structures.add(structure)
    layout = bytearray()
    for record in records:
        if record.vif is None or record.dif & 0x0F == 0x0D or record.vif_table is VifTable.PLAIN_TEXT:
            return  # manufacturer data, variable-length or plain-text records never appear in compact frames
        layout.append(record.dif)
        layout += bytes(record.difes)
        layout.append(record.vif)
        layout += bytes(record.vifes)
    key = bytes(layout)
    if not key or key in _seen_layouts or len(_seen_layouts) >= _LEARNT_LIMIT:
        return
    _seen_layouts.add(key)
    signature = crc16(key)
    if signature not in _FORMATS:
        try:
            _FORMATS[signature] = _split(key)
        except ValueError:
            return


def expand_compact(payload: bytes) -> RecordSet | None:
    """Records of a compact frame's payload (from the signature on), or None for an unknown signature.

    The full frame is rebuilt and read like any payload: its shape is cached, its values decoded on demand.
    Raises the RecordError of a broken record."""
    if len(payload) < 4:
        return None
    layout = _FORMATS.get(int.from_bytes(payload[:2], "little"))
    if layout is None:
        return None
    data = payload[4:]
    full = bytearray()
    pos = 0
    for header, size in layout:
        if pos + size > len(data):
            return None
        full += header
        full += data[pos : pos + size]
        pos += size
    found = parse_record_set(bytes(full))
    if found.error is not None:
        raise found.error
    return found
