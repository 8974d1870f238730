"""Data records of EN 13757-3 (clause 6): DIF, DIFEs, VIF, VIFEs and data, as typed ``DataRecord`` values.

``parse_records(payload)`` walks the application payload (after the TPL header and its 0x2F2F check)
and returns every record with its quantity, base unit and scaled value. Quantities (snake_case) and
their base units:

Primary VIF table (``VifTable.PRIMARY``)
    energy kWh, volume m3, mass kg, on_time s, operating_time s, power kW, volume_flow m3/h,
    mass_flow kg/h, flow_temperature C, return_temperature C, temperature_difference K,
    external_temperature C, pressure bar, date (datetime.date), datetime (datetime.datetime, naive
    meter local time; "time" with a datetime.time for type J), hca_units, averaging_duration s,
    actuality_duration s, fabrication_number, enhanced_identification, bus_address, any.
0xFD extension (``VifTable.FD``)
    credit, debit (currency units), access_number, medium, manufacturer, parameter_set_id,
    model_version, hardware_version, firmware_version, software_version, customer_location, customer,
    access_code_user, access_code_operator, access_code_system_operator, access_code_developer,
    password, error_flags, error_mask, digital_output, digital_input, baud_rate Bd, response_delay_time,
    retry, remote_control, first_storage_number, last_storage_number, storage_block_size,
    storage_interval s (or months/years), operator_specific_data, time_point_second,
    duration_since_last_readout s, start_of_tariff, duration_of_tariff s, period_of_tariff s (or
    months/years), dimensionless, data_container, voltage V, current A, reset_counter,
    cumulation_counter, control_signal, day_of_week, week_number, time_point_of_day_change,
    parameter_activation_state, special_supplier_information, duration_since_last_cumulation s (or
    months/years), battery_operating_time s (or months/years), battery_change_datetime, rf_level dBm,
    daylight_saving, listening_window_management, remaining_battery_life d, meter_stopped_count,
    manufacturer_data_container.
0xFB extension (``VifTable.FB``)
    energy kWh (from MWh, GJ, Mcal), reactive_energy kvarh, volume m3 (also from cubic feet and US
    gallons), volume_flow m3/h, mass kg, relative_humidity %, power kW (from MW, GJ/h), reactive_power
    kvar, apparent_power kVA, frequency Hz, phase_u_u deg, phase_u_i deg, flow_temperature /
    return_temperature / external_temperature C (from F), temperature_difference K, temperature_limit C,
    cumulative_max_power kW.
Others
    plain_text (VIF 0x7C/0xFC: the unit is the meter's text), manufacturer_specific (VIF 0x7F/0xFF:
    value = data bytes), manufacturer_data (after DIF 0x0F/0x1F: value = rest of the payload; 0x1F adds
    the modifier "more_records_follow"), unknown (reserved codes: value unscaled).

Combinable VIFEs become ``modifiers`` (see ``gateway.wmbus.vif.COMBINABLE``), e.g. "backward_flow",
"per_hour", "at_phase_1", "lower_limit", "record_error", "start_date_of", "date_of", "duration_of".
Binary integers are signed (type B), except identifiers, counters and bit fields (error_flags,
digital_input, access_number, fabrication_number ...: types C and D), which are read unsigned.
Values that the meter marks invalid (hex digits in BCD, invalid dates) are ``InvalidValue``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, time
from enum import IntEnum
from itertools import count
from math import isfinite
from typing import Any, NamedTuple, overload

from gateway.wmbus import datatypes as dt
from gateway.wmbus.datatypes import InvalidValue
from gateway.wmbus.errors import RecordError
from gateway.wmbus.vif import (
    COMBINABLE,
    COMBINABLE_FC,
    EXTENSION_EF,
    EXTENSION_FB,
    EXTENSION_FD,
    MANUFACTURER_SPECIFIC,
    PLAIN_TEXT,
    PRIMARY,
    Kind,
    VifEntry,
    VifTable,
)

__all__ = [
    "DataRecord",
    "Function",
    "InvalidValue",
    "PartialRecordError",
    "RecordSet",
    "RecordValue",
    "VifTable",
    "parse_record_set",
    "parse_records",
]

MAX_EXTENSIONS = 10  # EN 13757-3 6.3.1 and 6.4.1: at most 10 DIFEs and 10 VIFEs

RecordValue = int | float | str | date | datetime | time | bytes | InvalidValue | None


class Function(IntEnum):
    """Function field of the DIF (bits 4-5)."""

    INSTANTANEOUS = 0
    MAXIMUM = 1
    MINIMUM = 2
    ERROR = 3  # value during error state


class DataRecord(NamedTuple):
    """One decoded data record; ``offset`` is its position in the telegram (base_offset applied).

    Immutable like a frozen dataclass, but built in one C call: a telegram carries about eight records,
    and setting a frozen dataclass's sixteen fields one by one cost more than parsing them.
    """

    offset: int
    raw: bytes
    dif: int
    difes: tuple[int, ...]
    vif: int | None
    vifes: tuple[int, ...]
    function: Function
    storage: int
    tariff: int
    subunit: int
    quantity: str
    unit: str
    value: RecordValue
    modifiers: frozenset[str]
    vif_table: VifTable | None
    description: str


class PartialRecordError(RecordError):
    """A RecordError that also carries the complete records before the broken one."""

    _source: tuple[bytes, int, tuple[_Entry, ...]]  # what the parser builds ``records`` from, if it made this

    def __init__(self, reason: str, offset: int, records: tuple[DataRecord, ...], record_offset: int) -> None:
        super().__init__(reason, offset)
        self._records: tuple[DataRecord, ...] | None = records
        self.record_offset = record_offset  # where the broken record starts (base_offset applied)

    @property
    def records(self) -> tuple[DataRecord, ...]:
        """The complete records before the broken one (built on first access when the parser made this)."""
        records = self._records
        if records is None:
            payload, base_offset, entries = self._source
            records = self._records = _build(payload, base_offset, entries, None)
        return records

    @records.setter
    def records(self, records: tuple[DataRecord, ...]) -> None:
        self._records = records


# Data field (DIF bits 0-3) -> byte length; -1 variable length (LVAR), -2 special function.
_LENGTH = (0, 1, 2, 3, 4, 4, 6, 8, 0, 1, 2, 3, 4, -1, 6, -2)
_BCD_FIELDS = frozenset((0x9, 0xA, 0xB, 0xC, 0xE))
_FUNCTIONS = tuple(Function)
_NO_MODIFIERS: frozenset[str] = frozenset()
_MORE_FOLLOW = frozenset(("more_records_follow",))
_FC_EXTENSION = 0x7C
_MANUFACTURER_VIFES = 0x7F
_PLAIN_TEXT_VIF = 0x7C

# How the data bytes become a value (decided once per record header, see _layout), most frequent first:
# a number that struct reads in place, a 3 or 6 byte integer, BCD, a date or time, bytes, LVAR, nothing,
# a real (type H: NaN and the infinities are no value, an InvalidValue).
_STRUCT, _INT, _UINT, _BCD, _DATETIME, _BYTES, _LVAR, _NONE, _REAL = range(9)

_Reader = Callable[[bytes, int], tuple[Any, ...]]
_SIGNED: dict[int, _Reader] = {size: struct.Struct(f"<{code}").unpack_from
                               for size, code in ((1, "b"), (2, "h"), (4, "i"), (8, "q"))}
_UNSIGNED: dict[int, _Reader] = {size: struct.Struct(f"<{code}").unpack_from
                                 for size, code in ((1, "B"), (2, "H"), (4, "I"), (8, "Q"))}
_REAL32: _Reader = struct.Struct("<f").unpack_from
# Date and time types by data size (EN 13757-3 Annex A): G, J, F, I.
_DATETIMES: dict[int, Callable[[bytes], RecordValue]] = {
    2: dt.decode_date_g,
    3: dt.decode_time_j,
    4: dt.decode_datetime_f,
    6: dt.decode_datetime_i,
}
# The dates and times decoded so far, by data bytes (their size names the type, see _DATETIMES): set days
# and meter clocks repeat across meters and telegrams. The values are immutable; bounded like the layouts.
_POINTS: dict[bytes, RecordValue] = {}
_POINT_LIMIT = 4096

# Record headers (DIF .. last VIFE, plain text included) repeat from telegram to telegram: their meaning
# is computed once and kept in a bounded table so that random input cannot grow it without limit.
_LAYOUT_LIMIT = 4096


class _Layout(NamedTuple):
    """Everything a record header says, independent of the data bytes."""

    dif: int
    vif: int
    size: int  # data bytes; -1: an LVAR byte announces them
    mode: int
    reader: _Reader | None  # _STRUCT: reads the number from the payload at the data's offset
    convert: Callable[[bytes], RecordValue] | None  # _DATETIME: the type F, G, I or J decoder
    fahrenheit: bool
    multiplier: int | float
    divisor: int
    difes: tuple[int, ...]
    vifes: tuple[int, ...]
    function: Function
    storage: int
    tariff: int
    subunit: int
    quantity: str
    unit: str
    modifiers: frozenset[str]
    table: VifTable
    description: str


_LAYOUTS: dict[bytes, _Layout] = {}


def _layout(header: bytes) -> _Layout:
    """Interpret a structurally complete record header (the parser has checked its extension chains)."""
    dif = header[0]
    field = dif & 0x0F
    storage = (dif >> 6) & 1
    tariff = subunit = 0
    pos = 1
    count = 0
    more = dif & 0x80
    while more:
        dife = header[pos]
        pos += 1
        storage |= (dife & 0x0F) << (1 + 4 * count)
        tariff |= ((dife >> 4) & 0x03) << (2 * count)
        subunit |= ((dife >> 6) & 0x01) << count
        count += 1
        more = dife & 0x80
    difes = tuple(header[1:pos])
    vif = header[pos]
    pos += 1
    text = b""
    if vif & 0x7F == _PLAIN_TEXT_VIF:  # EN 13757-3: a length byte and the text follow the VIF, then VIFEs
        text = header[pos + 1 : pos + 1 + header[pos]]
        pos += 1 + header[pos]
    vifes_end = pos
    more = vif & 0x80
    while more:
        more = header[vifes_end] & 0x80
        vifes_end += 1
    vifes = tuple(header[pos:vifes_end])

    code = vif & 0x7F
    table = VifTable.PRIMARY
    combinable = vifes
    entry: VifEntry
    if vif == 0xFB:
        entry, table, combinable = EXTENSION_FB[vifes[0] & 0x7F], VifTable.FB, vifes[1:]
    elif vif == 0xFD:
        entry, table, combinable = EXTENSION_FD[vifes[0] & 0x7F], VifTable.FD, vifes[1:]
    elif vif == 0xEF:
        entry, table, combinable = EXTENSION_EF[vifes[0] & 0x7F], VifTable.EF, vifes[1:]
    elif code == _PLAIN_TEXT_VIF:
        entry, table = PLAIN_TEXT, VifTable.PLAIN_TEXT
    elif code == 0x7F:
        entry, table = MANUFACTURER_SPECIFIC, VifTable.MANUFACTURER
    else:
        entry = PRIMARY[code]
    quantity, unit, multiplier, divisor, kind, description = entry

    modifiers = _NO_MODIFIERS
    if combinable:
        names: set[str] = set()
        fc_next = False
        for vife in combinable:
            low = vife & 0x7F
            if table is VifTable.MANUFACTURER:
                names.add("manufacturer_specific_vife")
                continue
            if fc_next:
                names |= COMBINABLE_FC[low].modifiers
                fc_next = False
                continue
            if low == _FC_EXTENSION:
                fc_next = True
                continue
            meaning = COMBINABLE[low]
            names |= meaning.modifiers
            if low == _MANUFACTURER_VIFES:
                break  # the rest are the manufacturer's own
            if meaning.kind is Kind.NUMBER:  # a duration: its own time unit replaces the VIF's scale
                multiplier, divisor = meaning.multiplier, meaning.divisor
            else:
                multiplier *= meaning.multiplier
                divisor *= meaning.divisor
            if meaning.kind is not None:
                kind = meaning.kind
            if meaning.unit is not None:
                unit = meaning.unit
        modifiers = frozenset(names)

    if table is VifTable.PLAIN_TEXT:
        unit = dt.decode_text(text)  # ASCII, last character first
        description = f"plain-text VIF: {unit}"

    size = _LENGTH[field]
    reader = convert = None
    if kind is Kind.RAW:
        mode = _BYTES
    elif field == 0x0D:
        mode = _LVAR
    elif kind in (Kind.DATE, Kind.DATETIME) and field not in _BCD_FIELDS and size in _DATETIMES:
        mode = _DATETIME
        convert = _DATETIMES[size]
        if size == 3 and quantity == "datetime":
            quantity = "time"  # type J: time of day only
    elif field in _BCD_FIELDS:
        mode = _BCD
    elif field == 0x05:
        mode, reader = _REAL, _REAL32  # type H
    elif size == 0:
        mode = _NONE
    else:
        readers, fallback = (_UNSIGNED, _UINT) if kind is Kind.UNSIGNED else (_SIGNED, _INT)
        reader = readers.get(size)
        mode = fallback if reader is None else _STRUCT
    return _Layout(
        dif,
        vif,
        size,
        mode,
        reader,
        convert,
        kind is Kind.FAHRENHEIT,
        multiplier,
        divisor,
        difes,
        vifes,
        _FUNCTIONS[(dif >> 4) & 0x03],
        storage,
        tariff,
        subunit,
        quantity,
        unit,
        modifiers,
        table,
        description,
    )


_new_record = tuple.__new__
_MANUFACTURER_DESCRIPTIONS = {dif: f"manufacturer-specific data (DIF 0x{dif:02X})" for dif in (0x0F, 0x1F)}


def _manufacturer_data(payload: bytes, start: int, base_offset: int) -> DataRecord:
    """The record of DIF 0x0F/0x1F at ``start``: the rest of the payload is the manufacturer's."""
    dif = payload[start]
    return _new_record(DataRecord, (  # in field order
        base_offset + start, payload[start:], dif, (), None, (), Function.INSTANTANEOUS, 0, 0, 0,
        "manufacturer_data", "", payload[start + 1 :], _MORE_FOLLOW if dif == 0x1F else _NO_MODIFIERS,
        None, _MANUFACTURER_DESCRIPTIONS[dif],
    ))


# Where one record's parts lie in the payload (start, data offset, end, LVAR byte or 0), then its layout.
_Entry = tuple[Any, ...]


class _Shape(NamedTuple):
    """The structure of a whole payload: every byte the walk read but the data bytes, and where the records
    lie (and why the walk stopped, if a record broke it).

    A payload of the same length whose non-data bytes (DIFs, DIFEs, VIFs, VIFEs, plain-text units, LVAR
    bytes, fillers) are the same parses along the same path: only its values need decoding. The walk reads
    no data byte, and none after a broken record's header: those are 0x00 in the mask too.
    """

    mask: int  # the payload as a big-endian integer, 0xFF on the structural bytes, 0x00 on the data
    pattern: int  # the structural bytes
    entries: tuple[_Entry, ...]
    manufacturer_at: int | None  # where DIF 0x0F/0x1F starts the manufacturer's data, if it does
    serial: int  # this shape's number, never reused (RecordSet.structure)
    broken: _Break | None  # why the walk stopped before the end, None: every record is complete


# Meters of one model send the same structure every time with new values: the shapes of payloads are kept
# (those with a broken tail too: some meters append bytes that no record describes), a few per payload
# length and a bounded number in all (random input cannot grow it), so that the cost of a telegram depends
# on how many structures a fleet uses, not on its size.
_SHAPES_PER_LENGTH = 16
_SHAPE_LIMIT = 256  # ~1.4 KB each
_shapes: dict[int, list[_Shape]] = {}
_shape_count = 0
_serials = count(1)  # not reset by clear_caches: a serial names one shape for the life of the process


def clear_caches() -> None:
    """Forget the record layouts and payload shapes seen so far (benchmarks and tests)."""
    global _shape_count
    _LAYOUTS.clear()
    _POINTS.clear()
    _shapes.clear()
    _shape_count = 0


def _remember(
    payload: bytes, entries: tuple[_Entry, ...], manufacturer_at: int | None, broken: _Break | None, read: int
) -> int:
    """Keep the structure of a payload whose walk read its first ``read`` bytes; return its serial number."""
    global _shape_count
    mask = bytearray(b"\xff") * read + bytes(len(payload) - read)
    for entry in entries:
        data_at, end = entry[1], entry[2]
        mask[data_at:end] = bytes(end - data_at)
    mask_value = int.from_bytes(mask, "big")
    serial = next(_serials)
    pattern = int.from_bytes(payload, "big") & mask_value
    shape = _Shape(mask_value, pattern, entries, manufacturer_at, serial, broken)
    if _shape_count >= _SHAPE_LIMIT:
        _shapes.clear()
        _shape_count = 0
    same_length = _shapes.setdefault(len(payload), [])
    if len(same_length) >= _SHAPES_PER_LENGTH:
        same_length.pop()
        _shape_count -= 1
    same_length.insert(0, shape)
    _shape_count += 1
    return serial


# Why a walk stopped before the payload's end: (reason, offset of the fault, start of the broken record),
# offsets within the payload (the caller adds its base offset).
_Break = tuple[str, int, int]


def _skip_extensions(payload: bytes, pos: int, end: int, name: str) -> tuple[int, str | None, int]:
    """Past the DIFE or VIFE chain (``name``) that starts at ``pos``: (the position after it, None, 0), or
    (the fault's offset, why the chain is broken, how many leading bytes the walk read)."""
    count = 0
    while True:
        if pos >= end:
            return pos, f"record ends inside its {name}", end
        if count == MAX_EXTENSIONS:
            return pos, f"more than 10 {name}", pos
        count += 1
        pos += 1
        if not payload[pos - 1] & 0x80:
            return pos, None, 0


def _scan(payload: bytes) -> tuple[list[_Entry], int | None, _Break | None, int]:
    """Walk the record structure: the entries, where manufacturer data starts, why the walk stopped early
    (None: it did not), and how many leading bytes the walk read (the rest are data it never looked at)."""
    entries: list[_Entry] = []
    append = entries.append
    layouts = _LAYOUTS
    end = len(payload)
    pos = 0
    while pos < end:
        start = pos
        dif = payload[pos]
        if dif & 0x0F == 0x0F:
            if dif == 0x2F:  # idle filler
                pos += 1
                continue
            if dif == 0x0F or dif == 0x1F:  # noqa: PLR1714 (faster than a set on this path)
                return entries, start, None, start + 1
            return entries, None, (f"reserved special function DIF 0x{dif:02X}", start, start), start + 1
        pos += 1
        if dif & 0x80:
            pos, fault, read = _skip_extensions(payload, pos, end, "DIFEs")
            if fault is not None:
                return entries, None, (fault, pos, start), read
        if pos >= end:
            return entries, None, ("record ends before its VIF", pos, start), end
        vif = payload[pos]
        pos += 1
        if vif & 0x7F == 0x7C:  # plain-text VIF: its length byte and text come before any VIFE
            if pos >= end:
                return entries, None, ("record ends before its plain-text VIF", pos, start), end
            length_at = pos
            pos += 1 + payload[pos]
            if pos > end:  # the text itself is never read: only its length byte
                return entries, None, ("record ends inside its plain-text VIF", end, start), length_at + 1
        if vif & 0x80:
            pos, fault, read = _skip_extensions(payload, pos, end, "VIFEs")
            if fault is not None:
                return entries, None, (fault, pos, start), read
        header = payload[start:pos]
        layout = layouts.get(header)
        if layout is None:
            layout = _layout(header)
            if len(layouts) >= _LAYOUT_LIMIT:
                layouts.clear()
            layouts[header] = layout
        size = layout.size
        lvar = 0
        if size < 0:
            if pos >= end:
                return entries, None, ("record ends before its LVAR byte", pos, start), end
            lvar = payload[pos]
            pos += 1
            announced = dt.lvar_length(lvar)
            if announced is None:
                return entries, None, (f"reserved LVAR 0x{lvar:02X}", pos - 1, start), pos
            size = announced
        data_at = pos
        pos += size
        if pos > end:  # depends on the header, the LVAR byte and the length alone, not on the data
            left = end - data_at
            return entries, None, (f"record needs {size} data bytes, {left} left", data_at, start), data_at
        append((start, data_at, pos, lvar, *layout))
    return entries, None, None, end


def _build(
    payload: bytes, base_offset: int, entries: tuple[_Entry, ...] | list[_Entry], manufacturer_at: int | None
) -> tuple[DataRecord, ...]:
    """The records of ``payload`` whose structure ``entries`` describe: decode the values."""
    records: list[DataRecord] = []
    append = records.append
    new = _new_record
    record_type = DataRecord
    from_bytes = int.from_bytes
    for (
        start, data_at, end, lvar, dif, vif, _, mode, reader, convert, fahrenheit, multiplier, divisor,
        difes, vifes, function, storage, tariff, subunit, quantity, unit, modifiers, table, description,
    ) in entries:
        value: RecordValue
        number: int | float | None
        if mode == 0:  # _STRUCT
            number = reader(payload, data_at)[0]
        elif mode == 3:  # _BCD
            value = dt.decode_bcd(payload[data_at:end])
            number = value if isinstance(value, int) else None
        elif mode == 4:  # _DATETIME
            number = None
            value = convert(payload[data_at:end])
        elif mode == 5:  # _BYTES
            number = None
            value = payload[data_at:end]
        elif mode == 1:  # _INT
            number = from_bytes(payload[data_at:end], "little", signed=True)
        elif mode == 2:  # _UINT
            number = from_bytes(payload[data_at:end], "little")
        elif mode == 6:  # _LVAR
            value = dt.decode_lvar(lvar, payload[data_at:end])
            number = value if isinstance(value, int) else None
        elif mode == 8:  # _REAL
            number = reader(payload, data_at)[0]
            if not isfinite(number):
                number = None
                value = InvalidValue(payload[data_at:end], "not a finite number (type H)")
        else:
            number = None
            value = None
        if number is not None:
            scaled: int | float
            if divisor != 1:
                scaled = number * multiplier / divisor
            elif multiplier != 1:
                scaled = number * multiplier
            else:
                scaled = number
            value = (scaled - 32) * 5 / 9 if fahrenheit else scaled
        append(new(record_type, (
            base_offset + start, payload[start:end], dif, difes, vif, vifes, function, storage, tariff,
            subunit, quantity, unit, value, modifiers, table, description,
        )))
    if manufacturer_at is not None:
        append(_manufacturer_data(payload, manufacturer_at, base_offset))
    return tuple(records)


class RecordSet(Sequence[DataRecord]):
    """The data records of one payload: the structure is parsed at once, the records are built when first
    read (a decoder that reads a few values decodes only those, see :meth:`value`).

    ``records`` is exactly what :func:`parse_records` returns (the complete records before a broken one);
    ``error`` says why the payload's tail is not in them (None: all parsed). ``structure`` is a number
    shared by the payloads of one cached shape (same length and non-data bytes) and never reused, None
    when the shape is not cached: what depends on the record headers alone may be kept per ``structure``.
    """

    __slots__ = ("_base_offset", "_built", "_entries", "_manufacturer_at", "_payload", "error", "structure")

    def __init__(
        self, payload: bytes, base_offset: int, entries: tuple[_Entry, ...], manufacturer_at: int | None,
        structure: int | None,
    ) -> None:
        self._payload = payload
        self._base_offset = base_offset
        self._entries = entries
        self._manufacturer_at = manufacturer_at
        self._built: tuple[DataRecord, ...] | None = None
        self.structure = structure
        self.error: PartialRecordError | None = None

    @property
    def records(self) -> tuple[DataRecord, ...]:
        """Every record, built on first access."""
        built = self._built
        if built is None:
            error = self.error
            if error is None:
                built = _build(self._payload, self._base_offset, self._entries, self._manufacturer_at)
            else:
                built = error.records  # the same tuple, built once for both
            self._built = built
        return built

    def value(self, index: int) -> RecordValue:
        """``records[index].value``, decoded alone when the records are not built (as :func:`_build`
        decodes it; tests hold both equal). Inline: decoders read a few values of every telegram."""
        entries = self._entries
        if self._built is not None or not 0 <= index < len(entries):
            if self._built is None and index == len(entries) and self._manufacturer_at is not None:
                return self._payload[self._manufacturer_at + 1 :]  # the manufacturer data, as its record
            return self.records[index].value
        entry = entries[index]
        payload = self._payload
        mode = entry[7]
        number: int | float | None
        if mode == 0:  # _STRUCT
            number = entry[8](payload, entry[1])[0]
        elif mode == 4:  # _DATETIME
            raw = payload[entry[1] : entry[2]]
            point = _POINTS.get(raw)
            if point is None:
                point = entry[9](raw)
                if len(_POINTS) >= _POINT_LIMIT:
                    _POINTS.clear()
                _POINTS[raw] = point
            return point
        elif mode == 3:  # _BCD
            # The data bytes reversed in one slice (data never starts a payload: a DIF and VIF come first);
            # all decimal digits is decode_bcd's common case, the rest (sign, error digits) goes to it.
            digits = payload[entry[2] - 1 : entry[1] - 1 : -1].hex()
            if digits.isdigit():
                number = int(digits)
            else:
                value = dt.decode_bcd(payload[entry[1] : entry[2]])
                if not isinstance(value, int):
                    return value
                number = value
        elif mode == 5:  # _BYTES
            return payload[entry[1] : entry[2]]
        elif mode == 1:  # _INT
            number = int.from_bytes(payload[entry[1] : entry[2]], "little", signed=True)
        elif mode == 2:  # _UINT
            number = int.from_bytes(payload[entry[1] : entry[2]], "little")
        elif mode == 6:  # _LVAR
            text_or_number = dt.decode_lvar(entry[3], payload[entry[1] : entry[2]])
            if not isinstance(text_or_number, int):
                return text_or_number
            number = text_or_number
        elif mode == 8:  # _REAL
            number = entry[8](payload, entry[1])[0]
            if not isfinite(number):
                return InvalidValue(payload[entry[1] : entry[2]], "not a finite number (type H)")
        else:
            return None
        multiplier = entry[11]
        divisor = entry[12]
        scaled: int | float
        if divisor != 1:
            scaled = number * multiplier / divisor
        elif multiplier != 1:
            scaled = number * multiplier
        else:
            scaled = number
        return (scaled - 32) * 5 / 9 if entry[10] else scaled

    def data_of(self, index: int) -> bytes:
        """The data bytes of ``records[index]`` (not the manufacturer data) as sent; no record is built."""
        entry = self._entries[index]
        return self._payload[entry[1] : entry[2]]

    def __len__(self) -> int:
        return len(self._entries) + (self._manufacturer_at is not None)

    @overload
    def __getitem__(self, index: int) -> DataRecord: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[DataRecord, ...]: ...

    def __getitem__(self, index: int | slice) -> DataRecord | tuple[DataRecord, ...]:
        return self.records[index]

    def __iter__(self) -> Iterator[DataRecord]:
        return iter(self.records)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RecordSet):
            return NotImplemented
        return self.records == other.records and str(self.error) == str(other.error)

    def __hash__(self) -> int:
        return hash(self.records)

    def __repr__(self) -> str:
        return f"RecordSet({self.records!r})"


def _parse_structure(
    payload: bytes,
) -> tuple[tuple[_Entry, ...], int | None, int, _Break | None]:
    """(entries, where manufacturer data starts, the cached shape's serial, why a broken record stopped the
    walk or None) of ``payload``: from its cached shape, or walked once and its shape kept."""
    shapes = _shapes.get(len(payload))
    if shapes is not None:
        whole = int.from_bytes(payload, "big")
        for shape in shapes:
            if whole & shape[0] == shape[1]:  # mask, pattern (indexing: cheaper than the field names)
                if shape is not shapes[0]:  # the most used first: lengths of encrypted payloads are shared
                    index = shapes.index(shape)
                    shapes[0], shapes[index] = shape, shapes[0]
                return shape[2], shape[3], shape[4], shape[5]  # entries, manufacturer_at, serial, broken
    found, manufacturer_at, broken, read = _scan(payload)
    entries = tuple(found)
    return entries, manufacturer_at, _remember(payload, entries, manufacturer_at, broken, read), broken


def _partial(
    payload: bytes, base_offset: int, entries: tuple[_Entry, ...], broken: _Break
) -> PartialRecordError:
    """The error of a broken record; its records (those of ``entries``) are built when first read."""
    reason, offset, start = broken
    error = PartialRecordError(reason, base_offset + offset, (), base_offset + start)
    error._records = None
    error._source = (payload, base_offset, entries)
    return error


_new_set = object.__new__


def parse_record_set(payload: bytes, base_offset: int = 0) -> RecordSet:
    """The records of ``payload`` as a :class:`RecordSet`; raises no RecordError: a broken record ends the
    set and is its ``error`` (a ``PartialRecordError``, as :func:`parse_records` raises it)."""
    if type(payload) is not bytes:
        payload = bytes(payload)  # headers are dictionary keys, records keep immutable bytes
    entries, manufacturer_at, structure, broken = _parse_structure(payload)
    # RecordSet.__init__'s work without the call through type(): once a telegram
    found = _new_set(RecordSet)
    found._payload = payload
    found._base_offset = base_offset
    found._entries = entries
    found._manufacturer_at = manufacturer_at
    found.structure = structure
    found.error = None if broken is None else _partial(payload, base_offset, entries, broken)
    found._built = None
    return found


def parse_records(payload: bytes, base_offset: int = 0) -> tuple[DataRecord, ...]:
    """Parse every data record of ``payload``; raise RecordError (with the offset) on broken structure.

    The error raised is a ``PartialRecordError`` carrying the complete records before the broken one.
    """
    if type(payload) is not bytes:
        payload = bytes(payload)  # headers are dictionary keys, records keep immutable bytes
    entries, manufacturer_at, _, broken = _parse_structure(payload)
    if broken is not None:
        raise _partial(payload, base_offset, entries, broken)
    return _build(payload, base_offset, entries, manufacturer_at)
