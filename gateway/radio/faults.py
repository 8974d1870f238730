"""Radio faults as log lines: one WARNING naming source, device and reason at once, one line on recovery.

A flapping stick must not flood the journal: after a fault was logged, the same fault within
``interval_s`` is only counted, and its recovery is not logged either; the next line after the quiet
interval says how often it happened meanwhile. Counters in the status message come in addition.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("gateway.radio")

REPEAT_INTERVAL_S = 300.0
GARBAGE_ALARM_BYTES = 256  # this much garbage without a single good frame: the stick speaks something else

# ErrorReason values (gateway.radio.base) that stop data, in an operator's words.
REASON_WORDS = {
    "open_failed": "cannot open the device",
    "init_failed": "the dongle did not accept its configuration",
    "read_failed": "the device went away (unplugged?)",
    "process_exit": "the receiver program ended",
    "garbage": "only unreadable bytes, no telegram",
    "checksum": "frames with a wrong checksum",
    "link_crc": "telegrams with a wrong CRC",
    "malformed": "unreadable frames",
    "unexpected": "an unexpected message",
    "line_too_long": "a line too long to be a telegram, skipped",
}


def in_words(last_error: str | None) -> str:
    """SourceStats.last_error (``"open_failed: [Errno 2] ..."``) in words ("cannot open the device: ...")."""
    if not last_error:
        return ""
    code, _, detail = last_error.partition(": ")
    words = REASON_WORDS.get(code)
    if words is None:
        return last_error
    return f"{words}: {detail}" if detail else words


@dataclass(slots=True)
class _Fault:
    last_logged: float
    suppressed: int = 0
    logged_outage: bool = True  # whether the current outage's start was logged (then so is its end)


@dataclass(slots=True)
class FaultLog:
    """The fault log of one source (its name and device); not thread-safe, called from its event loop."""

    source: str
    device: str | None
    interval_s: float = REPEAT_INTERVAL_S
    monotonic: Callable[[], float] = time.monotonic
    _faults: dict[str, _Fault] = field(default_factory=dict)
    _down: str | None = None  # the fault of the current outage
    _down_since: float = 0.0

    @property
    def where(self) -> str:
        return f"radio {self.source} ({self.device})" if self.device else f"radio {self.source}"

    @property
    def down(self) -> bool:
        return self._down is not None

    def fault(self, reason: str, detail: str = "") -> None:
        """Data stopped (or never started) for ``reason``; logs at once unless it repeats too often."""
        now = self.monotonic()
        starts_outage = self._down is None
        if starts_outage:
            self._down, self._down_since = reason, now
        entry = self._faults.get(reason)
        if entry is not None and now - entry.last_logged < self.interval_s:
            entry.suppressed += 1
            if starts_outage:
                entry.logged_outage = False
            return
        words = REASON_WORDS.get(reason, reason)
        more = ""
        if entry is not None and entry.suppressed:
            more = f" ({entry.suppressed} more times in the last {now - entry.last_logged:.0f} s)"
        log.warning("%s: %s%s%s", self.where, words, f": {detail}" if detail else "", more)
        self._faults[reason] = _Fault(now)

    def notice(self, reason: str, detail: str = "") -> None:
        """Something was skipped but data still flows: one WARNING, then at most one per interval."""
        now = self.monotonic()
        key = f"notice:{reason}"
        entry = self._faults.get(key)
        if entry is not None and now - entry.last_logged < self.interval_s:
            entry.suppressed += 1
            return
        more = ""
        if entry is not None and entry.suppressed:
            more = f" ({entry.suppressed} more in the last {now - entry.last_logged:.0f} s)"
        words = REASON_WORDS.get(reason, reason)
        log.warning("%s: %s%s%s", self.where, words, f": {detail}" if detail else "", more)
        self._faults[key] = _Fault(now)

    def recovered(self, how: str) -> None:
        """Data flows again (port configured, first frame after garbage); one line if the fault was logged."""
        reason, self._down = self._down, None
        if reason is None:
            return
        entry = self._faults.get(reason)
        if entry is not None and not entry.logged_outage:
            entry.logged_outage = True
            return
        seconds = self.monotonic() - self._down_since
        log.info("%s: %s after %.0f s (was: %s)", self.where, how, seconds, REASON_WORDS.get(reason, reason))
