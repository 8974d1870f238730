"""Replay a file of telegrams at recorded timing, accelerated, or as fast as possible; resume after a stop.

Line formats, mixed freely:
- rtl_wmbus lines (``T1;1;1;2019-04-03 19:00:42.000;97;148;88888888;0x2e44...``), timed by their own stamp;
- rtl_433 CSV output (``-F csv``: a header line naming ``time`` and ``data``), rows of model Wireless-MBus;
- ``#2019-04-03T19:10:42Z`` comment lines: the receive time of the hex telegrams that follow;
- hex: one telegram a line, or a raw byte stream as hex (frames with or without their format A CRCs,
  garbage between them skipped and counted), as ``serial_rawtty_*.hex``. Other ``#`` lines are comments.

Lines longer than :data:`gateway.radio.lines.MAX_LINE_BYTES` are skipped and counted (``line_too_long``).
The source knows where it stands (:class:`ReplayPosition`, a byte offset and what the lines before it
set); the daemon keeps that with the state, and a replay of the same file resumes there
(:meth:`ReplaySource.restore`), first re-reading the telegrams of the dedup window before it so that
their repeats after it are still known as repeats.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from gateway.clock import Clock, SystemClock
from gateway.frame import LinkMode, ReceivedFrame
from gateway.radio.base import ErrorReason, SourceStats
from gateway.radio.faults import FaultLog
from gateway.radio.hexstream import find_frames
from gateway.radio.lines import READ_CHUNK, Line, LineSplitter
from gateway.radio.rtl433 import Rtl433LineError, Rtl433Lines
from gateway.radio.rtlwmbus import parse_rtl_wmbus_line

_HEX_NOISE = str.maketrans("", "", " \t_|:-")
HEAD_BYTES = 4096  # a file is "the same recording" when its first bytes are


@dataclass(frozen=True, slots=True)
class ReplayPosition:
    """A place in a recording: a line's byte offset and number, the frames of that line already
    delivered, and what the lines before it set (the rtl_433 header, a pending time comment)."""

    offset: int = 0
    line: int = 1
    taken: int = 0
    header: str | None = None
    stamp: datetime | None = None

    @property
    def order(self) -> tuple[int, int]:
        return self.offset, self.taken

    def to_json(self) -> dict[str, Any]:
        return {
            "offset": self.offset,
            "line": self.line,
            "taken": self.taken,
            "header": self.header,
            "stamp": self.stamp.isoformat() if self.stamp else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReplayPosition:
        stamp = data.get("stamp")
        return cls(
            int(data["offset"]),
            int(data["line"]),
            int(data.get("taken", 0)),
            data.get("header"),
            datetime.fromisoformat(stamp) if stamp else None,
        )


class ReplayPhase(StrEnum):
    """What a frame yielded after a resume is for (``ReplaySource.phase``); None: a new frame."""

    WARM = "warm"  # handled before the stop: only the dedup should learn it again


class RecordedFrame(NamedTuple):
    """A telegram from a replay file with what the file says about its reception (a named tuple: one
    a telegram, it costs a fraction of a frozen dataclass)."""

    data: bytes
    link_mode: LinkMode
    recorded_at: datetime | None
    line: int
    offset: int = 0  # of its line
    nth: int = 0  # among the frames of its line (not "index": a tuple has that method)


def _timestamp_comment(text: str) -> datetime | None:
    try:
        stamp = datetime.fromisoformat(text[1:].strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def split_lines(handle: BinaryIO, offset: int = 0) -> Iterator[Line]:
    """The lines of a binary file from ``offset`` (where ``handle`` stands), each bounded in length."""
    splitter = LineSplitter(offset=offset)
    while chunk := handle.read(READ_CHUNK):
        yield from splitter.feed(chunk)
    yield from splitter.close()


class RecordingReader:
    """Telegrams of a recording's lines in file order; bad lines are counted in ``stats``."""

    def __init__(
        self, stats: SourceStats, *, include_crc_failed: bool = True, start: ReplayPosition | None = None
    ) -> None:
        self.stats = stats
        self.include_crc_failed = include_crc_failed
        self.rtl433 = Rtl433Lines()
        if start is not None and start.header is not None:
            self.rtl433.feed(start.header)
        self.pending_stamp = start.stamp if start is not None else None
        self.line_stamp = self.pending_stamp  # the pending stamp when the current line began
        self.next_line = start.line if start is not None else 1
        self.next_offset = start.offset if start is not None else 0

    def end(self) -> ReplayPosition:
        """Where to continue after the last line read (the file may grow)."""
        return ReplayPosition(self.next_offset, self.next_line, 0, self.rtl433.header, self.pending_stamp)

    def read(self, lines: Iterable[Line]) -> Iterator[RecordedFrame]:
        stats = self.stats
        for line in lines:
            number = self.next_line
            self.next_line += 1
            self.next_offset = line.end
            self.line_stamp = self.pending_stamp
            if line.data is None:
                stats.count_long_line(line.length, f"line {number}")
                self.pending_stamp = None
                continue
            text = line.data.decode("utf-8", "replace").strip()
            if text:
                yield from self._text(text, number, line.offset)

    def _text(self, text: str, number: int, offset: int) -> Iterator[RecordedFrame]:
        stats = self.stats
        rtl433 = self.rtl433
        if text.startswith("time,") and ",data," in text:
            rtl433.feed(text)
            return
        if rtl433.columns is not None and "," in text:
            try:
                telegram = rtl433.feed(text)
            except Rtl433LineError as err:
                stats.count_error(ErrorReason.MALFORMED, f"line {number}: {err}")
                return
            if telegram is not None:
                yield RecordedFrame(telegram.data, LinkMode.UNKNOWN, telegram.timestamp, number, offset)
            return
        if text.startswith("#"):
            self.pending_stamp = _timestamp_comment(text) or self.pending_stamp
            return
        if ";" in text:
            try:
                line = parse_rtl_wmbus_line(text)
            except ValueError as err:
                stats.count_error(ErrorReason.MALFORMED, f"line {number}: {err}")
                return
            if not line.crc_ok and not self.include_crc_failed:
                stats.count_error(ErrorReason.LINK_CRC, f"line {number}")
                return
            yield RecordedFrame(line.data, line.link_mode, line.timestamp, number, offset)
            return
        hex_text = text.removeprefix("telegram=").translate(_HEX_NOISE).removeprefix("0x")
        stamp, self.pending_stamp = self.pending_stamp, None
        try:
            data = bytes.fromhex(hex_text)
        except ValueError:
            stats.count_error(ErrorReason.MALFORMED, f"line {number}: not hex")
            return
        found = find_frames(data)
        stats.garbage_bytes += found.garbage_bytes
        if not found.frames:
            stats.count_error(ErrorReason.MALFORMED, f"line {number}: no telegram in it")
        for index, frame in enumerate(found.frames):
            yield RecordedFrame(frame, LinkMode.UNKNOWN, stamp, number, offset, index)


class ReplaySource:
    """Telegrams from a file: ``speed`` None = as fast as possible, 1 = recorded timing, 60 = 60x.

    ``position`` is where a restart would continue (every frame yielded so far is behind it);
    ``lookback_s`` of recorded time before it is re-read as :attr:`ReplayPhase.WARM` on a resume.
    """

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
        lookback_s: float = 0.0,
    ) -> None:
        self.name = name
        self.path = path
        self.speed = speed
        self.use_recorded_time = use_recorded_time
        self.include_crc_failed = include_crc_failed
        self.lookback_s = lookback_s
        self.stats = SourceStats(faults=FaultLog(name, str(path)))
        self._clock: Clock = clock or SystemClock()
        self._at = ReplayPosition()  # the resume point, or the end of the file once read
        self._after: tuple[int, int, int, str | None, datetime | None] | None = None  # the last frame's
        self.phase: ReplayPhase | None = None
        self._start = ReplayPosition()  # where reading begins (a resume's warm-up, or the resume point)
        # (recorded time, offset, line, index, header, stamp) of the frames of the last lookback_s
        self._recent: deque[tuple[float, int, int, int, str | None, datetime | None]] = deque()
        self._resume_order = (0, 0)
        self._head: str | None = None

    @property
    def device_path(self) -> str | None:
        return None

    @property
    def position(self) -> ReplayPosition:
        """Where a restart would continue: every frame yielded so far is behind it."""
        if self._after is None:
            return self._at
        return ReplayPosition(*self._after)

    # -- resuming ------------------------------------------------------------------------------

    def head_digest(self) -> str | None:
        """What identifies the recording: a digest of its first bytes (None: unreadable)."""
        if self._head is None:
            try:
                with self.path.open("rb") as handle:
                    self._head = hashlib.blake2b(handle.read(HEAD_BYTES), digest_size=16).hexdigest()
            except OSError:
                return None
        return self._head

    def checkpoint(self) -> dict[str, Any]:
        """Where this replay stands, for the state: the file, the position, the warm-up start."""
        warm = ReplayPosition(*self._recent[0][1:]) if self._recent else self.position
        return {
            "file": str(self.path),
            "head": self.head_digest(),
            "at": self.position.to_json(),
            "warm": warm.to_json(),
        }

    def restore(self, saved: dict[str, Any]) -> str:
        """Continue where ``saved`` (a :meth:`checkpoint`) says, if it is of this file; what will happen,
        in words."""
        try:
            size = self.path.stat().st_size
            at = ReplayPosition.from_json(saved["at"])
            warm = ReplayPosition.from_json(saved.get("warm") or saved["at"])
        except (OSError, KeyError, TypeError, ValueError) as err:
            return f"from the start (the saved position is unusable: {err})"
        if saved.get("head") != self.head_digest() or at.offset > size:
            return f"from the start (not the recording replayed last, {saved.get('file')})"
        self._at, self._after = at, None
        self._resume_order = at.order
        self._start = warm if warm.order <= at.order else at
        if at.offset >= size:
            return f"nothing new: replayed to its end before (line {at.line - 1}, byte {at.offset})"
        taken = f", after {at.taken} telegrams of it" if at.taken else ""
        return f"resuming at line {at.line} (byte {at.offset}{taken}) where the state stopped"

    def _remember(self, at_s: float, frame: RecordedFrame, reader: RecordingReader) -> None:
        recent = self._recent
        recent.append((at_s, frame.offset, frame.line, frame.nth, reader.rtl433.header, reader.line_stamp))
        while recent[0][0] < at_s - self.lookback_s:
            recent.popleft()

    # -- reading -------------------------------------------------------------------------------

    async def frames(self) -> AsyncIterator[ReceivedFrame]:
        """Yield the file's telegrams once (from the resume position), then end."""
        previous: datetime | None = None
        start = self._start
        self.stats.connected = True
        try:
            with self.path.open("rb") as handle:
                handle.seek(start.offset)
                reader = RecordingReader(self.stats, include_crc_failed=self.include_crc_failed, start=start)
                for recorded in reader.read(split_lines(handle, start.offset)):
                    if recorded.offset == start.offset and recorded.nth < start.taken:
                        continue  # delivered before the stop, and out of the look-back
                    phase = (
                        ReplayPhase.WARM if (recorded.offset, recorded.nth) < self._resume_order else None
                    )
                    stamp = recorded.recorded_at
                    if (
                        phase is None
                        and self.speed
                        and stamp is not None
                        and previous is not None
                        and stamp > previous
                    ):
                        await self._clock.sleep((stamp - previous).total_seconds() / self.speed)
                    previous = stamp or previous
                    at = stamp if (self.use_recorded_time and stamp is not None) else self._clock.now()
                    if self.lookback_s > 0:
                        self._remember(at.timestamp(), recorded, reader)
                    self.phase = phase
                    if phase is None:
                        self._after = (
                            recorded.offset,
                            recorded.line,
                            recorded.nth + 1,
                            reader.rtl433.header,
                            reader.line_stamp,
                        )
                        self.stats.count_frame(at)
                    yield ReceivedFrame(recorded.data, recorded.link_mode, None, at, self.name)
                self.phase = None
                self._at, self._after = reader.end(), None
        except OSError as err:
            self.stats.count_error(ErrorReason.OPEN_FAILED, str(err))
        finally:
            self.phase = None
            self.stats.connected = False

    async def reinitialise(self) -> None:
        """Nothing to configure in a file."""

    async def reopen(self) -> None:
        """A file replays once; reopening is the caller's ``frames()`` again."""
