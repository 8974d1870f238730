"""Wired M-Bus long frames of EN 13757-2: ``68 L L 68 C A CI ... CS 16``, checksum checked."""

from __future__ import annotations

from typing import NamedTuple

from construct import Const, Int8ul, Struct

from gateway.wmbus.errors import CrcError, FrameError, TruncatedError

START = 0x68
STOP = 0x16
#: The fixed part before the user data; the checksum (sum of C, A, CI and data, mod 256) and 0x16 follow.
LONG_FRAME_HEAD = Struct(
    "start" / Const(b"\x68"),
    "length" / Int8ul,
    "length_again" / Int8ul,
    "start_again" / Const(b"\x68"),
    "c_field" / Int8ul,
    "address" / Int8ul,
    "ci" / Int8ul,
)
HEAD_SIZE = 4


class WiredLink(NamedTuple):
    """The link fields of a wired long frame; ``body`` runs from the CI to the last data byte."""

    c_field: int
    address: int
    ci: int


def is_long_frame(frame: bytes) -> bool:
    """Cheap test used for dispatch: a wired long frame starts ``68 L L 68``."""
    return len(frame) >= 4 and frame[0] == START and frame[3] == START and frame[1] == frame[2]


def parse_long_frame(frame: bytes) -> tuple[WiredLink, bytes]:
    """Check a long frame; return its link fields and ``frame[:-2]`` (without checksum and stop byte)."""
    if len(frame) < HEAD_SIZE:
        raise TruncatedError("wired frame shorter than its start block", len(frame))
    if frame[0] != START or frame[3] != START:
        raise FrameError("wired long frame must start 68 L L 68", 0)
    length = frame[1]
    if frame[2] != length:
        raise FrameError(f"wired frame lengths differ ({length} and {frame[2]})", 2)
    if length < 3:
        raise FrameError(f"wired long frame length {length} leaves no room for C, A and CI", 1)
    total = length + 6
    if len(frame) < total:
        raise TruncatedError(f"wired frame announces {total} bytes, has {len(frame)}", len(frame))
    if len(frame) > total:
        raise FrameError(f"{len(frame) - total} bytes after the wired frame's stop byte", total)
    if frame[total - 1] != STOP:
        raise FrameError("wired frame does not end with 16", total - 1)
    if sum(frame[HEAD_SIZE : total - 2]) & 0xFF != frame[total - 2]:
        raise CrcError("wired frame checksum mismatch", total - 2)
    return WiredLink(frame[4], frame[5], frame[6]), bytes(frame[: total - 2])
