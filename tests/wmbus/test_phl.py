"""Frame formats A and B: CRCs checked, removed and added (EN 13757-4)."""

import pytest

from gateway.wmbus.crc import crc16
from gateway.wmbus.errors import CrcError, TruncatedError
from gateway.wmbus.phl import (
    FrameFormat,
    add_format_a_crcs,
    add_format_b_crcs,
    format_a_length,
    strip_link_crcs,
)
from tests.vectors import Vector, radio_vectors

# A Techem-style cold water telegram from ../shared/vectors/captures/serial_rtlwmbus_ok.msg.
SAMPLE = bytes.fromhex(
    "2e44333003020100071b7a634820252f2f0265840842658308820165950802fb1aae0142fb1aae018201fb1aa9012f"
)


def test_crc16_known_value() -> None:
    # CRC-16/EN-13757 check value for "123456789" (reveng catalogue).
    assert crc16(b"123456789") == 0xC2B7


@pytest.mark.parametrize("vector", radio_vectors(), ids=lambda v: v.name)
def test_format_a_round_trip_on_every_vector(vector: Vector) -> None:
    frame = vector.telegram[: vector.telegram[0] + 1]  # one vector carries bytes beyond its L field
    framed = add_format_a_crcs(frame)
    assert len(framed) == format_a_length(frame[0])
    assert strip_link_crcs(framed) == (frame, FrameFormat.A)


@pytest.mark.parametrize("vector", radio_vectors(), ids=lambda v: v.name)
def test_format_b_round_trip_on_every_vector(vector: Vector) -> None:
    frame = vector.telegram[: vector.telegram[0] + 1]
    framed = add_format_b_crcs(frame)
    assert framed[0] == len(framed) - 1
    assert strip_link_crcs(framed, FrameFormat.B) == (frame, FrameFormat.B)


def test_corrupted_block_names_its_offset() -> None:
    frame = SAMPLE
    framed = bytearray(add_format_a_crcs(frame))
    framed[14] ^= 0x01
    with pytest.raises(CrcError) as err:
        strip_link_crcs(bytes(framed), FrameFormat.A)
    assert err.value.offset == 28


def test_truncated_frame() -> None:
    frame = SAMPLE
    with pytest.raises(TruncatedError):
        strip_link_crcs(add_format_a_crcs(frame)[:-5], FrameFormat.A)
