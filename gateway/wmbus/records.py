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

from dataclasses import dataclass, fields
from datetime import date, datetime, time
from enum import IntEnum
from typing import NamedTuple

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
    "RecordValue",
    "VifTable",
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


@dataclass(frozen=True, slots=True)
class DataRecord:
    """One decoded data record; ``offset`` is its position in the telegram (base_offset applied)."""

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

    def __init__(self, reason: str, offset: int, records: tuple[DataRecord, ...], record_offset: int) -> None:
        super().__init__(reason, offset)
        self.records = records
        self.record_offset = record_offset  # where the broken record starts (base_offset applied)


# Data field (DIF bits 0-3) -> byte length; -1 variable length (LVAR), -2 special function.
_LENGTH = (0, 1, 2, 3, 4, 4, 6, 8, 0, 1, 2, 3, 4, -1, 6, -2)
_BCD_FIELDS = frozenset((0x9, 0xA, 0xB, 0xC, 0xE))
_FUNCTIONS = tuple(Function)
_NO_MODIFIERS: frozenset[str] = frozenset()
_MORE_FOLLOW = frozenset(("more_records_follow",))
_FC_EXTENSION = 0x7C
_MANUFACTURER_VIFES = 0x7F
_PLAIN_TEXT_VIF = 0x7C

# How the data bytes become a value (decided once per record header, see _layout).
_INT, _BCD, _REAL, _NONE, _LVAR, _BYTES, _DATETIME, _UINT = range(8)

# Record headers (DIF .. last VIFE, plain text included) repeat from telegram to telegram: their meaning
# is computed once and kept in a bounded table so that random input cannot grow it without limit.
_LAYOUT_LIMIT = 4096


class _Layout(NamedTuple):
    """Everything a record header says, independent of the data bytes."""

    field: int
    mode: int
    fahrenheit: bool
    multiplier: int | float
    divisor: int
    difes: tuple[int, ...]
    vif: int
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
        # EN 13757-3 6.4.3: a length byte and the ASCII text after the VIFEs, last character first
        unit = dt.decode_text(header[vifes_end + 1 :])
        description = f"plain-text VIF: {unit}"

    size = _LENGTH[field]
    if kind is Kind.RAW:
        mode = _BYTES
    elif field == 0x0D:
        mode = _LVAR
    elif kind in (Kind.DATE, Kind.DATETIME) and field not in _BCD_FIELDS and size in (2, 3, 4, 6):
        mode = _DATETIME
        if size == 3 and quantity == "datetime":
            quantity = "time"  # type J: time of day only
    elif field in _BCD_FIELDS:
        mode = _BCD
    elif field == 0x05:
        mode = _REAL
    elif size == 0:
        mode = _NONE
    elif kind is Kind.UNSIGNED:
        mode = _UINT
    else:
        mode = _INT
    return _Layout(
        field,
        mode,
        kind is Kind.FAHRENHEIT,
        multiplier,
        divisor,
        difes,
        vif,
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


def _decode_datetime(data: bytes) -> RecordValue:
    size = len(data)
    if size == 2:
        return dt.decode_date_g(data)
    if size == 4:
        return dt.decode_datetime_f(data)
    if size == 6:
        return dt.decode_datetime_i(data)
    return dt.decode_time_j(data)


# DataRecord is a frozen dataclass; setting its slots through their descriptors builds one in half the
# time of the generated __init__ (which calls object.__setattr__ per field), and records are most of
# the decode path.
_new = object.__new__
_SETTERS = tuple(DataRecord.__dict__[field.name].__set__ for field in fields(DataRecord))


def _manufacturer_data(payload: bytes, start: int, base_offset: int, dif: int) -> DataRecord:
    return DataRecord(
        offset=base_offset + start,
        raw=payload[start:],
        dif=dif,
        difes=(),
        vif=None,
        vifes=(),
        function=Function.INSTANTANEOUS,
        storage=0,
        tariff=0,
        subunit=0,
        quantity="manufacturer_data",
        unit="",
        value=payload[start + 1 :],
        modifiers=_MORE_FOLLOW if dif == 0x1F else _NO_MODIFIERS,
        vif_table=None,
        description=f"manufacturer-specific data (DIF 0x{dif:02X})",
    )


def parse_records(payload: bytes, base_offset: int = 0) -> tuple[DataRecord, ...]:
    """Parse every data record of ``payload``; raise RecordError (with the offset) on broken structure.

    The error raised is a ``PartialRecordError`` carrying the complete records before the broken one.
    """
    if type(payload) is not bytes:
        payload = bytes(payload)  # headers are dictionary keys, records keep immutable bytes
    records: list[DataRecord] = []
    append = records.append
    layouts = _LAYOUTS
    lengths = _LENGTH
    new = _new
    # Local names for the slot setters: a record is built from 16 of them and locals are cheapest.
    set_offset, set_raw, set_dif, set_difes, set_vif, set_vifes, set_function, set_storage = _SETTERS[:8]
    set_tariff, set_subunit, set_quantity, set_unit, set_value, set_modifiers, set_table = _SETTERS[8:15]
    set_text = _SETTERS[15]
    end = len(payload)
    pos = 0
    start = 0
    try:
        while pos < end:
            start = pos
            dif = payload[pos]
            if dif & 0x0F == 0x0F:
                if dif == 0x2F:  # idle filler
                    pos += 1
                    continue
                if dif == 0x0F or dif == 0x1F:  # noqa: PLR1714 (faster than a set on this path)
                    append(_manufacturer_data(payload, start, base_offset, dif))
                    break
                raise RecordError(f"reserved special function DIF 0x{dif:02X}", base_offset + start)
            pos += 1
            if dif & 0x80:
                count = 0
                while True:
                    if pos >= end:
                        raise RecordError("record ends inside its DIFEs", base_offset + pos)
                    if count == MAX_EXTENSIONS:
                        raise RecordError("more than 10 DIFEs", base_offset + pos)
                    count += 1
                    pos += 1
                    if not payload[pos - 1] & 0x80:
                        break
            if pos >= end:
                raise RecordError("record ends before its VIF", base_offset + pos)
            vif = payload[pos]
            pos += 1
            if vif & 0x80:
                count = 0
                while True:
                    if pos >= end:
                        raise RecordError("record ends inside its VIFEs", base_offset + pos)
                    if count == MAX_EXTENSIONS:
                        raise RecordError("more than 10 VIFEs", base_offset + pos)
                    count += 1
                    pos += 1
                    if not payload[pos - 1] & 0x80:
                        break
            if vif & 0x7F == 0x7C:  # plain-text VIF
                if pos >= end:
                    raise RecordError("record ends before its plain-text VIF", base_offset + pos)
                pos += 1 + payload[pos]
                if pos > end:
                    raise RecordError("record ends inside its plain-text VIF", base_offset + end)
            header = payload[start:pos]
            layout = layouts.get(header)
            if layout is None:
                layout = _layout(header)
                if len(layouts) >= _LAYOUT_LIMIT:
                    layouts.clear()
                layouts[header] = layout

            (
                field,
                mode,
                fahrenheit,
                multiplier,
                divisor,
                difes,
                _,
                vifes,
                function,
                storage,
                tariff,
                subunit,
                quantity,
                unit,
                modifiers,
                table,
                description,
            ) = layout
            size = lengths[field]
            lvar = 0
            if size < 0:
                if pos >= end:
                    raise RecordError("record ends before its LVAR byte", base_offset + pos)
                lvar = payload[pos]
                pos += 1
                announced = dt.lvar_length(lvar)
                if announced is None:
                    raise RecordError(f"reserved LVAR 0x{lvar:02X}", base_offset + pos - 1)
                size = announced
            if pos + size > end:
                raise RecordError(f"record needs {size} data bytes, {end - pos} left", base_offset + pos)
            data = payload[pos : pos + size]
            pos += size

            value: RecordValue
            number: int | float | None
            if mode == 0:  # _INT
                number = int.from_bytes(data, "little", signed=True)
            elif mode == 1:  # _BCD
                bcd = dt.decode_bcd(data)
                number = bcd if isinstance(bcd, int) else None
                value = bcd
            elif mode == 2:  # _REAL
                number = dt.decode_real32(data)
            elif mode == 6:  # _DATETIME
                number = None
                value = _decode_datetime(data)
            elif mode == 4:  # _LVAR
                variable = dt.decode_lvar(lvar, data)
                number = variable if isinstance(variable, int) else None
                value = variable
            elif mode == 5:  # _BYTES
                number = None
                value = data
            elif mode == 7:  # _UINT
                number = int.from_bytes(data, "little")
            else:
                number = None
                value = None
            if number is not None:
                if divisor != 1:
                    value = number * multiplier / divisor
                elif multiplier != 1:
                    value = number * multiplier
                else:
                    value = number
                if fahrenheit:
                    value = (value - 32) * 5 / 9

            record = new(DataRecord)
            set_offset(record, base_offset + start)
            set_raw(record, payload[start:pos])
            set_dif(record, dif)
            set_difes(record, difes)
            set_vif(record, vif)
            set_vifes(record, vifes)
            set_function(record, function)
            set_storage(record, storage)
            set_tariff(record, tariff)
            set_subunit(record, subunit)
            set_quantity(record, quantity)
            set_unit(record, unit)
            set_value(record, value)
            set_modifiers(record, modifiers)
            set_table(record, table)
            set_text(record, description)
            append(record)
    except RecordError as error:
        offset = base_offset + start if error.offset is None else error.offset
        raise PartialRecordError(error.reason, offset, tuple(records), base_offset + start) from None
    return tuple(records)
