"""Heat meters in the dev vectors: the energy register lands in Reading.extra under the reference's name."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.decoders import decode_reading
from gateway.decoders.default_keys import default_key
from gateway.wmbus.telegram import parse_telegram
from tests.vectors import all_vectors

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
# The reference names the same register differently per driver.
ENERGY_NAMES = ("total_energy_consumption_kwh", "total_kwh", "total_heating_kwh", "total_energy_kwh")


def _energy_vectors() -> list[tuple[int, float]]:
    out = []
    for vector in all_vectors():
        if vector.meter_type not in ("HeatMeter", "HeatCoolingMeter") or vector.driver == "qheatv2":
            continue  # qheatv2 reads the same walk-by register as MJ where qheat reads kWh: we follow qheat
        names = [name for name in ENERGY_NAMES if isinstance(vector.expected.get(name), int | float)]
        if names:
            out.append((vector.line, float(vector.expected[names[0]])))
    return out


def test_heat_energy_rate() -> None:
    by_line = {vector.line: vector for vector in all_vectors()}
    misses = []
    cases = _energy_vectors()
    for line, expected in cases:
        vector = by_line[line]
        key = vector.key or default_key(vector.telegram)
        reading = decode_reading(parse_telegram(vector.telegram, key), AT, key=key)
        got = reading.extra.get("total_energy_consumption_kwh")
        if not isinstance(got, int | float) or got != pytest.approx(expected, rel=1e-6, abs=1e-6):
            misses.append(f"{vector.name}: expected {expected}, got {got} ({reading.unsupported})")
    rate = 1 - len(misses) / len(cases)
    print(f"\nheat energy: {len(cases) - len(misses)}/{len(cases)} = {rate:.1%}")
    for miss in misses:
        print(f"  miss {miss}")
    assert rate >= 0.9


@pytest.mark.parametrize("line", [184, 186, 187])
def test_qundis_heat_cost_allocator(line: int) -> None:
    vector = next(vector for vector in all_vectors() if vector.line == line)
    reading = decode_reading(parse_telegram(vector.telegram, vector.key), AT)
    assert reading.decoder == "qundis"
    for name in ("current_consumption_hca", "consumption_at_set_date_17_hca"):
        assert reading.extra[name] == vector.expected[name]


@pytest.mark.parametrize("line", [61, 62, 63])
def test_techem_fhkv_heat_cost_allocator(line: int) -> None:
    vector = next(vector for vector in all_vectors() if vector.line == line)
    reading = decode_reading(parse_telegram(vector.telegram, vector.key), AT)
    assert reading.decoder == "fhkvdataiii"
    for name in ("current_hca", "previous_hca", "previous_date", "temp_room_c", "temp_radiator_c"):
        assert reading.extra[name] == vector.expected[name]
