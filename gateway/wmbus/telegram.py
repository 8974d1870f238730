"""A whole telegram: link layer, ELL, AFL and TPL dispatched by CI, decrypted and parsed into records.

``parse_telegram`` takes any bytes and returns a ``Telegram`` or raises a ``WMBusError``; nothing else.
A key (or a ``KeyLookup``, one dict access per telegram) is consulted only when the payload is encrypted.
When a key is known the payload must decrypt and verify; without one, a payload that already passes the
check (0x2F2F, ELL payload CRC) is taken as delivered in plaintext by a front end that decrypted it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple

from gateway.wmbus import security
from gateway.wmbus.afl import AFL_CI, AuthenticationLayer, parse_afl
from gateway.wmbus.diehl import DIEHL_CODES, standard_link
from gateway.wmbus.diehl import clear_caches as clear_diehl_caches
from gateway.wmbus.dll import DLL_HEADER_SIZE, LinkLayer, link_from_header, meter_id_from_bytes, parse_dll
from gateway.wmbus.dll import clear_caches as clear_dll_caches
from gateway.wmbus.ell import ELL_CIS, PAYLOAD_CRC_SIZE, EllEncryption, ExtendedLinkLayer, parse_ell
from gateway.wmbus.errors import (
    CrcError,
    DecryptionError,
    FrameError,
    Identity,
    KeyMissingError,
    TruncatedError,
    UnknownCiError,
    WMBusError,
    WrongKeyError,
)
from gateway.wmbus.manufacturer import decode_manufacturer
from gateway.wmbus.medium import medium_name
from gateway.wmbus.phl import strip_link_crcs
from gateway.wmbus.records import DataRecord, RecordSet, parse_record_set
from gateway.wmbus.records import clear_caches as clear_record_caches
from gateway.wmbus.tpl import (
    ALARM_REPORT_CI,
    MANUFACTURER_CIS,
    TPL_CIS,
    HeaderKind,
    SecurityMode,
    TransportLayer,
    parse_tpl,
)
from gateway.wmbus.tpl import clear_caches as clear_tpl_caches
from gateway.wmbus.wired import START, WiredLink, is_long_frame, parse_long_frame

# Meter id (8 characters as printed) -> AES key, or None when unknown; it must not raise (use dict.get).
KeyLookup = Callable[[str], bytes | None]
KeySource = bytes | KeyLookup | None

_SPECIFIC_MODES = range(16, 32)
# Plain ints for the per-telegram comparisons (an enum member is a class attribute lookup).
_MODE_NONE, _MODE_5, _MODE_7, _MODE_DES = (
    int(SecurityMode.NONE), int(SecurityMode.AES_CBC_IV), int(SecurityMode.AES_CBC_NO_IV),
    int(SecurityMode.DES_NO_IV),
)


class Telegram(NamedTuple):
    """One decoded telegram. Identity fields name the meter: from the TPL long header if there is one, else
    from an ELL with an address, else from the DLL (read as the maker lays it out, see gateway.wmbus.diehl),
    or, for a radio converter (device type 0x37), from the meter's enhanced identification record.
    ``link_id`` is the DLL's id where it differs from ``meter_id`` (a repeater or radio module).

    Immutable like a frozen dataclass, but built in one C call (a frozen dataclass sets its 21 fields one
    call at a time, a tenth of the whole decode). ``records`` are built from ``record_set`` when first read.
    """

    raw: bytes
    link: LinkLayer | None
    ell: ExtendedLinkLayer | None
    afl: AuthenticationLayer | None
    tpl: TransportLayer | None
    meter_id: str
    manufacturer: str
    version: int
    device_type: int
    medium: str
    ci: int
    security_mode: int
    encrypted: bool
    payload: bytes
    payload_offset: int
    record_set: RecordSet
    access_number: int | None
    status: int | None
    wired: bool = False
    wired_link: WiredLink | None = None
    records_error: str | None = None  # why the payload's tail is not in ``records`` (None: all parsed)
    link_id: str | None = None  # the DLL's id where another header names the meter and it differs

    @property
    def identity(self) -> Identity:
        """The header fields that name the meter (what an error carries, see ``peek_identity``)."""
        return Identity(
            self.meter_id, self.manufacturer, self.version, self.device_type, self.medium, self.ci,
            self.access_number, self.link_id,
        )

    @property
    def records(self) -> tuple[DataRecord, ...]:
        """The payload's data records (those before a broken one, see ``records_error``)."""
        return self.record_set.records

    @property
    def status_flags(self) -> frozenset[str]:
        """The TPL status byte as names (busy, application_error, alarm, power_low, ...)."""
        return frozenset() if self.tpl is None else self.tpl.status_flags

    @property
    def compact(self) -> bool:
        """True for compact frames (0x79 and kin): decoders need the layout the format signature names."""
        return self.tpl is not None and self.tpl.compact

    @property
    def manufacturer_specific(self) -> bool:
        """True when the CI hands a manufacturer's own layout (0xA0-0xB7) to the decoders."""
        return self.ci in MANUFACTURER_CIS


def _key_for(key: KeySource, meter_id: str) -> bytes | None:
    """The AES key for ``meter_id``: the one given, the lookup's answer, or None.

    A 16-byte ``bytes`` key or answer (nearly every one) is used as it is, with no isinstance of a union
    (which builds the union object on every call); any other answer is normalised and checked."""
    if type(key) is bytes and len(key) == security.BLOCK:
        return key
    if key is None:
        return None
    if isinstance(key, (bytes, bytearray)):
        return _answered_key(key, meter_id)
    found = key(meter_id)
    if found is None or (type(found) is bytes and len(found) == security.BLOCK):
        return found
    return _answered_key(found, meter_id)


def _answered_key(found: bytes | bytearray, meter_id: str) -> bytes:
    """The key a caller or lookup gave, as bytes and checked (16 bytes)."""
    if type(found) is not bytes:
        found = bytes(found)
    if len(found) != security.BLOCK:
        security.check_key(found, meter_id)  # raises the typed error
    return found


def _open_ell(data: bytes, ell: ExtendedLinkLayer, pos: int, link: LinkLayer, key: KeySource) -> bytes | None:
    """Check the part after an ELL with session (at ``pos``, payload CRC first); return ``data`` with that
    part decrypted, or None when it came in plaintext."""
    if len(data) < pos + PAYLOAD_CRC_SIZE + 1:
        raise TruncatedError("frame ends before the ELL payload CRC and next CI", len(data))
    _, cc, _, session_number, m_and_a, _ = ell
    assert session_number is not None  # an ELL with session
    encryption = (session_number >> 29) & 0x07  # ell.encryption
    if encryption == EllEncryption.NONE:
        if not security.ell_crc_ok_at(data, pos):
            raise CrcError("ELL payload CRC mismatch", pos)
        return None
    meter_id = link.meter_id if m_and_a is None else meter_id_from_bytes(m_and_a[2:6])
    if encryption != EllEncryption.AES_CTR:
        raise DecryptionError(f"ELL encryption {encryption} not supported", meter_id, pos)
    aes_key = _key_for(key, meter_id)
    if aes_key is not None:
        session_bytes = session_number.to_bytes(4, "little")
        counter = security.ell_counter_block(m_and_a or link.m_and_a, cc, session_bytes)
        body = security.ctr_crypt(aes_key, counter, data[pos:])
        if not security.ell_crc_ok_at(body, 0):
            raise WrongKeyError("ELL payload CRC fails after decryption: wrong key", meter_id, pos)
        return data[:pos] + body
    if not security.ell_crc_ok_at(data, pos):
        raise KeyMissingError("ELL payload is encrypted and no key is known", meter_id, pos)
    return None


def _open_tpl(  # noqa: PLR0917 - once an encrypted telegram: positional arguments are the cheaper call
    data: bytes, tpl: TransportLayer, tpl_pos: int, pos: int, mode: int, afl: AuthenticationLayer | None,
    address: bytes, meter_id: str, key: KeySource,
) -> bytes | None:
    """Decrypt and verify the TPL's encrypted blocks (modes 5 and 7, from ``pos``; ``mode`` is
    tpl.security_mode); return the payload (``data`` from ``pos``) decrypted, or None when there is
    nothing to decrypt."""
    if mode == _MODE_NONE or mode in _SPECIFIC_MODES:
        # Specific-use modes belong to a maker's decoder, which finds the payload as sent.
        return None
    if mode == _MODE_DES:
        return _open_des(data, tpl, pos, meter_id, key)
    aes_key = _key_for(key, meter_id)
    if aes_key is None:
        if data[pos : pos + 2] == security.CHECK_BYTES:
            return None
        raise KeyMissingError(f"payload is encrypted (mode {mode}) and no key is known", meter_id, pos)
    if mode == _MODE_5:
        return security.open_mode5(
            aes_key, address, tpl.access_number or 0, data, pos, (tpl.config or 0) >> 4 & 0x0F, meter_id
        )
    if mode == _MODE_7:
        return _open_mode7(data, tpl, tpl_pos, pos, afl, address, meter_id, aes_key)
    raise DecryptionError(f"security mode {mode} not supported", meter_id, pos)


def _open_des(data: bytes, tpl: TransportLayer, pos: int, meter_id: str, key: KeySource) -> bytes | None:
    """Mode 2 (DES-CBC, IV 0) under the meter's 8-byte DES key; None when a front end already opened it."""
    des_key = key if key is None or isinstance(key, bytes | bytearray) else key(meter_id)
    if des_key is None:
        if data[pos : pos + 2] == security.CHECK_BYTES:
            return None
        raise KeyMissingError("payload is encrypted (mode 2, DES) and no key is known", meter_id, pos)
    return security.open_des_mode2(bytes(des_key), data, pos, (tpl.config or 0) >> 4 & 0x0F, meter_id)


def _open_mode7(  # noqa: PLR0917 - positional, as _open_tpl
    data: bytes, tpl: TransportLayer, tpl_pos: int, pos: int, afl: AuthenticationLayer | None,
    address: bytes, meter_id: str, aes_key: bytes,
) -> bytes:
    if afl is None:
        raise DecryptionError("security mode 7 needs the AFL message counter", meter_id, pos)
    _, mcl, _, _, counter_bytes, message_length, mac = afl
    if counter_bytes is None:
        raise DecryptionError("security mode 7 needs the AFL message counter", meter_id, pos)
    config_ext = tpl.config_ext
    kdf_selection = None if config_ext is None else (config_ext >> 4) & 0x03  # tpl.kdf_selection
    if kdf_selection != 1:
        raise DecryptionError(f"mode 7 key derivation {kdf_selection} not supported", meter_id, pos)
    kenc, kmac = security.derive_mode7_keys(aes_key, counter_bytes, address[2:6])
    if mac is not None and mcl is not None:
        length = b"" if message_length is None else message_length.to_bytes(2, "little")
        authenticated = bytes((mcl,)) + counter_bytes + length + data[tpl_pos:]
        security.verify_mac(kmac, authenticated, mac, meter_id=meter_id, offset=pos)
    return security.decrypt_mode5(
        kenc, bytes(16), data[pos:], blocks=(tpl.config or 0) >> 4 & 0x0F, meter_id=meter_id, offset=pos,
        cached=False,
    )


_NO_RECORDS = RecordSet(b"", 0, (), None, None)


def _parse_radio(frame: bytes, key: KeySource) -> Telegram:
    length = frame[0]
    if length < DLL_HEADER_SIZE:
        raise TruncatedError(f"L field {length} leaves no room for a CI field", 0)
    if len(frame) <= length:
        raise TruncatedError(f"L field announces {length + 1} bytes, frame has {len(frame)}", len(frame))
    # Bytes beyond L (some front ends append RSSI or padding) are not part of the telegram.
    frame = frame[: length + 1]
    link = link_from_header(frame[:DLL_HEADER_SIZE])  # parse_dll, whose length check is the one above
    if link.manufacturer_code in DIEHL_CODES:
        link = standard_link(link, frame)
    pos = DLL_HEADER_SIZE
    ci = frame[pos]
    if ci in TPL_CIS:  # the usual telegram: the TPL right after the DLL
        return _finish(frame, frame, pos, ci, False, key, link, None, None, None, None)
    data = frame  # decrypted as the layers open
    encrypted = False
    ell = afl = None
    if ci in ELL_CIS:
        ell, pos = parse_ell(frame, pos)
        if ell.session_number is not None:
            opened = _open_ell(frame, ell, pos, link, key)
            if opened is not None:
                data, encrypted = opened, True
            pos += PAYLOAD_CRC_SIZE
            crc = data[pos - 2] | data[pos - 1] << 8
            ell = _new_telegram(ExtendedLinkLayer, (*ell[:5], crc))  # tuple.__new__: one C call
        if pos >= len(data):
            raise TruncatedError("frame ends after the ELL", pos)
        ci = data[pos]
    if ci == AFL_CI:
        afl, pos = parse_afl(data, pos)
        if pos >= len(data):
            raise TruncatedError("frame ends after the AFL", pos)
        ci = data[pos]
    address = None if ell is None else ell.m_and_a
    return _finish(frame, data, pos, ci, encrypted, key, link, ell, afl, address, None)


@lru_cache(maxsize=1024)  # like the DLL's: recent meters only, memory must not grow with the fleet
def _identity(address: bytes) -> tuple[str, str, int, int, str]:
    """(meter id, manufacturer, version, device type, medium) of an M+A address; cached like the DLL."""
    device_type = address[7]
    return (
        meter_id_from_bytes(address[2:6]),
        decode_manufacturer(address[0] | address[1] << 8),
        address[6],
        device_type,
        medium_name(device_type),
    )


_new_telegram = tuple.__new__


def _finish(  # noqa: PLR0917 - once a telegram: positional arguments are the cheaper call
    raw: bytes, data: bytes, pos: int, ci: int, encrypted: bool, key: KeySource, link: LinkLayer | None,
    ell: ExtendedLinkLayer | None, afl: AuthenticationLayer | None, address: bytes | None,
    wired_link: WiredLink | None,
) -> Telegram:
    """Dispatch the CI at ``pos`` of ``data`` (``raw`` as received, decrypted so far) that introduces the
    application data, and build the Telegram. ``address``: the M+A that names the meter unless a TPL long
    header does (None: the DLL's)."""
    tpl = None
    security_mode = 0
    access_number = None if ell is None else ell.access_number
    status = None
    if ci in TPL_CIS:
        tpl_pos = pos
        tpl, pos = parse_tpl(data, pos)
        _, _, compact, tpl_access_number, status, config, _, _, _, _, _, tpl_address = tpl
        if tpl_address is not None:
            address = tpl_address
        payload = None
        if config:
            security_mode = (config >> 8) & 0x1F  # tpl.security_mode
            # Without a key a payload that starts with the check bytes is taken as sent, whatever the
            # mode (what _open_tpl answers), with no identity to look up.
            if key is not None or data[pos : pos + 2] != security.CHECK_BYTES:
                if address is None:
                    assert link is not None
                    meter_id, iv_address = link.meter_id, link.m_and_a
                else:
                    meter_id, iv_address = _identity(address)[0], address
                payload = _open_tpl(data, tpl, tpl_pos, pos, security_mode, afl, iv_address, meter_id, key)
                if payload is not None:
                    encrypted = True
        if payload is None:
            payload = data[pos:]
        if tpl_access_number is not None:
            access_number = tpl_access_number
        if compact:
            record_set, records_error = _NO_RECORDS, None
        else:
            # Real meters append what no DIF/VIF describes (checksums, maker bytes, ciphertext of their
            # own modes): the records before the first one that breaks are kept.
            record_set = parse_record_set(payload, pos)
            error = record_set.error
            records_error = None if error is None else str(error)
    elif ci in MANUFACTURER_CIS or ci == ALARM_REPORT_CI:
        pos += 1
        payload = data[pos:]
        record_set, records_error = _NO_RECORDS, None
    else:
        raise UnknownCiError(f"unknown CI field {ci:#04x}", pos)
    link_id = None
    if address is None:  # the DLL's address: its fields are the identity
        assert link is not None
        _, _, _, manufacturer, meter_id, version, device_type, medium, _ = link
        if device_type == _RADIO_CONVERTER:
            address = converted_meter(payload)
    if address is not None:
        meter_id, manufacturer, version, device_type, medium = _identity(address)
        if link is not None and link.meter_id != meter_id:
            link_id = link.meter_id
    return _new_telegram(Telegram, (  # in field order
        raw, link, ell, afl, tpl,
        meter_id, manufacturer, version, device_type, medium,
        ci, security_mode, encrypted, payload, pos, record_set, access_number, status,
        wired_link is not None, wired_link, records_error, link_id,
    ))


_RADIO_CONVERTER = 0x37  # device type of a radio converter, meter side (EN 13757-4)
_ENHANCED_ID = b"\x07\x79"  # DIF 64-bit integer, VIF enhanced identification: id (4), M (2), version, type


def converted_meter(payload: bytes) -> bytes | None:
    """The M+A of the meter behind a radio converter, from the enhanced identification record that opens
    its payload (after the decryption check bytes), or None."""
    start = 2 if payload[:2] == security.CHECK_BYTES else 0
    if payload[start : start + 2] != _ENHANCED_ID or len(payload) < start + 10:
        return None
    return payload[start + 6 : start + 8] + payload[start + 2 : start + 6] + payload[start + 8 : start + 10]


def _parse_wired(frame: bytes, key: KeySource) -> Telegram:
    wired_link, body = parse_long_frame(frame)
    pos = 6  # 68 L L 68 C A, then the CI
    kind = TPL_CIS.get(wired_link.ci, (None, False))[0]
    if kind is not HeaderKind.LONG:
        raise UnknownCiError(f"wired CI {wired_link.ci:#04x} is not a long-header response", pos)
    return _finish(frame, body, pos, wired_link.ci, False, key, None, None, None, b"", wired_link)


def parse_telegram(data: bytes, key: KeySource = None, *, link_crcs: bool = False) -> Telegram:
    """Parse one telegram (CRC-stripped ``L C M A CI ...`` or a wired long frame) and decrypt it.

    ``key`` is one AES key for the telegram or a lookup by meter id; ``link_crcs=True`` means the
    frame still carries its format A or B CRCs. Raises only WMBusError subclasses.
    """
    frame = data if type(data) is bytes else bytes(data)
    if not frame:
        raise TruncatedError("empty frame", 0)
    try:
        if frame[0] == START and is_long_frame(frame):
            return _parse_wired(frame, key)
        if link_crcs:
            frame = bytes(strip_link_crcs(frame)[0])
        return _parse_radio(frame, key)
    except WMBusError as error:
        error.identity = _identity_of(frame)
        raise
    except (IndexError, ValueError, KeyError, TypeError, OverflowError) as exc:
        # A field combination no check above foresaw: still a typed error, never a crash.
        malformed = FrameError(f"malformed telegram ({type(exc).__name__})", None)
        malformed.identity = _identity_of(frame)
        raise malformed from None


def _identity_of(frame: bytes) -> Identity | None:
    """What the headers of a telegram that failed to parse say of its meter, or None."""
    try:
        return peek_identity(frame)
    except (WMBusError, IndexError, ValueError, KeyError, TypeError, OverflowError):
        return None


def clear_caches(*, per_meter_only: bool = False) -> None:
    """Forget what the core caches (benchmarks and tests). ``per_meter_only``: only what is kept per meter
    (first blocks, identities, long-header addresses, AES objects), as a fleet larger than those caches
    has it on every telegram; else also what a fleet shares (short TPL headers, manufacturer codes, record
    layouts and shapes)."""
    _identity.cache_clear()
    clear_dll_caches()
    clear_diehl_caches()
    security.clear_caches()
    clear_tpl_caches(per_meter_only=per_meter_only)
    if not per_meter_only:
        decode_manufacturer.cache_clear()
        clear_record_caches()


def peek_address(data: bytes) -> tuple[str, str, int, int]:
    """(meter id, manufacturer, version, device type) from the headers alone, without decrypting."""
    meter_id, manufacturer, version, device_type = peek_identity(data)[:4]
    return meter_id, manufacturer, version, device_type


def peek_identity(data: bytes) -> Identity:
    """The meter's identity from the headers in clear, without a key: what ``parse_telegram`` reports,
    except where an encrypted ELL hides a TPL long header (then the link layer's or ELL's address, under
    which the key is found). Raises a WMBusError only when not even the link layer can be read."""
    frame = bytes(data)
    if frame[:1] == bytes((START,)) and is_long_frame(frame):
        if len(frame) < 15 or frame[6] not in TPL_CIS or TPL_CIS[frame[6]][0] is not HeaderKind.LONG:
            raise UnknownCiError("wired frame without a long header", 6)
        wired_address = frame[11:13] + frame[7:11] + frame[13:15]
        access_number = frame[15] if len(frame) > 15 else None
        return Identity(*_identity(wired_address), frame[6], access_number, None)
    link = parse_dll(frame)
    if link.manufacturer_code in DIEHL_CODES:
        link = standard_link(link, frame)
    address, access_number, ci = _peek_layers(frame, link.device_type == _RADIO_CONVERTER)
    if address is None:
        return Identity(
            link.meter_id, link.manufacturer, link.version, link.device_type, link.medium, ci, access_number
        )
    meter_id, manufacturer, version, device_type, medium = _identity(address)
    link_id = None if meter_id == link.meter_id else link.meter_id
    return Identity(meter_id, manufacturer, version, device_type, medium, ci, access_number, link_id)


def _peek_layers(frame: bytes, converter: bool) -> tuple[bytes | None, int | None, int | None]:
    """(the M+A naming the meter if a header after the DLL does, access number, CI of the application
    data) from the layers in clear; each stops where the frame ends or a layer is encrypted. ``converter``:
    the DLL is a radio converter's, whose payload may name the meter."""
    pos = DLL_HEADER_SIZE
    address = access_number = None
    ci = frame[pos] if len(frame) > pos else None
    if ci in ELL_CIS:
        try:
            ell, pos = parse_ell(frame, pos)
        except WMBusError:
            return None, None, None
        address, access_number = ell.m_and_a, ell.access_number
        if ell.session_number is not None:
            if ell.encryption != EllEncryption.NONE:
                return address, access_number, None
            pos += PAYLOAD_CRC_SIZE
        ci = frame[pos] if len(frame) > pos else None
    if ci == AFL_CI:
        try:
            _, pos = parse_afl(frame, pos)
        except WMBusError:
            return address, access_number, None
        ci = frame[pos] if len(frame) > pos else None
    if ci is None or ci not in TPL_CIS:
        return address, access_number, ci
    kind = TPL_CIS[ci][0]
    if kind is HeaderKind.LONG:
        if len(frame) >= pos + 9:
            address = frame[pos + 5 : pos + 7] + frame[pos + 1 : pos + 5] + frame[pos + 7 : pos + 9]
        if len(frame) > pos + 9:
            access_number = frame[pos + 9]
    elif kind is HeaderKind.SHORT:
        if len(frame) > pos + 1:
            access_number = frame[pos + 1]
        if address is None and converter and len(frame) > pos + 4 and not frame[pos + 4] & 0x1F:
            address = converted_meter(frame[pos + 5 :])  # security mode 0: the payload is in clear
    elif address is None and converter:
        address = converted_meter(frame[pos + 1 :])
    return address, access_number, ci
