"""Build the configured radio sources (gateway.radio) from their [[radio]] tables.

Each kind's module is imported when a source of that kind is built: a daemon loads only its own radios.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from gateway.clock import Clock
from gateway.daemon.config import SERIAL_KINDS, SourceConfig, SourceKind
from gateway.frame import LinkMode
from gateway.radio.base import RadioSource
from gateway.radio.nmode import N_MODES

if TYPE_CHECKING:
    from gateway.radio.serial_source import SerialSource


class SourceBuildError(Exception):
    """A [[radio]] table names something this build cannot run."""


def link_modes(text: str) -> tuple[LinkMode, ...]:
    """ "C1T1" -> (C1, T1); "T1" -> (T1,); "N1c" -> (N1c,) (an N sub-mode is one channel)."""
    if text.startswith("N"):
        return (LinkMode(text),)
    return tuple(LinkMode(text[index : index + 2]) for index in range(0, len(text), 2))


def build_source(config: SourceConfig, clock: Clock, tz: ZoneInfo | None = None) -> RadioSource:
    """One radio source on the daemon's clock; the simulated meters keep month ends in ``tz``."""
    if config.kind is SourceKind.SIMULATOR:
        from gateway.radio.simulator import SimulatedFleet, SimulatorSource  # noqa: PLC0415

        modes = link_modes(config.link_mode)
        n_mode = modes[0] if modes[0] in N_MODES else None  # an N mode: a fleet of 169 MHz meters
        fleet = SimulatedFleet(config.seed, config.meter_count, clock, tz=tz, n_mode=n_mode)
        return SimulatorSource(fleet, config.name)
    if config.kind in SERIAL_KINDS:
        assert config.device is not None  # the configuration requires it
        from gateway.radio.amb3665 import Amb3665Source  # noqa: PLC0415
        from gateway.radio.amber import AmberSource  # noqa: PLC0415
        from gateway.radio.cul import CulSource  # noqa: PLC0415
        from gateway.radio.im170a import Im170aSource  # noqa: PLC0415
        from gateway.radio.imst import Im871aSource  # noqa: PLC0415
        from gateway.radio.iu891a import Iu891aSource  # noqa: PLC0415

        serial_types: dict[SourceKind, type[SerialSource]] = {
            SourceKind.IM871A: Im871aSource,
            SourceKind.IU891A: Iu891aSource,
            SourceKind.AMB8465: AmberSource,
            SourceKind.AMB3665: Amb3665Source,
            SourceKind.IM170A: Im170aSource,
            SourceKind.CUL: CulSource,
        }
        serial_type = serial_types[config.kind]
        return serial_type(config.name, config.device, link_modes=link_modes(config.link_mode), clock=clock)
    if config.kind is SourceKind.RTL_WMBUS:
        from gateway.radio.rtlwmbus import RtlWmbusSource  # noqa: PLC0415

        return RtlWmbusSource(config.name, config.command, clock=clock)
    if config.kind is SourceKind.RTL_433:
        from gateway.radio.rtl433 import DEFAULT_COMMAND, Rtl433Source  # noqa: PLC0415

        command = None if config.command == "-" else config.command or DEFAULT_COMMAND
        return Rtl433Source(config.name, command, clock=clock)
    if config.kind is SourceKind.REPLAY:
        assert config.path is not None  # the configuration requires it
        from gateway.radio.replay import ReplaySource  # noqa: PLC0415

        return ReplaySource(config.name, config.path, clock=clock, speed=None)
    raise SourceBuildError(f"radio {config.name!r}: type {config.kind} is not available in this build")
