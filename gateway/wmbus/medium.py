"""Device type (the A field's last byte) to medium name, after EN 13757-3 table 3 and OMS Vol. 2."""

from __future__ import annotations

from types import MappingProxyType

MEDIA: MappingProxyType[int, str] = MappingProxyType(
    {
        0x00: "other",
        0x01: "oil",
        0x02: "electricity",
        0x03: "gas",
        0x04: "heat",
        0x05: "steam",
        0x06: "warm_water",
        0x07: "water",
        0x08: "heat_cost_allocator",
        0x09: "compressed_air",
        0x0A: "cooling_outlet",
        0x0B: "cooling_inlet",
        0x0C: "heat_inlet",
        0x0D: "heat_cooling",
        0x0E: "bus_system",
        0x0F: "unknown",
        0x10: "irrigation_water",
        0x11: "water_data_logger",
        0x12: "gas_data_logger",
        0x13: "gas_converter",
        0x14: "calorific_value",
        0x15: "hot_water",
        0x16: "cold_water",
        0x17: "dual_water",
        0x18: "pressure",
        0x19: "ad_converter",
        0x1A: "smoke_detector",
        0x1B: "room_sensor",
        0x1C: "gas_detector",
        0x1D: "sensor",
        0x20: "breaker",
        0x21: "valve",
        0x25: "customer_unit",
        0x28: "waste_water",
        0x29: "garbage",
        0x2A: "carbon_dioxide",
        0x2B: "environmental",
        0x31: "communication_controller",
        0x32: "unidirectional_repeater",
        0x33: "bidirectional_repeater",
        0x36: "radio_converter_system",
        0x37: "radio_converter_meter",
        0x38: "wired_adapter",
    }
)

WATER_MEDIA = frozenset({"water", "warm_water", "hot_water", "cold_water", "dual_water", "irrigation_water"})


def medium_name(device_type: int) -> str:
    """The medium's snake_case name, or ``unknown`` for reserved and manufacturer codes."""
    return MEDIA.get(device_type, "unknown")
