"""Frame formats A and B of EN 13757-4: check and remove (or add) the link-layer CRCs.

Most dongles strip the CRCs and deliver ``L C M A CI ...`` with L = length - 1; CUL sticks,
raw TTY streams and some SDR chains deliver them still in. The stripped frame always has
L = length - 1 so that the rest of the stack sees one shape.
"""

from __future__ import annotations

from enum import Enum

from gateway.wmbus.crc import crc16
from gateway.wmbus.errors import CrcError, TruncatedError

FIRST_BLOCK = 10
BLOCK = 16
FORMAT_B_FIRST_PART = 128  # block 1 + block 2 including its CRC


class FrameFormat(Enum):
    """Link-layer frame formats of EN 13757-4."""

    A = "A"
    B = "B"


def _check(block: bytes, crc_bytes: bytes, offset: int) -> None:
    if len(crc_bytes) < 2:
        raise TruncatedError("frame ends inside a link-layer CRC", offset)
    expected = crc16(block)
    if crc_bytes[0] << 8 | crc_bytes[1] != expected:
        raise CrcError("link-layer CRC mismatch", offset)


def format_a_length(l_field: int) -> int:
    """Total byte count on air of a format A frame whose L field is ``l_field``."""
    data_after_first = max(l_field - 9, 0)
    blocks = 1 + (data_after_first + BLOCK - 1) // BLOCK
    return l_field + 1 + 2 * blocks


def strip_format_a(frame: bytes) -> bytes:
    """Check and remove the CRCs of a format A frame; L is kept (it never counts CRCs)."""
    if len(frame) < FIRST_BLOCK + 2:
        raise TruncatedError("format A frame shorter than its first block", len(frame))
    total = format_a_length(frame[0])
    if len(frame) < total:
        raise TruncatedError(f"format A frame announces {total} bytes, has {len(frame)}", len(frame))
    out = bytearray(frame[:FIRST_BLOCK])
    _check(frame[:FIRST_BLOCK], frame[FIRST_BLOCK : FIRST_BLOCK + 2], FIRST_BLOCK)
    pos = FIRST_BLOCK + 2
    while pos < total:
        size = min(BLOCK, total - pos - 2)
        block = frame[pos : pos + size]
        _check(block, frame[pos + size : pos + size + 2], pos + size)
        out += block
        pos += size + 2
    return bytes(out)


def strip_format_b(frame: bytes) -> bytes:
    """Check and remove the CRCs of a format B frame; L is rewritten to exclude them."""
    if len(frame) < FIRST_BLOCK + 2:
        raise TruncatedError("format B frame too short", len(frame))
    total = frame[0] + 1
    if len(frame) < total:
        raise TruncatedError(f"format B frame announces {total} bytes, has {len(frame)}", len(frame))
    frame = frame[:total]
    if total <= FORMAT_B_FIRST_PART:
        _check(frame[: total - 2], frame[total - 2 : total], total - 2)
        body = frame[: total - 2]
    else:
        first_end = FORMAT_B_FIRST_PART - 2
        _check(frame[:first_end], frame[first_end:FORMAT_B_FIRST_PART], first_end)
        _check(frame[FORMAT_B_FIRST_PART : total - 2], frame[total - 2 : total], total - 2)
        body = frame[:first_end] + frame[FORMAT_B_FIRST_PART : total - 2]
    return bytes([len(body) - 1]) + body[1:]


def strip_link_crcs(frame: bytes, frame_format: FrameFormat | None = None) -> tuple[bytes, FrameFormat]:
    """Remove the CRCs of a frame in format A or B; with no format given, A is tried first."""
    if frame_format is FrameFormat.A:
        return strip_format_a(frame), FrameFormat.A
    if frame_format is FrameFormat.B:
        return strip_format_b(frame), FrameFormat.B
    if frame and len(frame) >= format_a_length(frame[0]):
        try:
            return strip_format_a(frame), FrameFormat.A
        except CrcError:
            pass
    return strip_format_b(frame), FrameFormat.B


def _crc_bytes(block: bytes) -> bytes:
    return crc16(block).to_bytes(2, "big")


def add_format_a_crcs(frame: bytes) -> bytes:
    """Insert format A CRCs into a stripped frame (L = length - 1), as a meter sends it."""
    out = bytearray(frame[:FIRST_BLOCK]) + _crc_bytes(frame[:FIRST_BLOCK])
    for pos in range(FIRST_BLOCK, len(frame), BLOCK):
        block = frame[pos : pos + BLOCK]
        out += block + _crc_bytes(block)
    return bytes(out)


def add_format_b_crcs(frame: bytes) -> bytes:
    """Insert format B CRCs into a stripped frame, rewriting L to count them."""
    body = frame[1:]
    first_room = FORMAT_B_FIRST_PART - 2 - 1
    if len(body) <= first_room:
        head = bytes([len(body) + 2]) + body
        return head + _crc_bytes(head)
    part1, part2 = body[:first_room], body[first_room:]
    length = len(body) + 4
    head = bytes([length]) + part1
    return head + _crc_bytes(head) + part2 + _crc_bytes(part2)
