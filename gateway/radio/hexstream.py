"""Find wM-Bus frames in a raw byte stream (a serial tap, a hex dump) and resynchronise past garbage.

Frames may carry their frame format A CRCs (checked: a strong anchor) or come CRC-stripped with
L = length - 1 (checked for plausibility: C field, three-letter manufacturer, a known CI).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.wmbus.errors import FrameError
from gateway.wmbus.phl import format_a_length, strip_format_a

MIN_L = 10  # C, M (2), A (6), CI
C_FIELDS = frozenset(
    {0x06, 0x08, 0x18, 0x28, 0x38, 0x40, 0x44, 0x46, 0x47, 0x48, 0x53, 0x5A, 0x5B, 0x73, 0x7A, 0x7B}
)
CI_FIELDS = frozenset(range(0x50, 0x98)) | frozenset(range(0xA0, 0xB8))


def plausible_header(data: bytes, start: int = 0) -> bool:
    """Whether ``data[start:]`` begins like a CRC-stripped frame (no CRC can confirm it)."""
    if len(data) - start < MIN_L + 1 or data[start] < MIN_L:
        return False
    if data[start + 1] not in C_FIELDS or data[start + 10] not in CI_FIELDS:
        return False
    code = data[start + 2] | data[start + 3] << 8
    return all(1 <= (code >> shift) & 0x1F <= 26 for shift in (10, 5, 0))


@dataclass(frozen=True, slots=True)
class StreamResult:
    """Frames found (L first, CRCs removed) and the bytes skipped as garbage."""

    frames: tuple[bytes, ...]
    garbage_bytes: int


def find_frames(data: bytes) -> StreamResult:
    """Scan ``data`` from the start, taking each frame found and skipping bytes that start none."""
    frames: list[bytes] = []
    garbage = 0
    pos = 0
    while pos < len(data):
        frame, used = _frame_at(data, pos)
        if frame is None:
            garbage += 1
            pos += 1
            continue
        frames.append(frame)
        pos += used
    return StreamResult(tuple(frames), garbage)


def _frame_at(data: bytes, pos: int) -> tuple[bytes | None, int]:
    if len(data) - pos < MIN_L + 1:
        return None, 0
    l_field = data[pos]
    with_crcs = format_a_length(l_field)
    if l_field >= MIN_L and len(data) - pos >= with_crcs:
        try:
            return strip_format_a(data[pos : pos + with_crcs]), with_crcs
        except FrameError:
            pass
    end = pos + l_field + 1
    if end > len(data) or not plausible_header(data, pos):
        return None, 0
    # Without a CRC, also ask that the frame ends where the data ends or another frame begins.
    if end < len(data) and not plausible_header(data, end) and len(data) - end > MIN_L:
        return None, 0
    return data[pos:end], end - pos
