"""Thresholds of receiver health: when a source counts as silent or degraded, and how healing escalates."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


class HealthSettingsError(ValueError):
    """A ``[health]`` value that is unknown, of the wrong type or out of range; ``key`` names it."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.message = message
        super().__init__(f"health.{key}: {message}")


@dataclass(frozen=True, slots=True)
class HealthSettings:
    """Every knob of the health monitor; the defaults suit a district of OMS water meters."""

    tick_s: float = 30.0
    """How often the daemon should call ``HealthMonitor.tick`` (seconds of the daemon's clock)."""
    min_silence_s: float = 300.0
    """A source is never called silent before it has delivered nothing for this long."""
    silence_expected_frames: float = 10.0
    """...and before the meters it hears should have delivered this many frames in the gap."""
    silence_longest_gap_factor: float = 1.5
    """...and before the gap is this many times the longest gap among the source's last 256 frames."""
    retire_expected_frames: float = 5.0
    """A meter missing this many expected frames while its source still worked has left: not expected."""
    min_gaps_to_learn: int = 2
    """Inter-arrival gaps a meter must show before its cadence counts (3 frames)."""
    repeat_gap_s: float = 2.0
    """Gaps shorter than this are repeats of one transmission, not the cadence."""
    degraded_rate_ratio: float = 0.5
    """Degraded when the recent frame rate falls below this share of what the source's history predicts."""
    degraded_min_expected: float = 20.0
    """...judged only when the rate window should hold at least this many frames."""
    rate_window_s: float = 900.0
    """The window of the frames-per-minute figures and of the rate check."""
    rssi_drop_db: float = 10.0
    """Degraded when meters arrive this much weaker than each meter's own long-run RSSI."""
    rssi_min_frames: int = 50
    """...judged only after this many frames with RSSI on the source."""
    heal_verify_min_s: float = 60.0
    """After a heal step, wait at least this long for frames before escalating."""
    heal_verify_expected_frames: float = 3.0
    """...and long enough for this many expected frames,"""
    heal_verify_max_s: float = 86_400.0
    """...but never longer than this."""
    heal_rounds: int = 2
    """Full passes over the ladder before giving up."""
    heal_backoff_s: float = 600.0
    """Pause between rounds; doubles each round."""
    heal_timeout_s: float = 30.0
    """Real-time bound on one heal call (a hung dongle must not hang the monitor)."""
    max_meters_per_source: int = 20_000
    """Bound on the per-source cadence table; the least recently heard meter is forgotten first."""

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if (value <= 0 and spec.name != "heal_backoff_s") or value < 0:
                raise HealthSettingsError(spec.name, f"must be positive, got {value}")

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> HealthSettings:
        """Settings from the config file's ``[health]`` table (keys as the field names, numbers)."""
        known = {spec.name: spec.type for spec in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in table.items():
            if key not in known:
                raise HealthSettingsError(key, f"unknown setting (known: {', '.join(sorted(known))})")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise HealthSettingsError(key, f"must be a number, got {value!r}")
            whole = known[key] in ("int", int)
            if whole and value != int(value):
                raise HealthSettingsError(key, f"must be a whole number, got {value!r}")
            values[key] = int(value) if whole else float(value)
        return cls(**values)
