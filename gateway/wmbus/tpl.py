"""The transport layer of EN 13757-7: CI 0x72/0x73 long, 0x7A/0x7B short and 0x78/0x79 no header."""

from __future__ import annotations

import struct
from enum import IntEnum, IntFlag
from functools import lru_cache
from typing import NamedTuple

from construct import Bytes, Int8ul, Int16ul, Struct

from gateway.wmbus.dll import meter_id_from_bytes
from gateway.wmbus.errors import TruncatedError
from gateway.wmbus.manufacturer import decode_manufacturer
from gateway.wmbus.medium import medium_name


class HeaderKind(IntEnum):
    """How much TPL header a CI announces."""

    NONE = 0
    SHORT = 1
    LONG = 2


class SecurityMode(IntEnum):
    """Security modes of the configuration word (EN 13757-7 table 18); 16-31 are for specific use."""

    NONE = 0
    DES_NO_IV = 2
    DES_IV = 3
    AES_CBC_IV = 5
    AES_CBC_NO_IV = 7
    AES_GCM = 8
    AES_CCM = 9
    SPECIFIC = 16


class Status(IntFlag):
    """Bits of the TPL status byte; bits 0-1 together form the application state."""

    BUSY = 0x01
    APPLICATION_ERROR = 0x02
    ALARM = 0x03
    POWER_LOW = 0x04
    PERMANENT_ERROR = 0x08
    TEMPORARY_ERROR = 0x10
    MANUFACTURER_1 = 0x20
    MANUFACTURER_2 = 0x40
    MANUFACTURER_3 = 0x80


def status_flags(status: int) -> frozenset[str]:
    """The status byte as names: busy/application_error/alarm, power_low, ..., manufacturer_1-3."""
    return _STATUS_FLAGS[status & 0xFF]


def _status_names(status: int) -> frozenset[str]:
    names = set()
    application = status & 0x03
    if application:
        names.add(("busy", "application_error", "alarm")[application - 1])
    for flag in (Status.POWER_LOW, Status.PERMANENT_ERROR, Status.TEMPORARY_ERROR,
                 Status.MANUFACTURER_1, Status.MANUFACTURER_2, Status.MANUFACTURER_3):
        if status & flag:
            names.add(str(flag.name).lower())
    return frozenset(names)


# One set a status byte, built once: the enum flag tests cost ~25 us a telegram.
_STATUS_FLAGS: tuple[frozenset[str], ...] = tuple(_status_names(status) for status in range(256))


#: CI -> (header kind, compact frame?) for the CIs that introduce application data.
TPL_CIS: dict[int, tuple[HeaderKind, bool]] = {
    0x78: (HeaderKind.NONE, False),
    0x79: (HeaderKind.NONE, True),
    0x7A: (HeaderKind.SHORT, False),
    0x7B: (HeaderKind.SHORT, True),
    0x72: (HeaderKind.LONG, False),
    0x73: (HeaderKind.LONG, True),
}
MANUFACTURER_CIS = range(0xA0, 0xB8)
#: Alarm report without a transport header (EN 13757-7 table 2); its payload goes to the decoders as sent.
ALARM_REPORT_CI = 0x71

SHORT_HEADER = Struct("access_number" / Int8ul, "status" / Int8ul, "config" / Int16ul)
LONG_HEADER = Struct(
    "id" / Bytes(4),
    "manufacturer" / Int16ul,
    "version" / Int8ul,
    "device_type" / Int8ul,
    "access_number" / Int8ul,
    "status" / Int8ul,
    "config" / Int16ul,
)
# Precompiled equivalents of the two layouts for the per-telegram path; tests check they agree.
_SHORT = struct.Struct("<BBH")
_LONG = struct.Struct("<4sHBBBBH")


class TransportLayer(NamedTuple):
    """One TPL header. In the long header the address is the meter's own (the DLL may be a repeater)."""

    ci: int
    kind: HeaderKind
    compact: bool
    access_number: int | None = None
    status: int | None = None
    config: int | None = None
    config_ext: int | None = None
    meter_id: str | None = None
    manufacturer: str | None = None
    version: int | None = None
    device_type: int | None = None
    m_and_a: bytes | None = None  # M and A of the long header (mode 5 IV, mode 7 key derivation)

    @property
    def security_mode(self) -> int:
        return 0 if self.config is None else (self.config >> 8) & 0x1F

    @property
    def encrypted_blocks(self) -> int:
        """Number of encrypted 16-byte blocks (modes 5 and 7), else 0."""
        if self.config is None or self.security_mode not in (5, 7):
            return 0
        return (self.config >> 4) & 0x0F

    @property
    def kdf_selection(self) -> int | None:
        """Mode 7 key derivation selector from the configuration field extension (1 = OMS CMAC KDF)."""
        return None if self.config_ext is None else (self.config_ext >> 4) & 0x03

    @property
    def status_flags(self) -> frozenset[str]:
        return frozenset() if self.status is None else status_flags(self.status)

    @property
    def medium(self) -> str | None:
        return None if self.device_type is None else medium_name(self.device_type)


# Mode 7 adds a configuration field extension byte after the configuration word (OMS Vol. 2 7.2.4.3).
_MODE_7 = int(SecurityMode.AES_CBC_NO_IV)


# Access number, status and configuration take few values fleet-wide: short headers are kept by their
# bytes (CI included), a bounded table that starts over when full, so that a short header is free.
_SHORT_HEADERS_LIMIT = 8192
_short_headers: dict[bytes, TransportLayer] = {}
_NO_HEADERS = {ci: TransportLayer(ci, kind, compact) for ci, (kind, compact) in TPL_CIS.items()
               if kind is HeaderKind.NONE}


def _short_header(header: bytes) -> TransportLayer:
    ci = header[0]
    kind, compact = TPL_CIS[ci]
    acc, status, config = _SHORT.unpack_from(header, 1)
    config_ext = header[1 + _SHORT.size] if len(header) > 1 + _SHORT.size else None
    tpl = TransportLayer(ci, kind, compact, acc, status, config, config_ext)
    if len(_short_headers) >= _SHORT_HEADERS_LIMIT:
        _short_headers.clear()
    _short_headers[header] = tpl
    return tpl


@lru_cache(maxsize=1024)  # like the DLL's: recent meters only
def _long_address(address: bytes) -> tuple[str, str, bytes]:
    """(meter id, manufacturer, M and A as the DLL orders them) of a long header's id, M, version, type."""
    return meter_id_from_bytes(address[:4]), decode_manufacturer(address[4] | address[5] << 8), (
        address[4:6] + address[:4] + address[6:8]
    )


_new_tpl = tuple.__new__


def clear_caches(*, per_meter_only: bool = False) -> None:
    """Forget the long-header addresses (kept per meter) and, unless ``per_meter_only``, the short headers
    seen so far (benchmarks and tests)."""
    _long_address.cache_clear()
    if not per_meter_only:
        _short_headers.clear()


def parse_tpl(frame: bytes, offset: int) -> tuple[TransportLayer, int]:
    """Read the TPL header whose CI (one of TPL_CIS) is at ``offset``; return it and the payload offset."""
    ci = frame[offset]
    kind, compact = TPL_CIS[ci]
    pos = offset + 1
    if kind is HeaderKind.SHORT:
        end = pos + _SHORT.size
        if len(frame) < end:
            raise TruncatedError("frame ends inside the TPL short header", len(frame))
        if frame[end - 1] & 0x1F == _MODE_7:  # the configuration word's high byte: security mode
            if len(frame) <= end:
                raise TruncatedError("frame ends before the configuration field extension", len(frame))
            end += 1
        header = frame[offset:end]
        if type(header) is not bytes:
            header = bytes(header)  # a dictionary key
        return _short_headers.get(header) or _short_header(header), end
    if kind is HeaderKind.NONE:
        return _NO_HEADERS[ci], pos
    end = pos + _LONG.size
    if len(frame) < end:
        raise TruncatedError("frame ends inside the TPL long header", len(frame))
    _, _, version, device_type, acc, status, config = _LONG.unpack_from(frame, pos)
    config_ext = None
    if (config >> 8) & 0x1F == _MODE_7:
        if len(frame) <= end:
            raise TruncatedError("frame ends before the configuration field extension", len(frame))
        config_ext = frame[end]
        end += 1
    meter_id, manufacturer, m_and_a = _long_address(bytes(frame[pos : pos + 8]))
    return _new_tpl(TransportLayer, (  # in field order
        ci, kind, compact, acc, status, config, config_ext, meter_id, manufacturer, version, device_type,
        m_and_a,
    )), end
