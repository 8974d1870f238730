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
    N = "N"  # an N sub-mode that the receiver did not name (rtl_wmbus's "N1")
    # 169 MHz N mode: the digit is the sub-mode (1 meter sends only, 2 it also listens), the letter the
    # channel (gateway.radio.nmode has the frequencies and bit rates).
    N1A = "N1a"
    N1B = "N1b"
    N1C = "N1c"
    N1D = "N1d"
    N1E = "N1e"
    N1F = "N1f"
    N2A = "N2a"
    N2B = "N2b"
    N2C = "N2c"
    N2D = "N2d"
    N2E = "N2e"
    N2F = "N2f"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class ReceivedFrame:
    """A frame as the stack expects it: L field first, link-layer CRCs removed, L = length - 1."""

    data: bytes
    link_mode: LinkMode
    rssi_dbm: float | None
    received_at: datetime
    source: str
