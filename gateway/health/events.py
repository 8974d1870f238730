"""Health events of a source (silent, recovered, heal failed) in the event payload shape of the uplink."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from gateway.publication import Publication


class HealthEventName(StrEnum):
    """Event names of the MQTT event topic that health produces."""

    SOURCE_SILENT = "source_silent"
    SOURCE_RECOVERED = "source_recovered"
    SOURCE_HEAL_FAILED = "source_heal_failed"


_STATE = {
    HealthEventName.SOURCE_SILENT: "raised",
    HealthEventName.SOURCE_RECOVERED: "cleared",
    HealthEventName.SOURCE_HEAL_FAILED: "raised",
}


@dataclass(frozen=True, slots=True)
class HealthEvent:
    """One event about a source; ``episode`` (when the silence was detected) ties its events together."""

    name: HealthEventName
    source: str
    at: datetime
    episode: datetime
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> str:
        return _STATE[self.name]

    @property
    def event_id(self) -> str:
        """Stable across republishing: source, event and the silence it belongs to."""
        return f"{self.source}:{self.name.value}:{self.episode.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"

    def to_json(self) -> dict[str, Any]:
        """The event payload without "schema" and "gateway"; ``meter_id`` carries the source name."""
        return {
            "meter_id": self.source,
            "event": self.name.value,
            "state": self.state,
            "at": self.at.isoformat(),
            "event_id": self.event_id,
            "details": {"source": self.source, **self.details},
        }

    def to_publication(self) -> Publication:
        """For the daemon's outbox: an event on the topic of the source's name."""
        return Publication(kind="event", meter_id=self.source, payload=self.to_json())
