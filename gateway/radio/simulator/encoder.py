"""Build real wM-Bus telegrams (L first, CRCs removed) the way meters do: the encoder side of the stack.

Layouts: EN 13757-4 (DLL), EN 13757-7 / OMS Vol. 2 (TPL short header, security modes 5 and 7, AFL with
message counter and AES-CMAC, ELL with AES-CTR and payload CRC), EN 13757-3 (DIF/VIF records), and
Techem's MK Radio 3 frame (CI 0xA2, public: wmbusmeters driver_mkradio3). Written independently of
the decoder in gateway.wmbus so that each checks the other.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from Crypto.Cipher import AES

from gateway.wmbus.crc import crc16
from gateway.wmbus.manufacturer import encode_manufacturer

SND_NR = 0x44
CI_TPL_SHORT = 0x7A
CI_NO_TPL = 0x78
CI_AFL = 0x90
CI_ELL_LONG = 0x8D
CI_TECHEM = 0xA2
FILLER = 0x2F
BLOCK = 16

AFL_FCL = 0x2C00  # message control, message counter and MAC present; fragment 0, no more fragments
AFL_MCL = 0x25  # message counter in the MAC, authentication type 5 (AES-CMAC-128 truncated to 8 bytes)
AFL_MAC_SIZE = 8
MODE7_CFE = 0x10  # configuration field extension: key derivation function 1 (OMS CMAC KDF)
ELL_CC = 0x20  # communication control: synchronised frame
ELL_AES_CTR = 0b001 << 29


def address_bytes(meter_id: str, manufacturer: str, version: int, device_type: int) -> bytes:
    """M (2, little-endian) and A (id 4 BCD bytes little-endian, version, device type) as sent."""
    id_bytes = bytes.fromhex(meter_id)[::-1]
    return encode_manufacturer(manufacturer).to_bytes(2, "little") + id_bytes + bytes([version, device_type])


def frame(m_and_a: bytes, body: bytes, c_field: int = SND_NR) -> bytes:
    """L C M A + body, with L = length - 1."""
    head = bytes([c_field]) + m_and_a
    return bytes([len(head) + len(body)]) + head + body


# --- EN 13757-3 records -------------------------------------------------------------------------------


def _dif(data_field: int, storage: int) -> bytes:
    """DIF (with DIFEs when the storage number needs more than its one bit)."""
    dif = data_field | (storage & 1) << 6
    rest = storage >> 1
    difes = bytearray()
    while rest:
        difes.append(rest & 0x0F)
        rest >>= 4
    if not difes:
        return bytes([dif])
    for index in range(len(difes) - 1):
        difes[index] |= 0x80
    return bytes([dif | 0x80]) + bytes(difes)


def bcd(value: int, digits: int) -> bytes:
    """Unsigned BCD, least significant byte first."""
    text = f"{value:0{digits}d}"[-digits:]
    return bytes.fromhex(text)[::-1]


def volume_litres_int32(litres: int, storage: int = 0) -> bytes:
    """Volume in litres (VIF 0x13, 10^-3 m3) as a 32-bit integer."""
    return _dif(0x04, storage) + b"\x13" + (litres & 0xFFFFFFFF).to_bytes(4, "little")


def volume_litres_bcd8(litres: int, storage: int = 0) -> bytes:
    """Volume in litres (VIF 0x13) as 8 BCD digits."""
    return _dif(0x0C, storage) + b"\x13" + bcd(litres, 8)


def date_g(day: date, storage: int = 0) -> bytes:
    """Date, type G (VIF 0x6C)."""
    word = day.day | (day.month << 8) | ((day.year - 2000) & 0x07) << 5 | ((day.year - 2000) >> 3) << 12
    return _dif(0x02, storage) + b"\x6c" + word.to_bytes(2, "little")


def datetime_f(moment: datetime, storage: int = 0) -> bytes:
    """Date and time, type F (VIF 0x6D): minute, hour, day, month, year split over the bytes."""
    year = moment.year - 2000
    value = (
        moment.minute
        | moment.hour << 8
        | (moment.day | (year & 0x07) << 5) << 16
        | (moment.month | (year >> 3) << 4) << 24
    )
    return _dif(0x04, storage) + b"\x6d" + value.to_bytes(4, "little")


def error_flags_8(flags: int) -> bytes:
    """Error flags (VIF 0xFD 0x17), 8 bits."""
    return b"\x01\xfd\x17" + bytes([flags & 0xFF])


def kamstrup_info_codes(flags: int) -> bytes:
    """Kamstrup info codes: manufacturer VIF 0xFF, VIFE 0x20, 16 bits."""
    return b"\x02\xff\x20" + (flags & 0xFFFF).to_bytes(2, "little")


# --- security -----------------------------------------------------------------------------------------
# Built on one cached AES-ECB object per key: the simulator encrypts millions of telegrams a month.


def ecb(key: bytes) -> Any:
    """An AES-128 block cipher for ``key`` (encrypt any number of whole blocks in one call)."""
    return AES.new(key, AES.MODE_ECB)


def _xor(left: bytes, right: bytes) -> bytes:
    return (int.from_bytes(left, "big") ^ int.from_bytes(right, "big")).to_bytes(len(left), "big")


def cbc_encrypt(cipher: Any, iv: bytes, plain: bytes) -> bytes:
    out = bytearray()
    previous = iv
    for pos in range(0, len(plain), BLOCK):
        previous = cipher.encrypt(_xor(previous, plain[pos : pos + BLOCK]))
        out += previous
    return bytes(out)


def _double(block: bytes) -> bytes:
    value = int.from_bytes(block, "big") << 1
    if value >> 128:
        value = (value & ((1 << 128) - 1)) ^ 0x87
    return value.to_bytes(BLOCK, "big")


def cmac_subkeys(cipher: Any) -> tuple[bytes, bytes]:
    """K1, K2 of AES-CMAC (RFC 4493)."""
    k1 = _double(cipher.encrypt(bytes(BLOCK)))
    return k1, _double(k1)


def cmac(cipher: Any, message: bytes, subkeys: tuple[bytes, bytes] | None = None) -> bytes:
    """AES-CMAC (RFC 4493, NIST SP 800-38B) of ``message``."""
    k1, k2 = subkeys or cmac_subkeys(cipher)
    if message and len(message) % BLOCK == 0:
        head, last = message[:-BLOCK], _xor(message[-BLOCK:], k1)
    else:
        cut = len(message) - len(message) % BLOCK
        tail = message[cut:] + b"\x80" + bytes(BLOCK - 1 - len(message) % BLOCK)
        head, last = message[:cut], _xor(tail, k2)
    return cbc_encrypt(cipher, bytes(BLOCK), head + last)[-BLOCK:]


def _pad(plain: bytes) -> bytes:
    return plain + bytes([FILLER]) * (-len(plain) % BLOCK)


def _config_word(mode: int, blocks: int) -> bytes:
    return ((mode << 8) | (blocks << 4)).to_bytes(2, "little")


def oms_mode5(m_and_a: bytes, cipher: Any, access_number: int, status: int, records: bytes) -> bytes:
    """CI 0x7A, security mode 5: AES-128-CBC, IV = M A + access number x 8, plaintext 2F2F + records."""
    plain = _pad(b"\x2f\x2f" + records)
    encrypted = cbc_encrypt(cipher, m_and_a + bytes([access_number]) * 8, plain)
    header = bytes([CI_TPL_SHORT, access_number, status]) + _config_word(5, len(plain) // BLOCK)
    return frame(m_and_a, header + encrypted)


def mode7_keys(
    master: Any, counter: bytes, id_bytes: bytes, subkeys: tuple[bytes, bytes]
) -> tuple[bytes, bytes]:
    """Ephemeral Kenc, Kmac: AES-CMAC(master, 0x00/0x01 || counter || id || 0x07 x 7) (OMS Vol. 2 9.6).

    The derivation input is exactly one block, so its CMAC is E(master, input XOR K1): both in one call.
    """
    tail = counter + id_bytes + b"\x07" * 7
    both = master.encrypt(_xor(b"\x00" + tail, subkeys[0]) + _xor(b"\x01" + tail, subkeys[0]))
    return both[:BLOCK], both[BLOCK:]


def oms_mode7(  # noqa: PLR0917 - the fields of the telegram, in frame order
    m_and_a: bytes,
    master: Any,
    subkeys: tuple[bytes, bytes],
    counter: int,
    access_number: int,
    status: int,
    records: bytes,
) -> bytes:
    """AFL (counter, CMAC) + CI 0x7A in security mode 7: AES-CBC, IV 0, under ephemeral keys."""
    counter_bytes = (counter & 0xFFFFFFFF).to_bytes(4, "little")
    kenc, kmac = mode7_keys(master, counter_bytes, m_and_a[2:6], subkeys)
    plain = _pad(b"\x2f\x2f" + records)
    encrypted = cbc_encrypt(ecb(kenc), bytes(BLOCK), plain)
    tpl = bytes([CI_TPL_SHORT, access_number, status]) + _config_word(7, len(plain) // BLOCK)
    tpl += bytes([MODE7_CFE]) + encrypted
    mac = cmac(ecb(kmac), bytes([AFL_MCL]) + counter_bytes + tpl)[:AFL_MAC_SIZE]
    afl_fields = AFL_FCL.to_bytes(2, "little") + bytes([AFL_MCL]) + counter_bytes + mac
    return frame(m_and_a, bytes([CI_AFL, len(afl_fields)]) + afl_fields + tpl)


def ell_aes_ctr(m_and_a: bytes, cipher: Any, access_number: int, session: int, inner: bytes) -> bytes:
    """CI 0x8D (ELL with session): AES-128-CTR over payload CRC (little-endian) + ``inner`` (CI first)."""
    session_bytes = (ELL_AES_CTR | (session & 0x1FFFFFFF)).to_bytes(4, "little")
    plain = crc16(inner).to_bytes(2, "little") + inner
    prefix = m_and_a + bytes([ELL_CC & ~0x12 & 0xFF]) + session_bytes + b"\x00\x00"
    blocks = (len(plain) + BLOCK - 1) // BLOCK
    stream = cipher.encrypt(b"".join(prefix + bytes([number]) for number in range(blocks)))
    encrypted = _xor(plain, stream[: len(plain)])
    return frame(m_and_a, bytes([CI_ELL_LONG, ELL_CC, access_number]) + session_bytes + encrypted)


# --- Techem MK Radio 3 --------------------------------------------------------------------------------


def techem_mk_radio3(
    m_and_a: bytes, period_end: date, period_m3_tenths: int, today: date, since_m3_tenths: int
) -> bytes:
    """CI 0xA2: last period date and volume, current date and volume since, in 0.1 m3 (little-endian)."""
    period_word = period_end.day | period_end.month << 5 | (period_end.year - 2000) << 9
    today_word = today.day << 4 | today.month << 9
    body = (
        bytes([CI_TECHEM, 0x06])
        + period_word.to_bytes(2, "little")
        + (period_m3_tenths & 0xFFFF).to_bytes(2, "little")
        + today_word.to_bytes(2, "little")
        + (since_m3_tenths & 0xFFFF).to_bytes(2, "little")
        + bytes(37)  # the daily history the meter also sends; the simulator leaves it empty
    )
    return frame(m_and_a, body)


# --- link-layer CRCs (EN 13757-4 frame formats) --------------------------------------------------------

FORMAT_A_FIRST = 10  # L C M A, then its CRC
FORMAT_B_SECOND = 116  # format B's second block: CI and up to 115 bytes, then one CRC over blocks 1 and 2


def _with_crc(block: bytes) -> bytes:
    return block + crc16(block).to_bytes(2, "big")


def format_a(frame: bytes) -> bytes:
    """A stripped frame (L = length - 1) as sent in format A: a CRC after 10 bytes, then every 16."""
    out = _with_crc(frame[:FORMAT_A_FIRST])
    for pos in range(FORMAT_A_FIRST, len(frame), BLOCK):
        out += _with_crc(frame[pos : pos + BLOCK])
    return out


def format_b(frame: bytes) -> bytes:
    """A stripped frame as sent in format B (N mode): L counts the CRCs; one CRC over the first two
    blocks (L C M A and up to 116 more bytes), a third block, if any, with a CRC of its own."""
    first_end = FORMAT_A_FIRST + FORMAT_B_SECOND
    body = frame[1:]
    if len(frame) <= first_end:
        return _with_crc(bytes([len(body) + 2]) + body)
    head, tail = body[: first_end - 1], body[first_end - 1 :]
    return _with_crc(bytes([len(body) + 4]) + head) + _with_crc(tail)
