"""Replay a file of telegrams at recorded timing, accelerated, or as fast as possible.

Line formats, mixed freely:
- rtl_wmbus lines (``T1;1;1;2019-04-03 19:00:42.000;97;148;88888888;0x2e44...``), timed by their own stamp;
- rtl_433 CSV output (``-F csv``: a header line naming ``time`` and ``data``), rows of model Wireless-MBus;
- ``#2019-04-03T19:10:42Z`` comment lines: the receive time of the hex telegrams that follow;
- hex: one telegram a line, or a raw byte stream as hex (frames with or without their format A CRCs,
  garbage between them skipped and counted), as ``serial_rawtty_*.hex``. Other ``#`` lines are comments.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gateway.clock import Clock, SystemClock
from gateway.frame import LinkMode, ReceivedFrame
from gateway.radio.base import ErrorReason, SourceStats
from gateway.radio.hexstream import find_frames
from gateway.radio.rtl433 import Rtl433LineError, Rtl433Lines
from gateway.radio.rtlwmbus import parse_rtl_wmbus_line

_HEX_NOISE = str.maketrans("", "", " \t_|:-")


@dataclass(frozen=True, slots=True)
class RecordedFrame:
    """A telegram from a replay file with what the file says about its reception."""

    data: bytes
    link_mode: LinkMode
    recorded_at: datetime | None
    line: int


def _timestamp_comment(text: str) -> datetime | None:
    try:
        stamp = datetime.fromisoformat(text[1:].strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def read_recording(
    lines: Iterator[str], stats: SourceStats, *, include_crc_failed: bool = True
) -> Iterator[RecordedFrame]:
    """Yield the telegrams of a recording in file order; bad lines are counted in ``stats``."""
    pending_stamp: datetime | None = None
    rtl433 = Rtl433Lines()
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text:
            continue
        if text.startswith("time,") and ",data," in text:
            rtl433.feed(text)
            continue
        if rtl433.columns is not None and "," in text:
            try:
                telegram = rtl433.feed(text)
            except Rtl433LineError as err:
                stats.count_error(ErrorReason.MALFORMED, f"line {number}: {err}")
                continue
            if telegram is not None:
                yield RecordedFrame(telegram.data, LinkMode.UNKNOWN, telegram.timestamp, number)
            continue
        if text.startswith("#"):
            pending_stamp = _timestamp_comment(text) or pending_stamp
            continue
        if ";" in text:
            try:
                line = parse_rtl_wmbus_line(text)
            except ValueError as err:
                stats.count_error(ErrorReason.MALFORMED, f"line {number}: {err}")
                continue
            if not line.crc_ok and not include_crc_failed:
                stats.count_error(ErrorReason.LINK_CRC, f"line {number}")
                continue
            yield RecordedFrame(line.data, line.link_mode, line.timestamp, number)
            continue
        hex_text = text.removeprefix("telegram=").translate(_HEX_NOISE).removeprefix("0x")
        try:
            data = bytes.fromhex(hex_text)
        except ValueError:
            stats.count_error(ErrorReason.MALFORMED, f"line {number}: not hex")
            continue
        found = find_frames(data)
        stats.garbage_bytes += found.garbage_bytes
        if not found.frames:
            stats.count_error(ErrorReason.MALFORMED, f"line {number}: no telegram in it")
        for frame in found.frames:
            yield RecordedFrame(frame, LinkMode.UNKNOWN, pending_stamp, number)
        pending_stamp = None


class ReplaySource:
    """Telegrams from a file: ``speed`` None = as fast as possible, 1 = recorded timing, 60 = 60x."""

    kind = "replay"

    def __init__(
        self,
        name: str,
        path: Path,
        *,
        clock: Clock | None = None,
        speed: float | None = None,
        use_recorded_time: bool = True,
        include_crc_failed: bool = True,
    ) -> None:
        self.name = name
        self.path = path
        self.speed = speed
        self.use_recorded_time = use_recorded_time
        self.include_crc_failed = include_crc_failed
        self.stats = SourceStats()
        self._clock: Clock = clock or SystemClock()

    @property
    def device_path(self) -> str | None:
        return None

    async def frames(self) -> AsyncIterator[ReceivedFrame]:
        """Yield the file's telegrams once, then end."""
        previous: datetime | None = None
        self.stats.connected = True
        try:
            with self.path.open(encoding="utf-8", errors="replace") as handle:
                for recorded in read_recording(
                    handle, self.stats, include_crc_failed=self.include_crc_failed
                ):
                    stamp = recorded.recorded_at
                    if self.speed and stamp is not None and previous is not None and stamp > previous:
                        await self._clock.sleep((stamp - previous).total_seconds() / self.speed)
                    previous = stamp or previous
                    at = stamp if (self.use_recorded_time and stamp is not None) else self._clock.now()
                    self.stats.count_frame(at)
                    yield ReceivedFrame(recorded.data, recorded.link_mode, None, at, self.name)
        except OSError as err:
            self.stats.count_error(ErrorReason.OPEN_FAILED, str(err))
        finally:
            self.stats.connected = False

    async def reinitialise(self) -> None:
        """Nothing to configure in a file."""

    async def reopen(self) -> None:
        """A file replays once; reopening is the caller's ``frames()`` again."""
