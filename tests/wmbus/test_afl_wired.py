"""AFL fields and refusals, wired long-frame checks."""

from __future__ import annotations

import pytest

from gateway.wmbus.afl import FragmentationControl, parse_afl
from gateway.wmbus.errors import CrcError, FrameError, TruncatedError, UnknownCiError
from gateway.wmbus.telegram import parse_telegram
from gateway.wmbus.wired import parse_long_frame
from tests.vectors import all_vectors, radio_vectors


def _afl_vector() -> bytes:
    return next(v.telegram for v in radio_vectors() if v.telegram[10] == 0x8C and v.telegram[13] == 0x90)


def test_afl_fields_of_a_vector() -> None:
    frame = _afl_vector()
    afl, end = parse_afl(frame, 13)
    assert afl.fcl & FragmentationControl.MAC_PRESENT and afl.fcl & FragmentationControl.COUNTER_PRESENT
    assert afl.mac is not None and len(afl.mac) == 8 and afl.authentication_type == 5
    assert afl.counter_bytes == frame[18:22] and afl.message_counter == int.from_bytes(frame[18:22], "little")
    assert not afl.more_fragments and afl.fragment_id == 0
    assert frame[end] == 0x7A


def test_fragmented_afl_is_refused() -> None:
    frame = bytearray(_afl_vector())
    frame[16] |= 0x40  # more fragments follow
    with pytest.raises(FrameError, match="fragmented"):
        parse_telegram(bytes(frame))


def test_afl_length_must_match_its_fields() -> None:
    frame = bytearray(_afl_vector())
    frame[14] -= 1
    with pytest.raises(FrameError):
        parse_telegram(bytes(frame))


def _wired() -> bytes:
    return next(v.telegram for v in all_vectors() if v.wired)


def test_wired_checks() -> None:
    frame = _wired()
    link, body = parse_long_frame(frame)
    assert link.ci == 0x72 and body == frame[:-2]
    with pytest.raises(FrameError, match="lengths differ"):
        parse_long_frame(frame[:2] + bytes((frame[2] + 1,)) + frame[3:])
    with pytest.raises(FrameError, match="stop byte"):
        parse_long_frame(frame + b"\x00")
    with pytest.raises(FrameError, match="end with 16"):
        parse_long_frame(frame[:-1] + b"\x17")
    with pytest.raises(TruncatedError):
        parse_long_frame(frame[:-3])
    broken = bytearray(frame)
    broken[10] ^= 0x01
    with pytest.raises(CrcError):
        parse_long_frame(bytes(broken))


def test_wired_frame_without_long_header() -> None:
    body = bytes((0x08, 0x01, 0x78, 0x2F, 0x2F))
    frame = bytes((0x68, len(body), len(body), 0x68)) + body + bytes((sum(body) & 0xFF, 0x16))
    with pytest.raises(UnknownCiError):
        parse_telegram(frame)
