"""What the billing core and receiver health hand to the uplink: one thing to publish."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Publication:
    """Something to publish; the uplink adds "schema" and "gateway" and picks the topic."""

    kind: str  # "reading" | "monthly" | "event"
    meter_id: str
    payload: dict[str, Any]
    month: str | None = None  # "2026-09" for kind "monthly"
