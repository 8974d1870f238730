"""Security mode 2 (DES-CBC, IV 0; EN 13757-3:2004, withdrawn, still sent by old ActisLink modules).

The vectors hold one such telegram (an ActisLink, line 1, with its 8-byte key); the others are written
here from the standard's layout: TPL short header with configuration word mode 2, the encrypted part
starting with 0x2F2F.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from Crypto.Cipher import DES

from gateway.decoders import decode_reading
from gateway.keys import KeyFileError, parse_key
from gateway.radio.simulator.encoder import CI_TPL_SHORT, address_bytes, frame, volume_litres_int32
from gateway.wmbus.errors import DecryptionError, KeyMissingError, WrongKeyError
from gateway.wmbus.telegram import parse_telegram
from tests.vectors import all_vectors

KEY = bytes.fromhex("1F2E3D4C5B6A7988")
AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _mode2(plain: bytes, key: bytes = KEY) -> bytes:
    """A mode 2 telegram: configuration word 0x02N0 (mode 2, N 16-byte units encrypted)."""
    padded = plain + b"\x2f" * (-len(plain) % 16)
    sealed = DES.new(key, DES.MODE_CBC, iv=bytes(8)).encrypt(padded)
    body = bytes([CI_TPL_SHORT, 0x07, 0x00]) + (0x0200 | (len(padded) // 16) << 4).to_bytes(2, "little")
    return frame(address_bytes("00004242", "ALK", 0x04, 0x07), body + sealed)


def test_the_actislink_vector_opens_with_its_des_key() -> None:
    vector = next(vector for vector in all_vectors() if vector.line == 1)
    assert vector.key is not None and len(vector.key) == 8
    telegram = parse_telegram(vector.telegram, vector.key)
    reading = decode_reading(telegram, AT)
    assert telegram.encrypted and telegram.security_mode == 2
    assert reading.meter_id == vector.expected["id"]
    assert reading.decoder == "actislink"
    assert reading.total_m3 == vector.expected["total_m3"]


def test_mode2_written_from_the_layout() -> None:
    sent = _mode2(b"\x2f\x2f" + volume_litres_int32(48213))
    reading = decode_reading(parse_telegram(sent, KEY), AT)
    assert reading.total_m3 == pytest.approx(48.213)
    # A key lookup answers with the DES key as it would with an AES one.
    assert decode_reading(parse_telegram(sent, {"00004242": KEY}.get), AT).total_m3 == pytest.approx(48.213)


def test_mode2_without_key_wrong_key_and_aes_key() -> None:
    sent = _mode2(b"\x2f\x2f" + volume_litres_int32(1))
    with pytest.raises(KeyMissingError):
        parse_telegram(sent)
    with pytest.raises(WrongKeyError) as wrong:
        parse_telegram(sent, bytes(8))
    assert KEY.hex() not in str(wrong.value)
    with pytest.raises(DecryptionError) as aes:
        parse_telegram(sent, bytes(16))
    assert "8 bytes" in str(aes.value)


def test_mode2_already_opened_by_a_front_end_needs_no_key() -> None:
    plain = b"\x2f\x2f" + volume_litres_int32(5000) + b"\x2f" * 8
    body = bytes([CI_TPL_SHORT, 0x07, 0x00]) + (0x0210).to_bytes(2, "little") + plain
    telegram = parse_telegram(frame(address_bytes("00004242", "ALK", 0x04, 0x07), body))
    assert not telegram.encrypted
    assert decode_reading(telegram, AT).total_m3 == 5.0


def test_keys_file_takes_des_keys_and_refuses_other_lengths() -> None:
    assert parse_key("1F2E3D4C5B6A7988", "00004242") == KEY
    assert len(parse_key("00" * 16, "00004242")) == 16
    with pytest.raises(KeyFileError) as info:
        parse_key("1F2E3D4C5B6A79", "00004242")
    assert "1F2E3D4C5B6A79" not in str(info.value)
