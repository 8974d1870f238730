"""A Kamstrup compact frame whose format signature is not built in is read once its full frame was seen.

The layouts below are written for this test (Kamstrup records as drivers/src/kamwater.xmq documents them:
info codes 02 FF 20, volumes, temperature) and registered nowhere else, so the order of frames decides.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.decoders import decode_reading
from gateway.wmbus.crc import crc16
from gateway.wmbus.telegram import parse_telegram
from tests.decoders.frames import address, le, radio

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
METER = address("KAM", "76348799", 0x1B, 0x16)
NEW_KIND = address("KAM", "44556677", 0x77, 0x16)  # a version no other test sends


def _frames(layout: list[tuple[bytes, bytes]], meter: bytes = METER) -> tuple[bytes, bytes]:
    """The full frame (CI 0x78) and the compact frame (CI 0x79) of the same records."""
    full_records = b"".join(header + data for header, data in layout)
    signature = crc16(b"".join(header for header, _ in layout))
    compact = le(signature, 2) + le(crc16(full_records), 2) + b"".join(data for _, data in layout)
    return radio(meter, 0x78, full_records), radio(meter, 0x79, compact)


def test_a_compact_frame_before_its_full_frame_says_so_then_is_read() -> None:
    full, compact = _frames([
        (b"\x02\xff\x20", le(0x0001, 2)), (b"\x04\x13", le(6_408, 4)), (b"\x44\x13", le(6_001, 4)),
        (b"\x01\x5b", b"\x11"),
    ])
    before = decode_reading(parse_telegram(compact), AT)
    assert before.total_m3 is None
    assert before.unsupported is not None
    assert "unknown format signature" in before.unsupported
    assert "has not been seen yet" in before.unsupported
    decode_reading(parse_telegram(full), AT)
    after = decode_reading(parse_telegram(compact), AT)
    assert after.unsupported is None
    assert after.total_m3 == pytest.approx(6.408)
    assert after.target_m3 == pytest.approx(6.001)
    assert after.extra["status"] == "DRY"


def test_a_full_frame_seen_first_is_learnt_for_the_compact_frames() -> None:
    # Before any compact frame of this meter kind: the full frame alone must teach the layout.
    full, compact = _frames([
        (b"\x02\xff\x20", le(0, 2)), (b"\x04\x13", le(20_015, 4)), (b"\x02\x59", le(1_234, 2)),
        (b"\x04\x6d", bytes.fromhex("2a0dc62c")),
    ], NEW_KIND)
    decode_reading(parse_telegram(full), AT)
    reading = decode_reading(parse_telegram(compact), AT)
    assert reading.unsupported is None
    assert reading.total_m3 == pytest.approx(20.015)
    assert reading.flow_temperature_c == pytest.approx(12.34)
