"""Billing thresholds: the ``[billing]`` table of the configuration, with documented defaults."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

HOUR_S = 3600.0
DAY_S = 86400.0


@dataclass(frozen=True, slots=True)
class BillingSettings:
    """Every threshold of the monthly index and the event rules (see docs/billing.md)."""

    cutoff_day: int = 1  # billing cut-off: 00:00 local time on this day of the month (1-28)
    interpolation_span_h: float = 72.0  # max gap between the readings bracketing a cut-off
    publish_grace_h: float = 6.0  # wait this long after a cut-off for the meter's own register
    open_months: int = 2  # closed months that still accept late data (revisions)
    estimate_max_age_days: float = 92.0  # no estimated index from a reading older than this at the cut-off
    register_tolerance_m3: float = 0.005  # slack when checking a register against the readings around it
    quiet_hour_h: float = 1.0  # no consumption over this long breaks a continuous-flow run
    continuous_flow_h: float = 24.0  # consumption without a quiet hour for this long raises
    continuous_flow_max_gap_h: float = 1.0  # readings further apart cannot prove continuity
    reverse_flow_min_m3: float = 0.001  # backward register growth that counts as reverse flow
    reverse_flow_clear_h: float = 24.0  # reverse flow clears after this long without more
    index_backwards_tolerance_m3: float = 0.001  # smaller drops are register noise
    no_consumption_days: float = 14.0  # total unchanged this long raises no_consumption
    high_consumption_factor: float = 3.0  # a day above factor x the meter's daily average raises
    high_consumption_min_m3: float = 0.5  # ... and above this many m3 in the day
    high_consumption_history_days: int = 7  # days of history needed before judging
    history_window_days: float = 14.0  # time constant of the daily average
    reading_notifications: bool = True  # one "your meter read X m3 on D" notice per meter and month

    def __post_init__(self) -> None:
        if not 1 <= self.cutoff_day <= 28:
            raise ValueError(f"cutoff_day must be within 1..28, got {self.cutoff_day}")
        if self.publish_grace_h >= 24 * 27:
            raise ValueError("publish_grace_h must be shorter than a month")
        if self.open_months < 1:
            raise ValueError("open_months must be at least 1")
        if self.quiet_hour_h <= 0 or self.continuous_flow_h <= 0 or self.history_window_days <= 0:
            raise ValueError("durations must be positive")

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> BillingSettings:
        """Build from a validated ``[billing]`` table (unknown keys raise ValueError)."""
        known = {item.name: item for item in fields(cls)}
        unknown = sorted(set(data) - known.keys())
        if unknown:
            raise ValueError(f"unknown billing settings: {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for key, value in data.items():
            default = known[key].default
            if isinstance(default, int) and not isinstance(default, bool) and isinstance(value, float):
                if not value.is_integer():
                    raise ValueError(f"{key} must be a whole number, got {value}")
                values[key] = int(value)
            else:
                values[key] = value
        return cls(**values)
