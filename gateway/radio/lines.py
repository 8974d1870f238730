"""Split a byte stream into lines of bounded length: a line beyond the bound is skipped, never kept.

Every line-based source (replay files, rtl_wmbus, rtl_433, CUL, a program's standard error) reads
through a :class:`LineSplitter`. A telegram line is at most a few hundred bytes; a line of megabytes is
garbage (a corrupted recording, a program gone mad) that would hold the event loop for seconds while
parsed, or overflow asyncio's 64 KiB stream limit. Its bytes are counted as they pass, the line is
reported once by length, and the lines after it are read as if it had not been there. Sans-IO.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_LINE_BYTES = 16 * 1024  # ~30 telegrams of hex; the longest real line (rtl_433 JSON) is ~1 KiB
READ_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Line:
    """One line: ``data`` without its newline, or None when it was longer than the bound (skipped)."""

    offset: int  # of its first byte in the stream
    data: bytes | None
    length: int  # bytes before the newline
    end: int  # offset just past its newline (where the next line starts)


class LineSplitter:
    """``feed`` bytes, get the complete lines; ``close`` gives a last line without a newline."""

    def __init__(self, max_bytes: int = MAX_LINE_BYTES, *, offset: int = 0) -> None:
        self.max_bytes = max_bytes
        self._buffer = bytearray()
        self._start = offset  # stream offset of the line being gathered
        self._skipped = 0  # bytes of an oversize line seen so far (its bytes are not kept)

    def feed(self, data: bytes) -> list[Line]:
        out: list[Line] = []
        pos = 0
        size = len(data)
        limit = self.max_bytes
        while pos < size:
            end = data.find(b"\n", pos)
            if end >= 0 and not self._buffer and not self._skipped and end - pos <= limit:
                start = self._start  # the common case: a whole line inside this chunk, copied once
                out.append(Line(start, data[pos:end], end - pos, start + end - pos + 1))
                self._start = start + end - pos + 1
                pos = end + 1
                continue
            piece = data[pos:] if end < 0 else data[pos:end]
            if self._skipped or len(self._buffer) + len(piece) > limit:
                self._skipped += len(self._buffer) + len(piece)
                self._buffer.clear()
            else:
                self._buffer += piece
            if end < 0:
                break
            out.append(self._finish(newline=True))
            pos = end + 1
        return out

    def close(self) -> list[Line]:
        """The end of the stream: the last line if it had no newline."""
        if not self._buffer and not self._skipped:
            return []
        return [self._finish(newline=False)]

    def _finish(self, *, newline: bool) -> Line:
        length = self._skipped or len(self._buffer)
        data = None if self._skipped else bytes(self._buffer)
        end = self._start + length + (1 if newline else 0)
        line = Line(self._start, data, length, end)
        self._buffer.clear()
        self._skipped = 0
        self._start = end
        return line
