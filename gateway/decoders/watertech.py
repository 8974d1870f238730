"""Watertech (WTT) water meters: OMS records.

Format facts (public: wmbusmeters drivers/src/watertech.xmq): the index, the meter time (type I, with
seconds), the software version (VIF 0xFD 0x0F, two bytes the reference prints as their characters, most
significant first) and a 16-bit error-flags record (02 FD 17) whose bits the maker leaves unnamed: a set
bit is reported as ``ERROR_FLAGS_<hex>`` in ``status``, ``OK`` when clear.
"""

from __future__ import annotations

from gateway.decoders.base import STANDARD_FIELDS, Match, MeterDecoder
from gateway.decoders.fields import Field
from gateway.decoders.status import FlagTable
from gateway.reading import JsonScalar


def version_text(value: object) -> JsonScalar:
    """A binary software version as its characters (most significant byte first), hex if not printable."""
    if type(value) is not int or value < 0:
        return None
    raw = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    return raw.decode("ascii") if all(0x20 <= byte < 0x7F for byte in raw) else raw.hex()


WATERTECH = MeterDecoder(
    name="watertech",
    matches=(Match("WTT", 0x59, 0x07),),
    description="Watertech water meter (OMS records, error flags, software version)",
    fields=(*STANDARD_FIELDS, Field("software_version", "software_version", convert=version_text)),
    error_flags=FlagTable("error_flags", (), unknown_prefix="ERROR_FLAGS"),
)

DECODERS = (WATERTECH,)
