"""OMS security: mode 5 (AES-CBC, IV from the address), mode 7 (AES-CBC under CMAC-derived keys, AFL MAC),
ELL AES-CTR and the old mode 2 (DES-CBC, IV 0), each with the check that tells a right key from a wrong one.

AES objects are cached per provisioned key (ECB objects are stateless, so reuse is safe; the cache holds
up to 1,024 keys, ~0.9 MB, and starts over when full: a cipher per meter of a large fleet would cost more
than its set-up saves); CBC, CTR and CMAC are built on them so that a telegram costs one or two C calls,
not a cipher set-up. Mode 7 session keys serve one telegram and are never cached.
Keys never enter a message.
"""

from __future__ import annotations

from typing import Any

from Crypto.Cipher import AES, DES

from gateway.wmbus.crc import crc16, crc16_from
from gateway.wmbus.errors import DecryptionError, MacError, TruncatedError, WrongKeyError

BLOCK = 16
DES_BLOCK = DES_KEY = 8  # DES: 8-byte blocks, 8-byte keys (56 bits and 8 parity bits)
CHECK_BYTES = b"\x2f\x2f"
_MASK = (1 << 128) - 1
_ECB_CACHE_MAX = 1024
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


def clear_caches() -> None:
    """Forget the AES objects of the keys seen so far (benchmarks and tests)."""
    _ecb_cache.clear()
    _cmac_subkeys.clear()


def _xor(left: bytes, right: bytes) -> bytes:
    return (int.from_bytes(left, "big") ^ int.from_bytes(right, "big")).to_bytes(len(left), "big")


def check_key(key: bytes, meter_id: str) -> None:
    """Raise DecryptionError unless ``key`` is an AES-128 key (16 bytes)."""
    if len(key) != BLOCK:
        raise DecryptionError(f"AES key must be 16 bytes, got {len(key)}", meter_id)


def cbc_decrypt(key: bytes, iv: bytes, data: bytes, *, cached: bool = True) -> bytes:
    """AES-128-CBC decryption of whole blocks, through the cached ECB cipher (``cached=False``: a key
    used once, which must not evict the provisioned ones)."""
    cipher = _ecb(key) if cached else AES.new(key, AES.MODE_ECB)
    return _xor(cipher.decrypt(data), iv + data[:-BLOCK])


def cbc_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES-128-CBC encryption of whole blocks (used to build test and simulated telegrams)."""
    return AES.new(key, AES.MODE_CBC, iv=iv).encrypt(data)


# Counter blocks of up to 16 blocks (a wM-Bus payload is shorter than 256 bytes) as one integer:
# start * _REPEAT[n] + _RAMP[n] is start, start + 1, ... start + n - 1, each in its own 128-bit slot.
_REPEAT = [sum(1 << (128 * k) for k in range(n)) for n in range(17)]
_RAMP = [sum(i << (128 * (n - 1 - i)) for i in range(n)) for n in range(17)]


def ctr_crypt(key: bytes, counter_block: bytes, data: bytes) -> bytes:
    """AES-128-CTR (the whole 16-byte block counts up), encryption and decryption alike."""
    start = int.from_bytes(counter_block, "big")
    blocks = (len(data) + BLOCK - 1) // BLOCK
    if blocks < len(_REPEAT) and start + blocks <= _MASK:  # no counter wraps round
        counters = (start * _REPEAT[blocks] + _RAMP[blocks]).to_bytes(blocks * BLOCK, "big")
    else:
        counters = b"".join(((start + i) & _MASK).to_bytes(BLOCK, "big") for i in range(blocks))
    stream = _ecb(key).encrypt(counters)
    return _xor(data, stream[: len(data)])


def _double(value: int) -> int:
    """Multiplication by x in GF(2^128): the step from L to K1 and from K1 to K2 (RFC 4493 2.3)."""
    return ((value << 1) & _MASK) ^ (0x87 if value >> 127 else 0)


def _subkeys(key: bytes) -> tuple[int, int]:
    pair = _cmac_subkeys.get(key)
    if pair is None:
        k1 = _double(int.from_bytes(_ecb(key).encrypt(bytes(BLOCK)), "big"))
        pair = _cmac_subkeys[key] = (k1, _double(k1))
    return pair


def cmac(key: bytes, message: bytes) -> bytes:
    """AES-CMAC (RFC 4493) of ``message``, 16 bytes, under a key used once (nothing is cached).

    One CBC cipher does it all: its first block, E(0) = L, gives the subkeys and leaves L in the chain,
    which the message's first block then cancels (XOR L) so that the chain runs from zero as CMAC's does.
    """
    cipher = AES.new(key, AES.MODE_CBC, iv=bytes(BLOCK))
    chained = int.from_bytes(cipher.encrypt(bytes(BLOCK)), "big")
    k1 = _double(chained)
    if message and len(message) % BLOCK == 0:
        padded, subkey = message, k1
    else:
        padded, subkey = message + b"\x80" + bytes(BLOCK - 1 - len(message) % BLOCK), _double(k1)
    size = len(padded)
    blocks = int.from_bytes(padded, "big") ^ subkey ^ (chained << (8 * size - 8 * BLOCK))
    return bytes(cipher.encrypt(blocks.to_bytes(size, "big"))[-BLOCK:])


def derive_mode7_keys(master: bytes, counter_bytes: bytes, id_bytes: bytes) -> tuple[bytes, bytes]:
    """Kenc and Kmac of OMS Vol. 2 9.6.1: CMAC(master, DC || counter || id || 0x07 * 7), DC 0x00 and 0x01.

    Each input is one whole block, whose CMAC is E(block XOR K1): both keys come from one call of the
    master key's cached cipher.
    """
    tail = counter_bytes + id_bytes + b"\x07" * 7
    if len(tail) != BLOCK - 1:
        return cmac(master, b"\x00" + tail), cmac(master, b"\x01" + tail)
    k1 = _subkeys(master)[0]
    blocks = int.from_bytes(b"\x00" + tail + b"\x01" + tail, "big") ^ (k1 << 128 | k1)
    keys = bytes(_ecb(master).encrypt(blocks.to_bytes(2 * BLOCK, "big")))
    return keys[:BLOCK], keys[BLOCK:]


_ACCESS_NUMBERS = [bytes((number,)) * 8 for number in range(256)]


def mode5_iv(m_and_a: bytes, access_number: int) -> bytes:
    """IV of mode 5: M (2) and A (6) as sent, then the access number eight times."""
    return m_and_a + _ACCESS_NUMBERS[access_number]


def ell_counter_block(m_and_a: bytes, cc: int, session_bytes: bytes) -> bytes:
    """Initial counter of ELL AES-CTR: M, A, CC without hop and repeat bits, SN, FN = 0, BC = 0."""
    return m_and_a + bytes((cc & ~0x12 & 0xFF,)) + session_bytes + b"\x00\x00\x00"


def ell_crc_ok(data: bytes) -> bool:
    """True when the first two bytes (little-endian) are the CRC-16 of the rest: the ELL's check."""
    return len(data) >= 2 and data[0] | data[1] << 8 == crc16(data[2:])


def ell_crc_ok_at(data: bytes, offset: int) -> bool:
    """``ell_crc_ok(data[offset:])`` without copying the part."""
    return len(data) >= offset + 2 and data[offset] | data[offset + 1] << 8 == crc16_from(data, offset + 2)


_CHECK_WORD = int.from_bytes(CHECK_BYTES, "big")


def decrypt_mode5(
    key: bytes, iv: bytes, data: bytes, *, blocks: int, meter_id: str, offset: int, cached: bool = True
) -> bytes:
    """Decrypt the first ``blocks`` blocks (0: all whole blocks) and check 0x2F2F; return data decrypted.

    ``cached=False`` for a key used once (mode 7's Kenc)."""
    size = blocks * BLOCK if blocks else len(data) - len(data) % BLOCK
    if size == 0 or size > len(data):
        raise TruncatedError(f"meter {meter_id}: {blocks} encrypted blocks, only {len(data)} bytes", offset)
    # cbc_decrypt inline, the check read from the integer before it becomes bytes
    cipher = (_ecb_cache.get(key) or _ecb(key)) if cached else AES.new(key, AES.MODE_ECB)
    encrypted = data[:size] if size < len(data) else data
    plain = int.from_bytes(cipher.decrypt(encrypted), "big") ^ int.from_bytes(iv + encrypted[:-BLOCK], "big")
    if plain >> (8 * size - 16) != _CHECK_WORD:
        raise WrongKeyError("decrypted payload does not start with 2F2F: wrong key", meter_id, offset)
    if size < len(data):
        return plain.to_bytes(size, "big") + data[size:]
    return plain.to_bytes(size, "big")


def open_mode5(  # noqa: PLR0917 - once a mode 5 telegram: positional arguments are the cheaper call
    key: bytes, m_and_a: bytes, access_number: int, data: bytes, offset: int, blocks: int, meter_id: str
) -> bytes:
    """``decrypt_mode5`` of ``data`` from ``offset`` under the cached cipher of ``key``, the IV built from
    the address and access number (``mode5_iv``): the payload decrypted, checked for 0x2F2F."""
    size = blocks * BLOCK if blocks else len(data) - offset - (len(data) - offset) % BLOCK
    end = offset + size
    if size == 0 or end > len(data):
        raise TruncatedError(
            f"meter {meter_id}: {blocks} encrypted blocks, only {len(data) - offset} bytes", offset
        )
    encrypted = data[offset:end]
    plain = int.from_bytes((_ecb_cache.get(key) or _ecb(key)).decrypt(encrypted), "big") ^ int.from_bytes(
        m_and_a + _ACCESS_NUMBERS[access_number] + encrypted[:-BLOCK], "big"
    )
    if plain >> (8 * size - 16) != _CHECK_WORD:
        raise WrongKeyError("decrypted payload does not start with 2F2F: wrong key", meter_id, offset)
    if end < len(data):
        return plain.to_bytes(size, "big") + data[end:]
    return plain.to_bytes(size, "big")


def verify_mac(kmac: bytes, authenticated: bytes, mac: bytes, *, meter_id: str, offset: int) -> None:
    """Check the AFL MAC; ``authenticated`` is MCL, counter, [length,] and the telegram from the TPL CI."""
    computed = cmac(kmac, authenticated)
    if computed[: len(mac)] != mac:
        raise MacError("AFL MAC does not match: wrong key or altered telegram", meter_id, offset)


def open_des_mode2(key: bytes, data: bytes, offset: int, blocks: int, meter_id: str) -> bytes:
    """Mode 2 of EN 13757-3:2004 (withdrawn, still sent by old modules): DES-CBC with a zero IV over
    ``blocks`` 16-byte units from ``offset`` (0: every whole 8-byte block); the payload decrypted, checked
    for 0x2F2F. DES is weak: these meters' data is as good as plaintext to anyone who wants it."""
    if len(key) != DES_KEY:
        raise DecryptionError(f"DES key must be {DES_KEY} bytes, got {len(key)}", meter_id, offset)
    available = len(data) - offset
    size = blocks * BLOCK if blocks else available - available % DES_BLOCK
    end = offset + size
    if size == 0 or end > len(data):
        raise TruncatedError(f"meter {meter_id}: {blocks} encrypted blocks, only {available} bytes", offset)
    plain = DES.new(key, DES.MODE_CBC, iv=bytes(DES_BLOCK)).decrypt(data[offset:end])
    if plain[:2] != CHECK_BYTES:
        raise WrongKeyError("decrypted payload does not start with 2F2F: wrong key", meter_id, offset)
    return plain + data[end:]
