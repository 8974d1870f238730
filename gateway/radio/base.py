"""The interface every radio source offers, its counters, and the reconnect back-off.

Stable API for the daemon and the health monitor (keep it backwards compatible):

- ``source.name: str`` — the configured name, copied into every ReceivedFrame.
- ``source.device_path: str | None`` — serial device (or udev symlink), None for pipes and files.
- ``source.frames()`` — async iterator of ReceivedFrame; runs until cancelled, reconnecting with
  back-off on any I/O error (unplug, subprocess death) and never raising for bad input.
- ``await source.reinitialise()`` — send the dongle its configuration again (mode, RSSI) on the open
  port; rtl_wmbus restarts its pipeline; no-op for replay and simulator. Raises SourceError on failure.
- ``await source.reopen()`` — close the port (or kill the subprocess); ``frames()`` opens it again
  at once, without back-off, and counts a reconnect.
- ``source.stats: SourceStats`` — live counters (see the class).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from gateway.clock import Clock
from gateway.frame import ReceivedFrame
from gateway.radio.faults import GARBAGE_ALARM_BYTES, FaultLog, in_words


class ErrorReason(StrEnum):
    """Why a source counted an error; the keys of ``SourceStats.errors``."""

    OPEN_FAILED = "open_failed"  # the device or subprocess could not be opened or started
    READ_FAILED = "read_failed"  # the port went away while open (unplug) or the pipe broke
    INIT_FAILED = "init_failed"  # the dongle refused or did not answer its configuration
    CHECKSUM = "checksum"  # a dongle frame's own checksum (HCI CRC, XOR, SLIP CRC) did not match
    LINK_CRC = "link_crc"  # the wM-Bus link-layer CRC of a telegram did not match
    MALFORMED = "malformed"  # a frame or line could not be parsed
    UNEXPECTED = "unexpected"  # a well-formed message the source did not expect
    PROCESS_EXIT = "process_exit"  # the rtl_wmbus pipeline ended
    LINE_TOO_LONG = "line_too_long"  # a line beyond gateway.radio.lines.MAX_LINE_BYTES, skipped


# Reasons after which no data flows until the source recovers: each is a logged fault.
STOPS_DATA = frozenset(
    {ErrorReason.OPEN_FAILED, ErrorReason.READ_FAILED, ErrorReason.INIT_FAILED, ErrorReason.PROCESS_EXIT}
)


@dataclass(slots=True)
class SourceStats:
    """Live counters of one source; read by the health monitor and the status message."""

    frames: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    garbage_bytes: int = 0
    reconnects: int = 0
    connected: bool = False
    last_frame_at: datetime | None = None
    last_error: str | None = None
    faults: FaultLog | None = None  # set: faults that stop data are logged (gateway.radio.faults)
    down_reason: str | None = None  # why no data flows, in words, until the source is up again
    _garbage_mark: int = 0  # garbage_bytes at the last good frame (or start)

    def count_error(self, reason: ErrorReason, detail: str | None = None) -> None:
        """Count one error; ``detail`` (never secret) is kept as the last error text."""
        self.errors[reason.value] = self.errors.get(reason.value, 0) + 1
        self.last_error = f"{reason.value}: {detail}" if detail else reason.value
        if reason in STOPS_DATA:
            self.down_reason = in_words(self.last_error)
            if self.faults is not None:
                self.faults.fault(reason.value, detail or "")

    def count_long_line(self, length: int, where: str = "") -> None:
        """A line too long to be a telegram was skipped (the lines after it are read): counted, and one
        WARNING naming the source and the length, at most one per interval (gateway.radio.faults)."""
        detail = f"{length} bytes{f' at {where}' if where else ''}"
        self.errors[ErrorReason.LINE_TOO_LONG.value] = self.errors.get(ErrorReason.LINE_TOO_LONG.value, 0) + 1
        self.last_error = f"{ErrorReason.LINE_TOO_LONG.value}: {detail}"
        if self.faults is not None:
            self.faults.notice(ErrorReason.LINE_TOO_LONG.value, detail)

    def count_frame(self, at: datetime) -> None:
        self.frames += 1
        self.last_frame_at = at
        if self._garbage_mark != self.garbage_bytes:
            self._good_frame_after_garbage()

    def _good_frame_after_garbage(self) -> None:
        self._garbage_mark = self.garbage_bytes
        if self.down_reason is not None and self.connected:
            self.down_reason = None
            if self.faults is not None:
                self.faults.recovered("telegrams readable again")

    def check_garbage(self) -> None:
        """After a chunk of input: much garbage and no good frame since is a fault (another mode)."""
        garbage = self.garbage_bytes - self._garbage_mark
        if garbage >= GARBAGE_ALARM_BYTES and self.down_reason is None:
            self.down_reason = f"{in_words('garbage')}: {garbage} bytes ({self.last_error or 'no error'})"
            if self.faults is not None:
                self.faults.fault("garbage", f"{garbage} bytes, last error: {self.last_error or 'none'}")

    def mark_up(self, how: str = "receiving") -> None:
        """The source is open and configured (or its program runs and prints): a logged fault ends here."""
        self.connected = True
        self._garbage_mark = self.garbage_bytes
        if self.down_reason is not None:
            self.down_reason = None
            if self.faults is not None:
                self.faults.recovered(how)

    @property
    def error_total(self) -> int:
        return sum(self.errors.values())

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready snapshot for the status message."""
        return {
            "frames": self.frames,
            "errors": dict(self.errors),
            "garbage_bytes": self.garbage_bytes,
            "reconnects": self.reconnects,
            "connected": self.connected,
            "last_frame_at": self.last_frame_at.isoformat() if self.last_frame_at else None,
            "last_error": self.last_error,
            "down_reason": self.down_reason,
        }


def source_up(source: RadioSource) -> bool:
    """Open and configured (or already delivered frames)."""
    return source.stats.connected or source.stats.frames > 0


def source_settled(source: RadioSource) -> bool:
    """Up, or its first attempt failed with a reason: a start-up report can be made."""
    return source_up(source) or source.stats.down_reason is not None


def down_reasons(sources: list[RadioSource]) -> list[str]:
    """``name (device): reason`` of each source that is not up."""
    out = []
    for source in sources:
        if not source_up(source):
            device = f" ({source.device_path})" if source.device_path else ""
            out.append(f"{source.name}{device}: {source.stats.down_reason or 'not up yet'}")
    return out


class SourceError(Exception):
    """A source could not do what it was asked (open, initialise); the reason is in the text."""


@runtime_checkable
class RadioSource(Protocol):
    """What the daemon and the health monitor rely on; every source in this package has it."""

    name: str
    stats: SourceStats

    @property
    def device_path(self) -> str | None: ...

    def frames(self) -> AsyncIterator[ReceivedFrame]: ...

    async def reinitialise(self) -> None: ...

    async def reopen(self) -> None: ...


@dataclass(slots=True)
class Backoff:
    """Exponential back-off between reconnect attempts, slept on the source's clock."""

    initial_s: float = 1.0
    maximum_s: float = 10.0  # a replugged stick is back within 10 s at worst
    factor: float = 2.0
    _next_s: float = field(default=0.0, init=False)

    def reset(self) -> None:
        self._next_s = 0.0

    def next_delay(self) -> float:
        self._next_s = (
            self.initial_s if self._next_s == 0.0 else min(self._next_s * self.factor, self.maximum_s)
        )
        return self._next_s

    async def wait(self, clock: Clock) -> None:
        await clock.sleep(self.next_delay())
