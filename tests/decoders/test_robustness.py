"""Decoders never raise on data they do not understand: they mark the reading ``unsupported``."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.decoders import REGISTRY, decode_reading
from gateway.wmbus.errors import WMBusError
from gateway.wmbus.manufacturer import encode_manufacturer
from gateway.wmbus.telegram import parse_telegram

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

# Every (manufacturer, version, type, CI) some decoder claims, plus the standard CIs for each.
CLAIMS = sorted(
    {
        (match.manufacturer, match.version or 0x01, match.device_type or 0x07, ci)
        for name in REGISTRY.names()
        for match in REGISTRY.named(name).matches
        for ci in (sorted(match.ci) if match.ci else [0x7A, 0x78, 0x79, 0xA0, 0xA2])
    }
)


def _frame(maker: str, version: int, device_type: int, ci: int, body: bytes) -> bytes:
    data = (b"\x44" + encode_manufacturer(maker).to_bytes(2, "little") + b"\x78\x56\x34\x12"
            + bytes([version, device_type, ci]) + body)
    return bytes([len(data)]) + data


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    claim=st.sampled_from(CLAIMS),
    body=st.binary(max_size=60),
    key=st.one_of(st.none(), st.binary(min_size=16, max_size=16)),
)
def test_random_payloads_never_raise_from_decoders(
    claim: tuple[str, int, int, int], body: bytes, key: bytes | None
) -> None:
    maker, version, device_type, ci = claim
    try:
        telegram = parse_telegram(_frame(maker, version, device_type, ci, body))
    except WMBusError:
        return  # the core rejected it: counted by the daemon, not the decoders' business
    reading = decode_reading(telegram, AT, key=key)
    assert reading.meter_id
    reading.to_json()


def test_short_techem_frame_is_unsupported() -> None:
    reading = decode_reading(parse_telegram(_frame("TCH", 0x74, 0x62, 0xA2, b"\x06\x7f")), AT)
    assert reading.decoder == "mkradio"
    assert reading.total_m3 is None
    assert reading.unsupported is not None and "Techem" in reading.unsupported


def test_na1_without_key_says_key_needed() -> None:
    reading = decode_reading(parse_telegram(_frame("APA", 0x14, 0x07, 0xA0, bytes(18))), AT)
    assert reading.decoder == "apatorna1"
    assert reading.unsupported is not None and "key needed" in reading.unsupported


def test_izar_frame_that_does_not_descramble_is_unsupported() -> None:
    reading = decode_reading(parse_telegram(_frame("SAP", 0x01, 0xD4, 0xA2, bytes(16))), AT)
    assert reading.decoder == "izar"
    assert reading.total_m3 is None
    assert reading.unsupported is not None and "descramble" in reading.unsupported
