"""VIF and VIFE code tables of EN 13757-3 (clause 6.4): primary, 0xFB and 0xFD extensions, combinable VIFEs.

Every table is a tuple indexed by the code without its extension bit, built once at import, so that a
lookup on the hot path is one index. Scales are kept as an exact (multiplier, divisor) pair converting
the raw value to the base unit (m3, kWh, kW, s, C, bar, ...): dividing by a power of ten gives the
correctly rounded float (0.001 rather than 0.0010000000000000002).
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import NamedTuple

# Time units of the nn / pp fields, as seconds: (s, min, h, days).
_SECONDS = (1, 60, 3600, 86400)
_US_GALLON_M3 = 0.003785411784
_CUBIC_FOOT_M3 = 0.028316846592


class VifTable(StrEnum):
    """Where a record's VIF was found."""

    PRIMARY = "primary"
    FB = "0xFB"
    FD = "0xFD"
    EF = "0xEF"
    PLAIN_TEXT = "plain_text"
    MANUFACTURER = "manufacturer"


class Kind(IntEnum):
    """How a VIF wants its data read beyond the DIF's data field type."""

    NUMBER = 0
    DATE = 1  # type G
    DATETIME = 2  # type F (4 bytes), I (6 bytes) or J (3 bytes: time only), by length
    RAW = 3  # value bytes kept as they are
    FAHRENHEIT = 4  # number converted from degrees Fahrenheit to Celsius
    UNSIGNED = 5  # identifiers, counters and bit fields (types C and D): binary data read unsigned


class VifEntry(NamedTuple):
    """Meaning of one VIF code: quantity, base unit, exact scale, how to read the data."""

    quantity: str
    unit: str
    multiplier: int | float
    divisor: int
    kind: Kind
    description: str


class VifeEntry(NamedTuple):
    """Meaning of one combinable VIFE code: modifier names and what it does to the value."""

    modifiers: frozenset[str]
    multiplier: int | float
    divisor: int
    kind: Kind | None  # overrides the VIF's kind (e.g. "date of ..." turns a volume record into a date)
    unit: str | None  # overrides the VIF's unit (e.g. a duration in seconds)


def _scale(exponent: int) -> tuple[int, int]:
    return (10**exponent, 1) if exponent >= 0 else (1, 10**-exponent)


def _entry(quantity: str, unit: str, exponent: int = 0, kind: Kind = Kind.NUMBER, what: str = "") -> VifEntry:
    multiplier, divisor = _scale(exponent)
    return VifEntry(quantity, unit, multiplier, divisor, kind, what or f"{quantity} [{unit}]")


UNKNOWN = VifEntry("unknown", "", 1, 1, Kind.NUMBER, "reserved or unknown VIF: raw value")


def _primary() -> tuple[VifEntry, ...]:
    """Table 10 of EN 13757-3:2018 (primary VIF codes), converted to the base units."""
    table = [UNKNOWN] * 128
    for n in range(8):
        table[0x00 + n] = _entry("energy", "kWh", n - 6)  # 10^(n-3) Wh
        table[0x08 + n] = VifEntry("energy", "kWh", 10**n, 3_600_000, Kind.NUMBER, "energy [kWh] from J")
        table[0x10 + n] = _entry("volume", "m3", n - 6)
        table[0x18 + n] = _entry("mass", "kg", n - 3)
        table[0x28 + n] = _entry("power", "kW", n - 6)  # 10^(n-3) W
        table[0x30 + n] = VifEntry("power", "kW", 10**n, 3_600_000, Kind.NUMBER, "power [kW] from J/h")
        table[0x38 + n] = _entry("volume_flow", "m3/h", n - 6)
        mul, div = _scale(n - 7)  # m3/min
        table[0x40 + n] = VifEntry(
            "volume_flow", "m3/h", mul * 60, div, Kind.NUMBER, "volume flow from m3/min"
        )
        mul, div = _scale(n - 9)  # m3/s
        table[0x48 + n] = VifEntry(
            "volume_flow", "m3/h", mul * 3600, div, Kind.NUMBER, "volume flow from m3/s"
        )
        table[0x50 + n] = _entry("mass_flow", "kg/h", n - 3)
    for n in range(4):
        table[0x20 + n] = VifEntry("on_time", "s", _SECONDS[n], 1, Kind.NUMBER, "on time [s]")
        table[0x24 + n] = VifEntry("operating_time", "s", _SECONDS[n], 1, Kind.NUMBER, "operating time [s]")
        table[0x58 + n] = _entry("flow_temperature", "C", n - 3)
        table[0x5C + n] = _entry("return_temperature", "C", n - 3)
        table[0x60 + n] = _entry("temperature_difference", "K", n - 3)
        table[0x64 + n] = _entry("external_temperature", "C", n - 3)
        table[0x68 + n] = _entry("pressure", "bar", n - 3)
        table[0x70 + n] = VifEntry(
            "averaging_duration", "s", _SECONDS[n], 1, Kind.NUMBER, "averaging duration"
        )
        table[0x74 + n] = VifEntry(
            "actuality_duration", "s", _SECONDS[n], 1, Kind.NUMBER, "actuality duration"
        )
    table[0x6C] = _entry("date", "", kind=Kind.DATE, what="date (type G)")
    table[0x6D] = _entry("datetime", "", kind=Kind.DATETIME, what="date and time (type F, I or J)")
    table[0x6E] = _entry("hca_units", "", what="units for heat cost allocator")
    table[0x78] = _entry("fabrication_number", "", kind=Kind.UNSIGNED, what="fabrication number")
    table[0x79] = _entry("enhanced_identification", "", kind=Kind.UNSIGNED, what="enhanced identification")
    table[0x7A] = _entry("bus_address", "", kind=Kind.UNSIGNED, what="bus address")
    table[0x7E] = _entry("any", "", what="any VIF (readout selection)")
    return tuple(table)


def _fd() -> tuple[VifEntry, ...]:
    """Table 14 of EN 13757-3:2018 (extension table after VIF 0xFD)."""
    table = [UNKNOWN] * 128
    for n in range(4):
        table[0x00 + n] = _entry("credit", "currency", n - 3)
        table[0x04 + n] = _entry("debit", "currency", n - 3)
        table[0x24 + n] = VifEntry("storage_interval", "s", _SECONDS[n], 1, Kind.NUMBER, "storage interval")
        table[0x2C + n] = VifEntry(
            "duration_since_last_readout", "s", _SECONDS[n], 1, Kind.NUMBER, "duration since last readout"
        )
        table[0x34 + n] = VifEntry("period_of_tariff", "s", _SECONDS[n], 1, Kind.NUMBER, "period of tariff")
    names = {
        0x08: "access_number",
        0x09: "medium",
        0x0A: "manufacturer",
        0x0B: "parameter_set_id",
        0x0C: "model_version",
        0x0D: "hardware_version",
        0x0E: "firmware_version",
        0x0F: "software_version",
        0x10: "customer_location",
        0x11: "customer",
        0x12: "access_code_user",
        0x13: "access_code_operator",
        0x14: "access_code_system_operator",
        0x15: "access_code_developer",
        0x16: "password",
        0x17: "error_flags",
        0x18: "error_mask",
        0x1A: "digital_output",
        0x1B: "digital_input",
        0x1C: "baud_rate",
        0x1D: "response_delay_time",
        0x1E: "retry",
        0x1F: "remote_control",
        0x20: "first_storage_number",
        0x21: "last_storage_number",
        0x22: "storage_block_size",
        0x2A: "operator_specific_data",
        0x2B: "time_point_second",
        0x3A: "dimensionless",
        0x60: "reset_counter",
        0x61: "cumulation_counter",
        0x62: "control_signal",
        0x63: "day_of_week",
        0x64: "week_number",
        0x65: "time_point_of_day_change",
        0x66: "parameter_activation_state",
        0x67: "special_supplier_information",
        0x72: "daylight_saving",
        0x73: "listening_window_management",
        0x75: "meter_stopped_count",
    }
    for code, name in names.items():
        table[code] = _entry(name, "", kind=Kind.UNSIGNED, what=name.replace("_", " "))
    table[0x1C] = _entry("baud_rate", "Bd", kind=Kind.UNSIGNED, what="baud rate")
    table[0x3A] = _entry("dimensionless", "", what="dimensionless")  # a signed number, unlike its neighbours
    table[0x1D] = _entry("response_delay_time", "bit_times", what="response delay time")
    table[0x28] = _entry("storage_interval", "months", what="storage interval [months]")
    table[0x29] = _entry("storage_interval", "years", what="storage interval [years]")
    table[0x30] = _entry("start_of_tariff", "", kind=Kind.DATETIME, what="start (date/time) of tariff")
    for n in (1, 2, 3):
        table[0x30 + n] = VifEntry(
            "duration_of_tariff", "s", _SECONDS[n], 1, Kind.NUMBER, "duration of tariff"
        )
    table[0x38] = _entry("period_of_tariff", "months", what="period of tariff [months]")
    table[0x39] = _entry("period_of_tariff", "years", what="period of tariff [years]")
    table[0x3B] = _entry("data_container", "", kind=Kind.RAW, what="data container for wireless M-Bus")
    for n in range(16):
        table[0x40 + n] = _entry("voltage", "V", n - 9)
        table[0x50 + n] = _entry("current", "A", n - 12)
    # pp: hours, days, months, years; months and years have no fixed length in seconds
    for n, (mul, unit) in enumerate(((3600, "s"), (86400, "s"), (1, "months"), (1, "years"))):
        table[0x68 + n] = VifEntry(
            "duration_since_last_cumulation", unit, mul, 1, Kind.NUMBER, "duration since last cumulation"
        )
        table[0x6C + n] = VifEntry(
            "battery_operating_time", unit, mul, 1, Kind.NUMBER, "battery operating time"
        )
    table[0x70] = _entry(
        "battery_change_datetime", "", kind=Kind.DATETIME, what="date and time of battery change"
    )
    table[0x71] = _entry("rf_level", "dBm", what="RF level units")
    table[0x74] = _entry("remaining_battery_life", "d", what="remaining battery life [days]")
    table[0x76] = _entry(
        "manufacturer_data_container", "", kind=Kind.RAW, what="manufacturer protocol container"
    )
    return tuple(table)


def _fb() -> tuple[VifEntry, ...]:
    """Table 12 of EN 13757-3:2018 (extension table after VIF 0xFB), converted to the base units."""
    table = [UNKNOWN] * 128
    for n in range(2):
        table[0x00 + n] = _entry("energy", "kWh", n + 2)  # 10^(n-1) MWh
        table[0x02 + n] = _entry("reactive_energy", "kvarh", n + 2)  # 10^(n-1) Mvarh
        table[0x08 + n] = VifEntry("energy", "kWh", 10 ** (n + 8), 3_600_000, Kind.NUMBER, "energy from GJ")
        table[0x10 + n] = _entry("volume", "m3", n + 2)
        table[0x18 + n] = _entry("mass", "kg", n + 5)  # 10^(n+2) t
        table[0x1A + n] = _entry("relative_humidity", "%", n - 1)
        table[0x28 + n] = _entry("power", "kW", n + 2)  # 10^(n-1) MW
        table[0x30 + n] = VifEntry("power", "kW", 10 ** (n + 8), 3_600_000, Kind.NUMBER, "power from GJ/h")
    for n in range(4):
        # 10^(n-1) Mcal, 1 Mcal = 1.163 kWh
        table[0x0C + n] = VifEntry("energy", "kWh", 1163 * 10**n, 10_000, Kind.NUMBER, "energy from Mcal")
        table[0x14 + n] = _entry("reactive_power", "kvar", n - 3)
        table[0x2C + n] = _entry("frequency", "Hz", n - 3)
        table[0x34 + n] = _entry("apparent_power", "kVA", n - 3)
        mul, div = _scale(n - 3)
        table[0x58 + n] = VifEntry(
            "flow_temperature", "C", mul, div, Kind.FAHRENHEIT, "flow temperature from F"
        )
        table[0x5C + n] = VifEntry(
            "return_temperature", "C", mul, div, Kind.FAHRENHEIT, "return temperature from F"
        )
        table[0x60 + n] = VifEntry("temperature_difference", "K", 5 * mul, 9 * div, Kind.NUMBER, "from F")
        table[0x64 + n] = VifEntry("external_temperature", "C", mul, div, Kind.FAHRENHEIT, "external from F")
        table[0x70 + n] = VifEntry(
            "temperature_limit", "C", mul, div, Kind.FAHRENHEIT, "temperature limit from F"
        )
        table[0x74 + n] = _entry("temperature_limit", "C", n - 3)
    table[0x20] = VifEntry("volume", "m3", _CUBIC_FOOT_M3, 1, Kind.NUMBER, "volume from cubic feet")
    table[0x21] = VifEntry("volume", "m3", _CUBIC_FOOT_M3, 10, Kind.NUMBER, "volume from 0.1 cubic feet")
    table[0x22] = VifEntry("volume", "m3", _US_GALLON_M3, 10, Kind.NUMBER, "volume from 0.1 US gallons")
    table[0x23] = VifEntry("volume", "m3", _US_GALLON_M3, 1, Kind.NUMBER, "volume from US gallons")
    table[0x24] = VifEntry(
        "volume_flow", "m3/h", _US_GALLON_M3 * 60, 1000, Kind.NUMBER, "from 0.001 US gal/min"
    )
    table[0x25] = VifEntry("volume_flow", "m3/h", _US_GALLON_M3 * 60, 1, Kind.NUMBER, "from US gal/min")
    table[0x26] = VifEntry("volume_flow", "m3/h", _US_GALLON_M3, 1, Kind.NUMBER, "from US gal/h")
    table[0x2A] = _entry("phase_u_u", "deg", -1, what="phase voltage to voltage")
    table[0x2B] = _entry("phase_u_i", "deg", -1, what="phase voltage to current")
    for n in range(8):
        table[0x78 + n] = _entry("cumulative_max_power", "kW", n - 6)
    return tuple(table)


PRIMARY = _primary()
EXTENSION_FB = _fb()
EXTENSION_FD = _fd()
# VIF 0xEF announces a further extension table that EN 13757-3:2018 reserves: codes stay unknown.
EXTENSION_EF = tuple([UNKNOWN] * 128)

PLAIN_TEXT = VifEntry("plain_text", "", 1, 1, Kind.NUMBER, "plain-text VIF")
MANUFACTURER_SPECIFIC = VifEntry("manufacturer_specific", "", 1, 1, Kind.RAW, "manufacturer-specific VIF")

_RECORD_ERRORS = {
    0x00: "none",
    0x01: "too_many_difes",
    0x02: "storage_number_not_implemented",
    0x03: "unit_number_not_implemented",
    0x04: "tariff_number_not_implemented",
    0x05: "function_not_implemented",
    0x06: "data_class_not_implemented",
    0x07: "data_size_not_implemented",
    0x0B: "too_many_vifes",
    0x0C: "illegal_vif_group",
    0x0D: "illegal_vif_exponent",
    0x0E: "vif_dif_mismatch",
    0x0F: "unimplemented_action",
    0x15: "no_data_available",
    0x16: "data_overflow",
    0x17: "data_underflow",
    0x18: "data_error",
    0x1C: "premature_end_of_record",
}

_PER = (
    "per_second",
    "per_minute",
    "per_hour",
    "per_day",
    "per_week",
    "per_month",
    "per_year",
    "per_revolution",
    "per_input_pulse_channel_0",
    "per_input_pulse_channel_1",
    "per_output_pulse_channel_0",
    "per_output_pulse_channel_1",
    "per_litre",
    "per_m3",
    "per_kg",
    "per_kelvin",
    "per_kwh",
    "per_gj",
    "per_kw",
    "per_kelvin_litre",
    "per_volt",
    "per_ampere",
    "multiplied_by_s",
    "multiplied_by_s_per_v",
    "multiplied_by_s_per_a",
)


def _vife(*names: str, exponent: int = 0, kind: Kind | None = None, unit: str | None = None) -> VifeEntry:
    multiplier, divisor = _scale(exponent)
    return VifeEntry(frozenset(names), multiplier, divisor, kind, unit)


def _duration(names: tuple[str, ...], nn: int) -> VifeEntry:
    return VifeEntry(frozenset(names), _SECONDS[nn], 1, Kind.NUMBER, "s")


def _combinable() -> tuple[VifeEntry, ...]:
    """Table 15 of EN 13757-3:2018 (combinable, "orthogonal" VIFE codes) and Table 16 (record errors)."""
    table = [_vife("reserved_vife")] * 128
    # E00x xxxx: record error codes (slave to master; Table 16 of the 2013 edition). The 2018 edition
    # gives 0x12-0x14 and 0x1D-0x1F meanings of their own and keeps 0x15-0x1C as error codes.
    for code in range(0x20):
        name = _RECORD_ERRORS.get(code, "reserved")
        table[code] = _vife("record_error", f"record_error_{name}")
    table[0x12] = _vife("average")
    table[0x13] = _vife("inverse_compact_profile")
    table[0x14] = _vife("relative_deviation")
    table[0x1D] = _vife("standard_conformant_data_content")
    table[0x1E] = _vife("compact_profile_with_register")
    table[0x1F] = _vife("compact_profile")
    for offset, name in enumerate(_PER):
        table[0x20 + offset] = _vife(name)
    table[0x39] = _vife("start_date_of", kind=Kind.DATETIME, unit="")
    table[0x3A] = _vife("uncorrected")
    table[0x3B] = _vife("accumulation_positive_only", "forward_flow")
    table[0x3C] = _vife("accumulation_abs_negative", "backward_flow")
    table[0x3D] = _vife("non_metric_units")
    table[0x3E] = _vife("value_at_base_conditions")
    table[0x3F] = _vife("obis_declaration")
    for upper, limit in ((0, "lower"), (1, "upper")):
        base = 0x40 | upper << 3
        table[base] = _vife(f"{limit}_limit")
        table[base | 1] = _vife(f"{limit}_limit_exceed_count")
        for first, which in ((0, "first"), (1, "last")):
            for end, edge in ((0, "begin"), (1, "end")):
                table[base | first << 2 | 2 | end] = _vife(
                    "date_of", f"date_of_{which}_{edge}_of_{limit}_limit_exceed", kind=Kind.DATETIME, unit=""
                )
            for nn in range(4):
                table[0x50 | upper << 3 | first << 2 | nn] = _duration(
                    ("duration_of", f"duration_of_{which}_{limit}_limit_exceed"), nn
                )
    for first, which in ((0, "first"), (1, "last")):
        for nn in range(4):
            table[0x60 | first << 2 | nn] = _duration(("duration_of", f"duration_of_{which}"), nn)
        for end, edge in ((0, "begin"), (1, "end")):
            table[0x6A | first << 2 | end] = _vife(
                "date_of", f"date_of_{which}_{edge}", kind=Kind.DATETIME, unit=""
            )
    table[0x68] = _vife("value_during_lower_limit_exceed")
    table[0x69] = _vife("leakage_values")
    table[0x6C] = _vife("value_during_upper_limit_exceed")
    table[0x6D] = _vife("overflow_values")
    for n in range(8):
        table[0x70 + n] = _vife("correction_factor", exponent=n - 6)
    for n in range(4):
        table[0x78 + n] = _vife("additive_correction_constant", exponent=n - 3)
    table[0x7C] = _vife("combinable_extension")  # next VIFE comes from COMBINABLE_FC
    table[0x7D] = _vife("correction_factor", exponent=3)
    table[0x7E] = _vife("future_value")
    table[0x7F] = _vife("manufacturer_specific_vifes")  # further VIFEs are the manufacturer's
    return tuple(table)


def _combinable_fc() -> tuple[VifeEntry, ...]:
    """Combinable VIFE extension after 0xFC (EN 13757-3:2018 Table 17; OMS Vol. 2 for electricity)."""
    table = [_vife("reserved_vife")] * 128
    names = {
        0x01: "at_phase_1",
        0x02: "at_phase_2",
        0x03: "at_phase_3",
        0x04: "at_neutral",
        0x05: "between_phase_1_and_2",
        0x06: "between_phase_2_and_3",
        0x07: "between_phase_3_and_1",
        0x08: "at_quadrant_1",
        0x09: "at_quadrant_2",
        0x0A: "at_quadrant_3",
        0x0B: "at_quadrant_4",
        0x0C: "delta_import_export",
        0x10: "accumulation_abs_both",
        0x11: "data_type_c",
        0x12: "data_type_d",
        0x13: "direction_to_meter",
        0x14: "direction_from_meter",
    }
    for code, name in names.items():
        table[code] = _vife(name)
    return tuple(table)


COMBINABLE = _combinable()
COMBINABLE_FC = _combinable_fc()
