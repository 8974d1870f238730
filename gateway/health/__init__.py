"""Receiver health: silent and degraded radio sources found from their meters' cadence, and healed."""

from gateway.health.events import HealthEvent, HealthEventName
from gateway.health.ladder import HealAction, HealOutcome
from gateway.health.monitor import HealableSource, HealthMonitor, SourceState
from gateway.health.settings import HealthSettings, HealthSettingsError

__all__ = [
    "HealAction",
    "HealOutcome",
    "HealableSource",
    "HealthEvent",
    "HealthEventName",
    "HealthMonitor",
    "HealthSettings",
    "HealthSettingsError",
    "SourceState",
]
