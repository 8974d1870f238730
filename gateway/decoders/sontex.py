"""Sontex (SON) Supercom 587 water meters: OMS records.

Format facts (public: wmbusmeters drivers/src/supercom587.xmq): the index (storage 0), the set day in
storage 1 with its type G date, the software version as 6 BCD digits (VIF 0xFD 0x0F) and an error-flags
record (02 FD 17) of which only the low four bits are status, unnamed: set ones are reported as
``ERROR_FLAGS_<hex>`` in ``status``, ``OK`` when clear.
"""

from __future__ import annotations

from gateway.decoders.base import STANDARD_FIELDS, Match, MeterDecoder
from gateway.decoders.fields import Field
from gateway.decoders.status import FlagTable
from gateway.reading import JsonScalar


def bcd_version(value: object) -> JsonScalar:
    """A 6-digit BCD software version as printed on the meter (leading zeros kept)."""
    return f"{value:06d}" if type(value) is int else None


SUPERCOM_587 = MeterDecoder(
    name="supercom587",
    matches=(Match("SON", 0x3C, 0x06), Match("SON", 0x3C, 0x07)),
    description="Sontex Supercom 587 water meter (OMS records, error flags, software version)",
    fields=(*STANDARD_FIELDS, Field("software_version", "software_version", convert=bcd_version)),
    error_flags=FlagTable("error_flags", (), unknown_prefix="ERROR_FLAGS", ignored=~0x000F),
)

DECODERS = (SUPERCOM_587,)
