"""Diehl and Sappel frames whose A field is not laid out as EN 13757-4 says: which frames, read how.

Public facts (wmbusmeters src/manufacturer_specificities.cc, src/driver_izar.cc): for the Diehl group
(DME, EWT, HYD, SAP, SPL) sending SND_NR or SND_IR (C 0x44/0x46),
- PRIOS frames (CI 0xA0-0xA7, not SAP; scrambled PRIOS CI 0xB1-0xB3), alarm frames (CI 0x71) and short-TPL
  frames with the "real data" flag (CI 0x7A, bit 12 of the configuration word) carry
  ``version, device type, id (4 bytes)`` where the standard has ``id, version, device type``;
- SAP PRIOS frames (SAP, CI 0xA0-0xA7) keep the id where the standard has it, but their version byte is
  the fifth byte of the number on the label (with the id's top bits and the type byte's low nibble it
  encodes the label's letters, see :func:`sap_label`): it is no version, and the meter is a water meter.
Every other frame of these makers follows the standard. The M and A fields as sent stay in
``LinkLayer.m_and_a`` and ``Telegram.raw``: the PRIOS descrambling seeds from them.
"""

from __future__ import annotations

from enum import Enum
from functools import lru_cache
from typing import NamedTuple

from gateway.wmbus.dll import LinkLayer, meter_id_from_bytes
from gateway.wmbus.manufacturer import encode_manufacturer
from gateway.wmbus.medium import medium_name

#: Manufacturer codes (M field) of the Diehl group.
DIEHL_CODES = frozenset(encode_manufacturer(name) for name in ("DME", "EWT", "HYD", "SAP", "SPL"))
_SAP = encode_manufacturer("SAP")
_SPONTANEOUS = (0x44, 0x46)  # SND_NR, SND_IR
_PRIOS_CIS = range(0xA0, 0xA8)
_SCRAMBLED_PRIOS_CIS = range(0xB1, 0xB4)
_ALARM_CI = 0x71
_SHORT_TPL_CI = 0x7A
_REAL_DATA_FLAG = 0x10  # in the configuration word's high byte (bit 12 of the word)
_WATER = 0x07


class AddressLayout(Enum):
    """How a Diehl-group frame lays out its A field."""

    STANDARD = "standard"
    SWAPPED = "swapped"  # version, type, id
    SAP_PRIOS = "sap_prios"  # id as the standard; the version byte belongs to the label


def address_layout(frame: bytes) -> AddressLayout:
    """The A-field layout of a CRC-stripped radio frame (L field first) of any maker."""
    if len(frame) < 11 or frame[1] not in _SPONTANEOUS:
        return AddressLayout.STANDARD
    m_code = frame[2] | frame[3] << 8
    if m_code not in DIEHL_CODES:
        return AddressLayout.STANDARD
    ci = frame[10]
    if ci in _PRIOS_CIS:
        return AddressLayout.SAP_PRIOS if m_code == _SAP else AddressLayout.SWAPPED
    if ci == _ALARM_CI or ci in _SCRAMBLED_PRIOS_CIS:
        return AddressLayout.SWAPPED
    if ci == _SHORT_TPL_CI and len(frame) > 14 and frame[14] & _REAL_DATA_FLAG:
        return AddressLayout.SWAPPED
    return AddressLayout.STANDARD


@lru_cache(maxsize=1024)  # like the DLL's first blocks: recent meters only
def _relaid(link: LinkLayer, layout: AddressLayout) -> LinkLayer:
    sent = link.m_and_a  # M (2), then the A field's 6 bytes as sent
    if layout is AddressLayout.SWAPPED:
        meter_id, version, device_type = meter_id_from_bytes(sent[4:8]), sent[2], sent[3]
    else:
        meter_id, version, device_type = link.meter_id, 0, _WATER
    return link._replace(
        meter_id=meter_id, version=version, device_type=device_type, medium=medium_name(device_type)
    )


def standard_link(link: LinkLayer, frame: bytes) -> LinkLayer:
    """``link`` (the DLL of ``frame``) with the identity the standard layout would have put there."""
    layout = address_layout(frame)
    return link if layout is AddressLayout.STANDARD else _relaid(link, layout)


class SapLabel(NamedTuple):
    """What a SAP PRIOS A field says of the label: ``prefix`` + ``serial_number`` is printed on the meter."""

    prefix: str  # supplier letter, two-digit year, meter type letter, diameter letter (e.g. "C19UA")
    serial_number: str  # six digits
    manufacture_year: int


def sap_label(frame: bytes) -> SapLabel:
    """The label of a SAP PRIOS frame, from its A field as sent (bytes 4-9 of the frame)."""
    number = (frame[7] & 0x03) << 24 | frame[6] << 16 | frame[5] << 8 | frame[4]
    digits = f"{number:08d}"
    two_digit_year = int(digits[:2])
    supplier = chr(64 + ((frame[9] & 0x0F) << 1 | frame[8] >> 7))
    meter_type = chr(64 + ((frame[8] & 0x7C) >> 2))
    diameter = chr(64 + ((frame[8] & 0x03) << 3 | frame[7] >> 5))
    return SapLabel(
        f"{supplier}{digits[:2]}{meter_type}{diameter}",
        digits[2:],
        (1900 if two_digit_year > 70 else 2000) + two_digit_year,
    )


def clear_caches() -> None:
    """Forget the relaid addresses (benchmarks and tests)."""
    _relaid.cache_clear()
