"""Sontex Supercom 587 (supercom587): the reference's vector, and error flags written from its layout."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.decoders import decode_reading
from gateway.wmbus.telegram import parse_telegram
from tests.decoders.expected import assert_reported
from tests.decoders.frames import address, le, radio, short_tpl
from tests.vectors import Vector, all_vectors

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _supercom() -> list[Vector]:
    return [vector for vector in all_vectors() if vector.driver == "supercom587"]


@pytest.mark.parametrize("vector", _supercom(), ids=lambda vector: vector.name)
def test_supercom_587_reports_what_the_reference_reports(vector: Vector) -> None:
    reading = decode_reading(parse_telegram(vector.telegram), AT)
    assert reading.decoder == "supercom587"
    assert_reported(reading, vector.expected, ("total_m3", "software_version", "status"))


@pytest.mark.parametrize(
    ("flags", "status"),
    [(0x0000, "OK"), (0x0003, "ERROR_FLAGS_3"), (0x0100, "OK"), (0x0108, "ERROR_FLAGS_8")],
)
def test_only_the_low_four_error_flag_bits_are_status(flags: int, status: str) -> None:
    # Written from drivers/src/supercom587.xmq (no vector has flags set): index, software version (6 BCD
    # digits), error flags 02 FD 17 of which bits 0-3 are the status.
    records = b"\x0c\x13" + bytes.fromhex("34120000") + b"\x0b\xfd\x0f" + bytes.fromhex("030001")
    records += b"\x02\xfd\x17" + le(flags, 2)
    frame = radio(address("SON", "22334455", 0x3C, 0x06), 0x7A, short_tpl() + records)
    reading = decode_reading(parse_telegram(frame), AT)
    assert reading.decoder == "supercom587"
    assert reading.total_m3 == pytest.approx(1.234)
    assert reading.extra["software_version"] == "010003"
    assert reading.extra["status"] == status
    assert f"error_flags=0x{flags:04X}" in (reading.status_raw or "")
