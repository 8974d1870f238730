"""rtl_433 output: the wM-Bus telegrams among its lines, from a program we run (or standard input).

rtl_433 (packaged in Debian as rtl-433) decodes wM-Bus with its "Wireless-MBus" decoder (protocol 104
for C and T mode, 105 for S mode) and prints each telegram's bytes, L first with the link-layer CRCs
checked and removed, in the ``data`` field. Both of its line formats are read: ``-F csv`` (a header
line naming the columns, then one row per decoded message of any device) and ``-F json`` (one object
a line). Rows of other devices (weather stations, tyre sensors) are skipped without counting.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.clock import Clock
from gateway.frame import LinkMode, ReceivedFrame
from gateway.radio.base import Backoff, ErrorReason
from gateway.radio.pipeline import PipelineSource

DEFAULT_COMMAND = "rtl_433 -f 868.95M -s 1.2M -R 104 -F csv"
MODEL = "Wireless-MBus"


class Rtl433LineError(ValueError):
    """A line that claims to be a wM-Bus message but cannot be read; the reason is in the text."""


@dataclass(frozen=True, slots=True)
class Rtl433Telegram:
    """One wM-Bus telegram from rtl_433: its bytes (L first, no CRCs) and rtl_433's time stamp."""

    data: bytes
    timestamp: datetime | None


class Rtl433Lines:
    """Sans-IO reader of rtl_433 lines; remembers the CSV header. ``feed`` -> telegram, None, or raises."""

    def __init__(self) -> None:
        self.columns: dict[str, int] | None = None
        self.header: str | None = None  # the CSV header line in force (a resumed replay restores it)

    def feed(self, text: str) -> Rtl433Telegram | None:
        text = text.strip()
        if not text:
            return None
        if text.startswith("{"):
            try:
                message = json.loads(text)
            except ValueError as err:
                raise Rtl433LineError(f"bad JSON: {err}") from None
            if not isinstance(message, dict) or not message.get("data"):
                return None
            return _telegram(str(message["data"]), str(message.get("time") or ""))
        if text.startswith("time,"):
            self.columns = {name: index for index, name in enumerate(next(csv.reader([text])))}
            self.header = text
            return None
        if self.columns is None or "data" not in self.columns:
            return None  # rtl_433's own chatter before a header
        row = next(csv.reader([text]))
        index = self.columns["data"]
        cell = row[index] if index < len(row) else ""
        if not cell:
            return None  # another device's row
        time_index = self.columns.get("time", -1)
        return _telegram(cell, row[time_index] if 0 <= time_index < len(row) else "")


def _telegram(hex_text: str, time_text: str) -> Rtl433Telegram:
    try:
        data = bytes.fromhex(hex_text)
    except ValueError:
        raise Rtl433LineError("data is not hex") from None
    if not data or len(data) < data[0] + 1:
        raise Rtl433LineError("telegram shorter than its L field")
    stamp = None
    if time_text:
        try:
            # rtl_433 prints the receiver's local clock without a zone; the gateway runs in UTC.
            stamp = datetime.fromisoformat(time_text).replace(tzinfo=UTC)
        except ValueError:
            stamp = None
    return Rtl433Telegram(data[: data[0] + 1], stamp)


class Rtl433Source(PipelineSource):
    """``rtl_433 ... -F csv`` (or ``-F json``) run and restarted by the gateway, or read from stdin."""

    kind = "rtl_433"

    def __init__(
        self,
        name: str,
        command: str | None = DEFAULT_COMMAND,
        *,
        clock: Clock | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(name, command, clock=clock, backoff=backoff)
        self._lines = Rtl433Lines()

    def _frame(self, raw: bytes) -> ReceivedFrame | None:
        try:
            telegram = self._lines.feed(raw.decode("utf-8", "replace"))
        except Rtl433LineError as err:
            self.stats.count_error(ErrorReason.MALFORMED, str(err))
            self.stats.garbage_bytes += len(raw)
            return None
        if telegram is None:
            return None
        now = self._clock.now()
        self.stats.count_frame(now)
        return ReceivedFrame(telegram.data, LinkMode.UNKNOWN, None, now, self.name)
