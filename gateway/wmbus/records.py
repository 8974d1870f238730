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
Values that the meter marks invalid (hex digits in BCD, invalid dates) are ``InvalidValue``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from enum import IntEnum

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

__all__ = ["DataRecord", "Function", "InvalidValue", "RecordValue", "VifTable", "parse_records"]

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


# Data field (DIF bits 0-3) -> byte length; -1 variable length (LVAR), -2 special function.
_LENGTH = (0, 1, 2, 3, 4, 4, 6, 8, 0, 1, 2, 3, 4, -1, 6, -2)
_BCD_FIELDS = frozenset((0x9, 0xA, 0xB, 0xC, 0xE))
_FUNCTIONS = tuple(Function)
_NO_MODIFIERS: frozenset[str] = frozenset()
_MORE_FOLLOW = frozenset(("more_records_follow",))
_FC_EXTENSION = 0x7C
_MANUFACTURER_VIFES = 0x7F
_DATE_KINDS = (Kind.DATE, Kind.DATETIME)
_EXTENSION_VIFS = frozenset((0xFB, 0xFD, 0xEF))


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


def _decode_datetime(data: bytes, kind: Kind) -> RecordValue:
    size = len(data)
    if kind is Kind.DATE and size == 2:
        return dt.decode_date_g(data)
    if size == 4:
        return dt.decode_datetime_f(data)
    if size == 6:
        return dt.decode_datetime_i(data)
    if size == 3:
        return dt.decode_time_j(data)
    if size == 2:
        return dt.decode_date_g(data)
    return InvalidValue(bytes(data), f"no date/time type is {size} bytes long")


def parse_records(payload: bytes, base_offset: int = 0) -> tuple[DataRecord, ...]:
    """Parse every data record of ``payload``; raise RecordError (with the offset) on broken structure."""
    records: list[DataRecord] = []
    end = len(payload)
    pos = 0
    while pos < end:
        start = pos
        dif = payload[pos]
        field = dif & 0x0F
        if field == 0x0F:
            if dif == 0x2F:  # idle filler
                pos += 1
                continue
            if dif in (0x0F, 0x1F):
                records.append(_manufacturer_data(payload, start, base_offset, dif))
                break
            raise RecordError(f"reserved special function DIF 0x{dif:02X}", base_offset + start)
        pos += 1
        storage = (dif >> 6) & 1
        tariff = 0
        subunit = 0
        difes: tuple[int, ...] = ()
        if dif & 0x80:
            collected: list[int] = []
            more = True
            while more:
                if pos >= end:
                    raise RecordError("record ends inside its DIFEs", base_offset + pos)
                count = len(collected)
                if count == MAX_EXTENSIONS:
                    raise RecordError("more than 10 DIFEs", base_offset + pos)
                dife = payload[pos]
                pos += 1
                collected.append(dife)
                storage |= (dife & 0x0F) << (1 + 4 * count)
                tariff |= ((dife >> 4) & 0x03) << (2 * count)
                subunit |= ((dife >> 6) & 0x01) << count
                more = bool(dife & 0x80)
            difes = tuple(collected)

        # Value information block
        if pos >= end:
            raise RecordError("record ends before its VIF", base_offset + pos)
        vif = payload[pos]
        pos += 1
        code = vif & 0x7F
        more = bool(vif & 0x80)
        vifes: list[int] = []
        table = VifTable.PRIMARY
        entry: VifEntry
        if vif in _EXTENSION_VIFS:
            if pos >= end:
                raise RecordError("record ends inside its VIFEs", base_offset + pos)
            true_vif = payload[pos]
            pos += 1
            vifes.append(true_vif)
            more = bool(true_vif & 0x80)
            if vif == 0xFB:
                entry, table = EXTENSION_FB[true_vif & 0x7F], VifTable.FB
            elif vif == 0xFD:
                entry, table = EXTENSION_FD[true_vif & 0x7F], VifTable.FD
            else:
                entry, table = EXTENSION_EF[true_vif & 0x7F], VifTable.EF
        elif code == 0x7C:
            entry, table = PLAIN_TEXT, VifTable.PLAIN_TEXT
        elif code == 0x7F:
            entry, table = MANUFACTURER_SPECIFIC, VifTable.MANUFACTURER
        else:
            entry = PRIMARY[code]

        while more:
            if pos >= end:
                raise RecordError("record ends inside its VIFEs", base_offset + pos)
            if len(vifes) == MAX_EXTENSIONS:
                raise RecordError("more than 10 VIFEs", base_offset + pos)
            vife = payload[pos]
            pos += 1
            vifes.append(vife)
            more = bool(vife & 0x80)

        text = ""
        if table is VifTable.PLAIN_TEXT:
            # EN 13757-3 6.4.3: length byte and ASCII after the VIFEs, last character first
            if pos >= end:
                raise RecordError("record ends before its plain-text VIF", base_offset + pos)
            length = payload[pos]
            if pos + 1 + length > end:
                raise RecordError("record ends inside its plain-text VIF", base_offset + pos)
            text = dt.decode_text(payload[pos + 1 : pos + 1 + length])
            pos += 1 + length

        # Data field
        size = _LENGTH[field]
        lvar = -1
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

        # Combinable VIFEs: the first one of an extension table is the true VIF, already used
        modifiers = _NO_MODIFIERS
        multiplier: int | float = entry.multiplier
        divisor = entry.divisor
        kind = entry.kind
        unit = entry.unit
        first = 1 if table is VifTable.FB or table is VifTable.FD or table is VifTable.EF else 0
        if len(vifes) > first:
            names: set[str] = set()
            fc_next = False
            for vife in vifes[first:]:
                low = vife & 0x7F
                if fc_next:
                    names |= COMBINABLE_FC[low].modifiers
                    fc_next = False
                    continue
                if table is VifTable.MANUFACTURER:
                    names.add("manufacturer_specific_vife")
                    continue
                if low == _FC_EXTENSION:
                    fc_next = True
                    continue
                combinable = COMBINABLE[low]
                names |= combinable.modifiers
                if low == _MANUFACTURER_VIFES:
                    break  # the rest are the manufacturer's
                multiplier *= combinable.multiplier
                divisor *= combinable.divisor
                if combinable.kind is not None:
                    kind = combinable.kind
                    if combinable.kind is Kind.NUMBER:  # a duration: its own time unit
                        multiplier, divisor = combinable.multiplier, combinable.divisor
                if combinable.unit is not None:
                    unit = combinable.unit
            modifiers = frozenset(names)

        # Value
        value: RecordValue
        if kind is Kind.RAW:
            value = data
        elif kind in _DATE_KINDS and size in (2, 3, 4, 6) and field not in _BCD_FIELDS and lvar < 0:
            value = _decode_datetime(data, kind)
        else:
            raw_value: int | float | str | bytes | InvalidValue | None
            if lvar >= 0:
                raw_value = dt.decode_lvar(lvar, data)
            elif field in _BCD_FIELDS:
                raw_value = dt.decode_bcd(data)
            elif field == 0x5:
                raw_value = dt.decode_real32(data)
            elif size == 0:
                raw_value = None
            else:
                raw_value = int.from_bytes(data, "little", signed=True)
            if isinstance(raw_value, (int, float)) and not isinstance(raw_value, bool):
                if divisor != 1:
                    value = raw_value * multiplier / divisor
                elif multiplier != 1:
                    value = raw_value * multiplier
                else:
                    value = raw_value
                if kind is Kind.FAHRENHEIT:
                    value = (value - 32) * 5 / 9
            else:
                value = raw_value

        quantity = entry.quantity
        description = entry.description
        if table is VifTable.PLAIN_TEXT:
            unit = text
            description = f"plain-text VIF: {text}"
        if kind is Kind.DATETIME and isinstance(value, time) and quantity == "datetime":
            quantity = "time"

        records.append(
            DataRecord(
                offset=base_offset + start,
                raw=payload[start:pos],
                dif=dif,
                difes=difes,
                vif=vif,
                vifes=tuple(vifes),
                function=_FUNCTIONS[(dif >> 4) & 0x03],
                storage=storage,
                tariff=tariff,
                subunit=subunit,
                quantity=quantity,
                unit=unit,
                value=value,
                modifiers=modifiers,
                vif_table=table,
                description=description,
            )
        )
    return tuple(records)
