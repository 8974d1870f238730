"""Any byte string yields a Telegram or a WMBusError: random bytes and mutations of every vector."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.wmbus.errors import WMBusError
from gateway.wmbus.telegram import KeyLookup, Telegram, parse_telegram, peek_address
from tests.vectors import all_vectors

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VECTORS = [v.telegram for v in all_vectors()]
KEYS = [v.key for v in all_vectors() if v.key] + [None, bytes(16)]
SAFETY_NET = "malformed telegram ("  # the catch-all in parse_telegram: reaching it is a bug


def _check(data: bytes, key: bytes | KeyLookup | None = None) -> None:
    try:
        telegram = parse_telegram(data, key)
    except WMBusError as exc:
        assert SAFETY_NET not in str(exc), f"unforeseen on {data.hex()}: {exc!r} from {exc.__context__!r}"
        return
    assert isinstance(telegram, Telegram)
    assert telegram.payload_offset <= len(telegram.raw)


def _with_length(frame: bytearray) -> bytes:
    """Keep a radio frame's L field consistent so that mutations reach the deeper layers."""
    if frame and frame[0] != 0x68:
        frame[0] = (len(frame) - 1) & 0xFF
    return bytes(frame)


@SETTINGS
@given(st.binary(max_size=300), st.sampled_from(KEYS))
def test_random_bytes(data: bytes, key: bytes | None) -> None:
    _check(data, key)
    _check(_with_length(bytearray(data)), key)


@SETTINGS
@given(
    st.sampled_from([0x44, 0x46, 0x08]),
    st.sampled_from([0x72, 0x73, 0x78, 0x79, 0x7A, 0x7B, 0x8C, 0x8D, 0x8E, 0x8F, 0x90, 0xA0]),
    st.binary(min_size=8, max_size=8),
    st.binary(max_size=200),
    st.sampled_from(KEYS),
)
def test_random_bodies_behind_valid_headers(c_field: int, ci: int, address: bytes, body: bytes,
                                            key: bytes | None) -> None:
    frame = bytearray((0, c_field)) + address + bytes((ci,)) + body
    _check(_with_length(frame), key)


@SETTINGS
@given(st.sampled_from(VECTORS), st.data())
def test_bit_flips(vector: bytes, data: st.DataObject) -> None:
    frame = bytearray(vector)
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(frame) - 1))
        frame[index] ^= 1 << data.draw(st.integers(0, 7))
    _check(bytes(frame), data.draw(st.sampled_from(KEYS)))
    _check(_with_length(frame), lambda meter_id: bytes(16))


@SETTINGS
@given(st.sampled_from(VECTORS), st.data())
def test_truncation(vector: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(vector)))
    _check(vector[:cut])
    _check(_with_length(bytearray(vector[:cut])), data.draw(st.sampled_from(KEYS)))


@SETTINGS
@given(st.sampled_from(VECTORS), st.data())
def test_insertion(vector: bytes, data: st.DataObject) -> None:
    at = data.draw(st.integers(0, len(vector)))
    inserted = data.draw(st.binary(min_size=1, max_size=20))
    frame = bytearray(vector[:at] + inserted + vector[at:])
    _check(bytes(frame))
    _check(_with_length(frame), data.draw(st.sampled_from(KEYS)))


@SETTINGS
@given(st.binary(max_size=64))
def test_peek_address_is_typed_too(data: bytes) -> None:
    try:
        meter_id, manufacturer, version, device_type = peek_address(data)
    except WMBusError:
        return
    assert len(meter_id) == 8 and len(manufacturer) == 3
    assert 0 <= version <= 255 and 0 <= device_type <= 255
