"""OMS security: mode 5 (AES-CBC, IV from the address), mode 7 (AES-CBC under CMAC-derived keys, AFL MAC)
and ELL AES-CTR, each with the check that tells a right key from a wrong one.

AES objects are cached per key (ECB objects are stateless, so reuse is safe); CBC, CTR and CMAC are
built on them so that a telegram costs two C calls, not a cipher set-up. Keys never enter a message.
"""

from __future__ import annotations

from typing import Any

from Crypto.Cipher import AES

from gateway.wmbus.crc import crc16
from gateway.wmbus.errors import DecryptionError, MacError, TruncatedError, WrongKeyError

BLOCK = 16
CHECK_BYTES = b"\x2f\x2f"
_ECB_CACHE_MAX = 65536
_ecb_cache: dict[bytes, Any] = {}
_cmac_subkeys: dict[bytes, tuple[int, int]] = {}


def _ecb(key: bytes) -> Any:
    cipher = _ecb_cache.get(key)
    if cipher is None:
        if len(_ecb_cache) >= _ECB_CACHE_MAX:
            _ecb_cache.clear()
            _cmac_subkeys.clear()
        cipher = _ecb_cache[key] = AES.new(key, AES.MODE_ECB)
    return cipher


def _xor(left: bytes, right: bytes) -> bytes:
    return (int.from_bytes(left, "big") ^ int.from_bytes(right, "big")).to_bytes(len(left), "big")


def check_key(key: bytes, meter_id: str) -> None:
    """Raise DecryptionError unless ``key`` is an AES-128 key (16 bytes)."""
    if len(key) != BLOCK:
        raise DecryptionError(f"AES key must be 16 bytes, got {len(key)}", meter_id)


def cbc_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES-128-CBC decryption of whole blocks, through the cached ECB cipher."""
    plain = _ecb(key).decrypt(data)
    return _xor(plain, iv + data[:-BLOCK])


def cbc_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES-128-CBC encryption of whole blocks (used to build test and simulated telegrams)."""
    return AES.new(key, AES.MODE_CBC, iv=iv).encrypt(data)


def ctr_crypt(key: bytes, counter_block: bytes, data: bytes) -> bytes:
    """AES-128-CTR (the whole 16-byte block counts up), encryption and decryption alike."""
    start = int.from_bytes(counter_block, "big")
    blocks = (len(data) + BLOCK - 1) // BLOCK
    counters = b"".join(((start + i) & ((1 << 128) - 1)).to_bytes(BLOCK, "big") for i in range(blocks))
    stream = _ecb(key).encrypt(counters)
    return _xor(data, stream[: len(data)])


def _subkeys(key: bytes) -> tuple[int, int]:
    pair = _cmac_subkeys.get(key)
    if pair is None:
        mask = (1 << 128) - 1
        zero = int.from_bytes(_ecb(key).encrypt(bytes(BLOCK)), "big")
        k1 = ((zero << 1) & mask) ^ (0x87 if zero >> 127 else 0)
        k2 = ((k1 << 1) & mask) ^ (0x87 if k1 >> 127 else 0)
        pair = _cmac_subkeys[key] = (k1, k2)
    return pair


def cmac(key: bytes, message: bytes) -> bytes:
    """AES-CMAC (RFC 4493) of ``message``, 16 bytes."""
    k1, k2 = _subkeys(key)
    if message and len(message) % BLOCK == 0:
        head, last, subkey = message[:-BLOCK], message[-BLOCK:], k1
    else:
        cut = len(message) - len(message) % BLOCK
        head, last, subkey = message[:cut], message[cut:] + b"\x80", k2
        last += bytes(BLOCK - len(last))
    last_block = (int.from_bytes(last, "big") ^ subkey).to_bytes(BLOCK, "big")
    if not head:
        return bytes(_ecb(key).encrypt(last_block))
    chained = AES.new(key, AES.MODE_CBC, iv=bytes(BLOCK)).encrypt(head + last_block)
    return bytes(chained[-BLOCK:])


def derive_mode7_keys(master: bytes, counter_bytes: bytes, id_bytes: bytes) -> tuple[bytes, bytes]:
    """Kenc and Kmac of OMS Vol. 2 9.6.1: CMAC(master, DC || counter || id || 0x07 * 7)."""
    tail = counter_bytes + id_bytes + b"\x07" * 7
    return cmac(master, b"\x00" + tail), cmac(master, b"\x01" + tail)


def mode5_iv(m_and_a: bytes, access_number: int) -> bytes:
    """IV of mode 5: M (2) and A (6) as sent, then the access number eight times."""
    return m_and_a + bytes((access_number,)) * 8


def ell_counter_block(m_and_a: bytes, cc: int, session_bytes: bytes) -> bytes:
    """Initial counter of ELL AES-CTR: M, A, CC without hop and repeat bits, SN, FN = 0, BC = 0."""
    return m_and_a + bytes((cc & ~0x12 & 0xFF,)) + session_bytes + b"\x00\x00\x00"


def ell_crc_ok(data: bytes) -> bool:
    """True when the first two bytes (little-endian) are the CRC-16 of the rest: the ELL's check."""
    return len(data) >= 2 and data[0] | data[1] << 8 == crc16(data[2:])


def decrypt_mode5(key: bytes, iv: bytes, data: bytes, *, blocks: int, meter_id: str, offset: int) -> bytes:
    """Decrypt the first ``blocks`` blocks (0: all whole blocks) and check 0x2F2F; return data decrypted."""
    size = blocks * BLOCK if blocks else len(data) - len(data) % BLOCK
    if size == 0 or size > len(data):
        raise TruncatedError(f"meter {meter_id}: {blocks} encrypted blocks, only {len(data)} bytes", offset)
    plain = cbc_decrypt(key, iv, data[:size])
    if plain[:2] != CHECK_BYTES:
        raise WrongKeyError("decrypted payload does not start with 2F2F: wrong key", meter_id, offset)
    return plain + data[size:]


def verify_mac(kmac: bytes, authenticated: bytes, mac: bytes, *, meter_id: str, offset: int) -> None:
    """Check the AFL MAC; ``authenticated`` is MCL, counter, [length,] and the telegram from the TPL CI."""
    computed = cmac(kmac, authenticated)
    if computed[: len(mac)] != mac:
        raise MacError("AFL MAC does not match: wrong key or altered telegram", meter_id, offset)
