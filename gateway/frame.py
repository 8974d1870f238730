"""What every radio source yields: one received wM-Bus frame with its reception metadata."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class LinkMode(StrEnum):
    """The wM-Bus link mode a frame was received in (EN 13757-4)."""

    T1 = "T1"
    C1 = "C1"
    S1 = "S1"
    N = "N"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class ReceivedFrame:
    """A frame as the stack expects it: L field first, link-layer CRCs removed, L = length - 1."""

    data: bytes
    link_mode: LinkMode
    rssi_dbm: float | None
    received_at: datetime
    source: str
