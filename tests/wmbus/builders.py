"""Build encrypted telegrams from the plaintext vectors, as a meter with a known key would send them."""

from __future__ import annotations

from gateway.wmbus import security
from gateway.wmbus.ell import EllCi
from gateway.wmbus.telegram import Telegram, parse_telegram
from gateway.wmbus.tpl import HeaderKind


def _address(telegram: Telegram) -> bytes:
    if telegram.tpl is not None and telegram.tpl.m_and_a is not None:
        return telegram.tpl.m_and_a
    if telegram.ell is not None and telegram.ell.m_and_a is not None:
        return telegram.ell.m_and_a
    assert telegram.link is not None
    return telegram.link.m_and_a


def _encrypted_size(telegram: Telegram) -> int:
    assert telegram.tpl is not None
    blocks = telegram.tpl.encrypted_blocks
    size = len(telegram.payload)
    return blocks * 16 if blocks else size - size % 16


def encrypt_mode5(plain: bytes, key: bytes) -> bytes:
    """Encrypt a decrypted mode 5 telegram (payload starting 2F2F) under ``key``."""
    telegram = parse_telegram(plain)
    assert telegram.tpl is not None and telegram.tpl.access_number is not None
    iv = security.mode5_iv(_address(telegram), telegram.tpl.access_number)
    pos, size = telegram.payload_offset, _encrypted_size(telegram)
    body = telegram.raw[pos : pos + size]
    return telegram.raw[:pos] + security.cbc_encrypt(key, iv, body) + telegram.raw[pos + size :]


def _tpl_position(telegram: Telegram) -> int:
    assert telegram.tpl is not None
    header = {HeaderKind.NONE: 1, HeaderKind.SHORT: 5, HeaderKind.LONG: 13}[telegram.tpl.kind]
    return telegram.payload_offset - header - (1 if telegram.tpl.config_ext is not None else 0)


def encrypt_mode7(plain: bytes, key: bytes) -> bytes:
    """Encrypt a decrypted mode 7 telegram under Kenc and put the right AFL MAC in."""
    telegram = parse_telegram(plain)
    afl = telegram.afl
    assert afl is not None and afl.counter_bytes is not None and afl.mac is not None and afl.mcl is not None
    kenc, kmac = security.derive_mode7_keys(key, afl.counter_bytes, _address(telegram)[2:6])
    pos, size = telegram.payload_offset, _encrypted_size(telegram)
    raw = telegram.raw
    frame = raw[:pos] + security.cbc_encrypt(kenc, bytes(16), raw[pos : pos + size]) + raw[pos + size :]
    tpl_pos = _tpl_position(telegram)
    length = b"" if afl.message_length is None else afl.message_length.to_bytes(2, "little")
    authenticated = bytes((afl.mcl,)) + afl.counter_bytes + length + frame[tpl_pos:]
    mac = security.cmac(kmac, authenticated)[: len(afl.mac)]
    mac_pos = tpl_pos - len(afl.mac)
    return frame[:mac_pos] + mac + frame[tpl_pos:]


def encrypt_ell(plain: bytes, key: bytes) -> bytes:
    """Encrypt a plaintext ELL-with-session telegram (CI 0x8D/0x8F) with AES-CTR."""
    telegram = parse_telegram(plain)
    ell = telegram.ell
    assert ell is not None and ell.session_number is not None and telegram.link is not None
    start = 10 + (7 if ell.ci == EllCi.SESSION else 15)
    counter = security.ell_counter_block(
        ell.m_and_a or telegram.link.m_and_a, ell.cc, ell.session_number.to_bytes(4, "little")
    )
    raw = telegram.raw
    return raw[:start] + security.ctr_crypt(key, counter, raw[start:])
