"""OMS security: CMAC, mode 5, mode 7 with its MAC, ELL AES-CTR; right, wrong and missing keys."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from Crypto.Cipher import AES
from Crypto.Hash import CMAC

from gateway.wmbus import security
from gateway.wmbus.crc import crc16, crc16_from
from gateway.wmbus.errors import AuthenticationError, KeyMissingError, MacError, WrongKeyError
from gateway.wmbus.telegram import parse_telegram
from tests.vectors import Vector, radio_vectors
from tests.wmbus.builders import encrypt_ell, encrypt_mode5, encrypt_mode7

KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
WRONG = bytes.fromhex("f0e0d0c0b0a090807060504030201000")


def _plain(mode: int) -> list[Vector]:
    """Vectors published already decrypted whose TPL says security ``mode``."""
    found = []
    for vector in radio_vectors():
        if vector.key:
            continue
        try:
            telegram = parse_telegram(vector.telegram)
        except Exception:
            continue
        if telegram.security_mode == mode and telegram.payload[:2] == b"\x2f\x2f" and telegram.tpl:
            found.append(vector)
    return found


def _ell_plain() -> list[Vector]:
    return [v for v in radio_vectors() if v.telegram[10] == 0x8D and not v.key]


@pytest.mark.parametrize("length", [0, 1, 15, 16, 17, 31, 32, 40, 64, 100])
def test_cmac_matches_pycryptodome(length: int) -> None:
    message = bytes((i * 7) & 0xFF for i in range(length))
    assert security.cmac(KEY, message) == CMAC.new(KEY, message, ciphermod=AES).digest()


def test_cmac_rfc4493_example() -> None:
    key = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
    message = bytes.fromhex("6bc1bee22e409f96e93d7e117393172a")
    assert security.cmac(key, message).hex() == "070a16b46b4d4144f79bdd9dd04a287c"


def test_cbc_decrypt_inverts_encrypt() -> None:
    iv = bytes(range(16, 32))
    data = bytes(range(64))
    assert security.cbc_decrypt(KEY, iv, security.cbc_encrypt(KEY, iv, data)) == data


def test_ctr_is_its_own_inverse_and_counts_blocks() -> None:
    counter = bytes(15) + b"\xff"
    data = bytes(range(40))
    stream = AES.new(KEY, AES.MODE_CTR, initial_value=counter, nonce=b"").encrypt(data)
    assert security.ctr_crypt(KEY, counter, data) == stream
    assert security.ctr_crypt(KEY, counter, stream) == data


@pytest.mark.parametrize("length", [1, 16, 17, 100, 255])
@pytest.mark.parametrize("counter", [bytes(16), bytes(15) + b"\xf0", b"\xff" * 15 + b"\xf8", b"\xff" * 16])
def test_ctr_counters_as_one_integer_match_block_by_block(counter: bytes, length: int) -> None:
    # The counters of a payload are built at once (no block wraps round) or block by block (one does).
    data = bytes((i * 13) & 0xFF for i in range(length))
    start = int.from_bytes(counter, "big")
    ecb = AES.new(KEY, AES.MODE_ECB)
    stream = b"".join(
        ecb.encrypt(((start + i) % (1 << 128)).to_bytes(16, "big")) for i in range((length + 15) // 16)
    )
    assert security.ctr_crypt(KEY, counter, data) == bytes(a ^ b for a, b in zip(data, stream, strict=False))


@pytest.mark.parametrize("cached", [True, False])
@pytest.mark.parametrize(("blocks", "tail"), [(0, b""), (0, b"\x01\x02"), (2, b""), (2, b"\x01" * 20)])
def test_decrypt_mode5_is_cbc_decryption_of_the_blocks(blocks: int, tail: bytes, cached: bool) -> None:
    iv = bytes(range(16, 32))
    plain = b"\x2f\x2f" + bytes(range(30))
    data = security.cbc_encrypt(KEY, iv, plain) + tail
    found = security.decrypt_mode5(
        KEY, iv, data, blocks=blocks, meter_id="12345678", offset=15, cached=cached
    )
    assert found == plain + tail
    assert found == security.cbc_decrypt(KEY, iv, data[:32]) + tail
    with pytest.raises(WrongKeyError) as caught:
        security.decrypt_mode5(WRONG, iv, data, blocks=blocks, meter_id="12345678", offset=15, cached=cached)
    assert caught.value.offset == 15


@pytest.mark.parametrize("vector", _plain(5)[::3], ids=lambda v: v.name)
def test_mode5_round_trip(vector: Vector) -> None:
    plain = parse_telegram(vector.telegram)
    sent = encrypt_mode5(vector.telegram, KEY)
    assert sent != plain.raw
    telegram = parse_telegram(sent, KEY)
    assert telegram.encrypted and telegram.payload == plain.payload and telegram.records == plain.records
    with pytest.raises(KeyMissingError):
        parse_telegram(sent)
    with pytest.raises(WrongKeyError):
        parse_telegram(sent, WRONG)


def test_plaintext_refused_when_a_key_is_known() -> None:
    vector = _plain(5)[0]
    # A meter provisioned with a key must send ciphertext: a plaintext lookalike could be forged.
    with pytest.raises(WrongKeyError):
        parse_telegram(vector.telegram, KEY)
    assert not parse_telegram(vector.telegram).encrypted


@pytest.mark.parametrize("vector", _plain(7), ids=lambda v: v.name)
def test_mode7_round_trip_and_mac(vector: Vector) -> None:
    plain = parse_telegram(vector.telegram)
    assert plain.afl is not None and plain.afl.mac is not None
    sent = encrypt_mode7(vector.telegram, KEY)
    telegram = parse_telegram(sent, KEY)
    assert telegram.encrypted and telegram.payload == plain.payload and telegram.records == plain.records
    with pytest.raises(MacError):
        parse_telegram(sent, WRONG)
    tampered = bytearray(sent)
    tampered[-1] ^= 0x01
    with pytest.raises(AuthenticationError):
        parse_telegram(bytes(tampered), KEY)
    with pytest.raises(KeyMissingError):
        parse_telegram(sent)


def test_mode7_key_derivation_input() -> None:
    counter, meter = bytes.fromhex("6c160100"), bytes.fromhex("33223322")
    kenc, kmac = security.derive_mode7_keys(KEY, counter, meter)
    assert kenc == CMAC.new(KEY, b"\x00" + counter + meter + b"\x07" * 7, ciphermod=AES).digest()
    assert kmac == CMAC.new(KEY, b"\x01" + counter + meter + b"\x07" * 7, ciphermod=AES).digest()


@pytest.mark.parametrize("vector", _ell_plain()[::2], ids=lambda v: v.name)
def test_ell_ctr_round_trip(vector: Vector) -> None:
    plain = parse_telegram(vector.telegram)
    sent = encrypt_ell(vector.telegram, KEY)
    telegram = parse_telegram(sent, KEY)
    assert telegram.encrypted and telegram.payload == plain.payload and telegram.records == plain.records
    assert telegram.ell is not None and plain.ell is not None
    assert telegram.ell.payload_crc == plain.ell.payload_crc
    with pytest.raises(WrongKeyError):
        parse_telegram(sent, WRONG)
    with pytest.raises(KeyMissingError):
        parse_telegram(sent)


def test_ell_counter_ignores_hop_and_repeat_bits() -> None:
    base = security.ell_counter_block(bytes(8), 0x20, bytes(4))
    assert security.ell_counter_block(bytes(8), 0x32, bytes(4)) == base
    assert base[8] == 0x20 and base[-3:] == b"\x00\x00\x00"


def test_mode5_iv_layout() -> None:
    iv = security.mode5_iv(bytes.fromhex("b409707391221807"), 0x03)
    assert iv == bytes.fromhex("b409707391221807") + b"\x03" * 8


def test_wrong_length_key_error_hides_the_key() -> None:
    with pytest.raises(Exception) as info:
        security.check_key(b"secretkey", "12345678")
    assert "secretkey" not in str(info.value) and "12345678" in str(info.value)


def _result(call: Callable[[], bytes]) -> object:
    try:
        return call()
    except Exception as exc:  # the same typed error, reason and offset
        return type(exc).__name__, str(exc), exc.args


@pytest.mark.parametrize("offset", [0, 15])
@pytest.mark.parametrize("blocks", [0, 1, 2, 3, 9])
@pytest.mark.parametrize("tail", [b"", b"\x01", b"\x01\x02" * 9])
@pytest.mark.parametrize("key", [KEY, WRONG])
def test_open_mode5_is_decrypt_mode5_from_offset(offset: int, blocks: int, tail: bytes, key: bytes) -> None:
    address, access_number = bytes.fromhex("b409707391221807"), 0x5C
    iv = security.mode5_iv(address, access_number)
    plain = b"\x2f\x2f" + bytes(range(46))
    data = bytes(range(100, 100 + offset)) + security.cbc_encrypt(KEY, iv, plain) + tail
    assert _result(
        lambda: security.open_mode5(key, address, access_number, data, offset, blocks, "12345678")
    ) == _result(
        lambda: security.decrypt_mode5(
            key, iv, data[offset:], blocks=blocks, meter_id="12345678", offset=offset
        )
    )


def test_crc16_from_and_ell_crc_ok_at_read_the_part_in_place() -> None:
    rng = random.Random(3)
    for size in range(40):
        data = rng.randbytes(size)
        for offset in range(size + 1):
            assert crc16_from(data, offset) == crc16(data[offset:])
            assert security.ell_crc_ok_at(data, offset) == security.ell_crc_ok(data[offset:])
        body = rng.randbytes(size)
        sealed = crc16(body).to_bytes(2, "little") + body
        for prefix in (b"", b"\x8d" * 7):
            assert security.ell_crc_ok_at(prefix + sealed, len(prefix))
