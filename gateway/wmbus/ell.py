"""The extended link layer of EN 13757-4 (CI 0x8C-0x8F): communication control, access number, session."""

from __future__ import annotations

import struct
from enum import IntEnum, IntFlag
from typing import NamedTuple

from construct import Bytes, Int8ul, Int16ul, Int32ul, Struct

from gateway.wmbus.dll import meter_id_from_bytes
from gateway.wmbus.errors import TruncatedError
from gateway.wmbus.manufacturer import decode_manufacturer
from gateway.wmbus.medium import medium_name


class EllCi(IntEnum):
    """CI fields that introduce an ELL."""

    SHORT = 0x8C  # ELL I: CC, ACC
    SESSION = 0x8D  # ELL II: CC, ACC, SN, then the (encrypted) payload CRC
    ADDRESSED = 0x8E  # ELL III: CC, ACC, M, A
    ADDRESSED_SESSION = 0x8F  # ELL IV: CC, ACC, M, A, SN, then the payload CRC


class CommunicationControl(IntFlag):
    """Bits of the CC field."""

    BIDIRECTIONAL = 0x80
    RESPONSE_DELAY = 0x40
    SYNCHRONISED = 0x20
    HOP = 0x10
    PRIORITY = 0x08
    ACCESSIBILITY = 0x04
    REPEATED_ACCESS = 0x02


class EllEncryption(IntEnum):
    """The ENC field of the session number."""

    NONE = 0
    AES_CTR = 1


_ADDRESS = Struct("manufacturer" / Int16ul, "id" / Bytes(4), "version" / Int8ul, "device_type" / Int8ul)
#: Layouts after the CI byte, by CI (EN 13757-4 section 13.2).
ELL_LAYOUTS = {
    EllCi.SHORT: Struct("cc" / Int8ul, "acc" / Int8ul),
    EllCi.SESSION: Struct("cc" / Int8ul, "acc" / Int8ul, "sn" / Int32ul),
    EllCi.ADDRESSED: Struct("cc" / Int8ul, "acc" / Int8ul, "address" / _ADDRESS),
    EllCi.ADDRESSED_SESSION: Struct("cc" / Int8ul, "acc" / Int8ul, "address" / _ADDRESS, "sn" / Int32ul),
}
# Precompiled equivalents for the per-telegram path; tests check they agree with ELL_LAYOUTS. Keyed by the
# IntEnum members, which a plain int CI finds (no EllCi(ci) conversion on the per-telegram path).
_FAST: dict[int, struct.Struct] = {
    EllCi.SHORT: struct.Struct("<BB"),
    EllCi.SESSION: struct.Struct("<BBI"),
    EllCi.ADDRESSED: struct.Struct("<BB8s"),
    EllCi.ADDRESSED_SESSION: struct.Struct("<BB8sI"),
}
ELL_CIS = frozenset(int(ci) for ci in EllCi)
PAYLOAD_CRC_SIZE = 2


class ExtendedLinkLayer(NamedTuple):
    """One ELL header; ``session_number`` and ``payload_crc`` only for the variants with a session."""

    ci: int
    cc: int
    access_number: int
    session_number: int | None = None
    m_and_a: bytes | None = None  # ELL III/IV carry the meter's address in place of a repeater's DLL one
    payload_crc: int | None = None

    @property
    def control(self) -> CommunicationControl:
        return CommunicationControl(self.cc & 0xFE)

    @property
    def encryption(self) -> int:
        """ENC bits of the session number (0 none, 1 AES-CTR)."""
        return 0 if self.session_number is None else (self.session_number >> 29) & 0x07

    @property
    def has_session(self) -> bool:
        return self.session_number is not None

    @property
    def meter_id(self) -> str | None:
        return None if self.m_and_a is None else meter_id_from_bytes(self.m_and_a[2:6])

    @property
    def manufacturer(self) -> str | None:
        if self.m_and_a is None:
            return None
        return decode_manufacturer(int.from_bytes(self.m_and_a[:2], "little"))

    @property
    def medium(self) -> str | None:
        return None if self.m_and_a is None else medium_name(self.m_and_a[7])


_new_ell = tuple.__new__


def parse_ell(frame: bytes, offset: int) -> tuple[ExtendedLinkLayer, int]:
    """Read the ELL whose CI is at ``offset``; return it and the offset after its plain header."""
    ci = frame[offset]
    layout = _FAST[ci]
    start = offset + 1
    if len(frame) < start + layout.size:
        raise TruncatedError(f"frame ends inside the ELL header (CI {ci:#04x})", len(frame))
    fields = layout.unpack_from(frame, start)
    end = start + layout.size
    # tuple.__new__ in field order: the NamedTuple's own __new__ is a Python call with defaults.
    if ci == EllCi.SHORT:
        return _new_ell(ExtendedLinkLayer, (ci, fields[0], fields[1], None, None, None)), end
    if ci == EllCi.SESSION:
        return _new_ell(ExtendedLinkLayer, (ci, fields[0], fields[1], fields[2], None, None)), end
    if ci == EllCi.ADDRESSED:
        return _new_ell(ExtendedLinkLayer, (ci, fields[0], fields[1], None, fields[2], None)), end
    return _new_ell(ExtendedLinkLayer, (ci, fields[0], fields[1], fields[3], fields[2], None)), end
