"""VIF/VIFE tables of EN 13757-3:2018 (Tables 10, 12, 14, 15) as built at import."""

from __future__ import annotations

import re

import pytest

from gateway.wmbus import records
from gateway.wmbus.vif import (
    COMBINABLE,
    COMBINABLE_FC,
    EXTENSION_FB,
    EXTENSION_FD,
    PRIMARY,
    Kind,
    VifEntry,
)

TABLES = {"primary": PRIMARY, "0xFB": EXTENSION_FB, "0xFD": EXTENSION_FD}


def scale(entry: VifEntry) -> float:
    return entry.multiplier / entry.divisor


@pytest.mark.parametrize("table", TABLES.values(), ids=list(TABLES))
def test_tables_cover_every_code(table: tuple[VifEntry, ...]) -> None:
    assert len(table) == 128


@pytest.mark.parametrize(
    ("code", "quantity", "unit", "factor"),
    [
        (0x00, "energy", "kWh", 1e-6),  # 10^-3 Wh
        (0x03, "energy", "kWh", 1e-3),  # Wh
        (0x06, "energy", "kWh", 1),
        (0x0E, "energy", "kWh", 1e6 / 3.6e6),  # 10^6 J = 1 MJ
        (0x10, "volume", "m3", 1e-6),
        (0x13, "volume", "m3", 1e-3),  # litres
        (0x16, "volume", "m3", 1),
        (0x1B, "mass", "kg", 1),
        (0x22, "on_time", "s", 3600),
        (0x27, "operating_time", "s", 86400),
        (0x2B, "power", "kW", 1e-3),  # W
        (0x3B, "volume_flow", "m3/h", 1e-3),
        (0x43, "volume_flow", "m3/h", 60e-4),  # 10^-4 m3/min
        (0x4E, "volume_flow", "m3/h", 3600e-3),  # 10^-3 m3/s
        (0x59, "flow_temperature", "C", 1e-2),
        (0x5E, "return_temperature", "C", 1e-1),
        (0x62, "temperature_difference", "K", 1e-1),
        (0x67, "external_temperature", "C", 1),
        (0x6B, "pressure", "bar", 1),
        (0x71, "averaging_duration", "s", 60),
        (0x76, "actuality_duration", "s", 3600),
    ],
)
def test_primary_scales(code: int, quantity: str, unit: str, factor: float) -> None:
    entry = PRIMARY[code]
    assert (entry.quantity, entry.unit) == (quantity, unit)
    assert scale(entry) == pytest.approx(factor, rel=1e-12)


def test_primary_special_codes() -> None:
    assert PRIMARY[0x6C].kind is Kind.DATE
    assert PRIMARY[0x6D].kind is Kind.DATETIME
    assert PRIMARY[0x78].quantity == "fabrication_number"
    assert PRIMARY[0x79].quantity == "enhanced_identification"
    assert PRIMARY[0x7A].quantity == "bus_address"
    assert PRIMARY[0x6F].quantity == "unknown"


@pytest.mark.parametrize(
    ("code", "quantity", "unit", "factor"),
    [
        (0x08, "access_number", "", 1),
        (0x17, "error_flags", "", 1),
        (0x1A, "digital_output", "", 1),
        (0x1B, "digital_input", "", 1),
        (0x2E, "duration_since_last_readout", "s", 3600),
        (0x49, "voltage", "V", 1),
        (0x46, "voltage", "V", 1e-3),
        (0x59, "current", "A", 1e-3),
        (0x6D, "battery_operating_time", "s", 86400),
        (0x74, "remaining_battery_life", "d", 1),
    ],
)
def test_fd_extension(code: int, quantity: str, unit: str, factor: float) -> None:
    entry = EXTENSION_FD[code]
    assert (entry.quantity, entry.unit) == (quantity, unit)
    assert scale(entry) == pytest.approx(factor, rel=1e-12)


@pytest.mark.parametrize(
    ("code", "quantity", "unit", "factor"),
    [
        (0x00, "energy", "kWh", 100),  # 0.1 MWh
        (0x01, "energy", "kWh", 1000),
        (0x09, "energy", "kWh", 1e9 / 3.6e6),  # GJ
        (0x10, "volume", "m3", 100),
        (0x19, "mass", "kg", 1e6),  # 1000 t
        (0x29, "power", "kW", 1000),  # MW
        (0x74, "temperature_limit", "C", 1e-3),
    ],
)
def test_fb_extension(code: int, quantity: str, unit: str, factor: float) -> None:
    entry = EXTENSION_FB[code]
    assert (entry.quantity, entry.unit) == (quantity, unit)
    assert scale(entry) == pytest.approx(factor, rel=1e-12)


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (0x22, "per_hour"),
        (0x39, "start_date_of"),
        (0x3B, "forward_flow"),
        (0x3C, "backward_flow"),
        (0x3C, "accumulation_abs_negative"),
        (0x40, "lower_limit"),
        (0x48, "upper_limit"),
        (0x49, "upper_limit_exceed_count"),
        (0x4E, "date_of_last_begin_of_upper_limit_exceed"),
        (0x15, "record_error_no_data_available"),
        (0x18, "record_error"),
        (0x12, "average"),
        (0x1F, "compact_profile"),
        (0x7E, "future_value"),
    ],
)
def test_combinable_vife_names(code: int, name: str) -> None:
    assert name in COMBINABLE[code].modifiers


def test_combinable_fc_extension() -> None:
    assert "at_phase_1" in COMBINABLE_FC[0x01].modifiers
    assert "at_phase_3" in COMBINABLE_FC[0x03].modifiers
    assert "at_neutral" in COMBINABLE_FC[0x04].modifiers


def test_every_quantity_is_snake_case_and_documented() -> None:
    documented = set(re.findall(r"[a-z0-9_]+", records.__doc__ or ""))
    for table in TABLES.values():
        for entry in table:
            assert entry.quantity == entry.quantity.lower() and " " not in entry.quantity
            assert entry.quantity in documented, entry.quantity
    for vife in COMBINABLE + COMBINABLE_FC:
        for name in vife.modifiers:
            assert name == name.lower() and " " not in name
