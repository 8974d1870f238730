"""The embedded simulator: a fleet of meters sending real encrypted telegrams, with ground truth.

``SimulatedFleet(seed, meter_count, clock, speed)`` builds the meters; ``SimulatorSource(fleet)`` is the
radio source; ``load_example_keys()`` reads the bundled keys of the default fleet (example keys for
simulated meters only).
"""

from __future__ import annotations

from gateway.radio.simulator.clock import AcceleratedClock
from gateway.radio.simulator.fleet import (
    DEFAULT_METER_COUNT,
    DEFAULT_SEED,
    FORMATS,
    FORMATS_169,
    FORMATS_868,
    InjectedAlarm,
    InjectedDuplicate,
    MeterFormat,
    SimulatedFleet,
    SimulatedMeter,
    Transmission,
)
from gateway.radio.simulator.keys import EXAMPLE_KEYS_PATH, example_keys_toml, load_example_keys
from gateway.radio.simulator.source import SimulatorSource

__all__ = [
    "DEFAULT_METER_COUNT",
    "DEFAULT_SEED",
    "EXAMPLE_KEYS_PATH",
    "FORMATS",
    "FORMATS_169",
    "FORMATS_868",
    "AcceleratedClock",
    "InjectedAlarm",
    "InjectedDuplicate",
    "MeterFormat",
    "SimulatedFleet",
    "SimulatedMeter",
    "SimulatorSource",
    "Transmission",
    "example_keys_toml",
    "load_example_keys",
]
