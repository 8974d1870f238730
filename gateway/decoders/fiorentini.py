"""Pietro Fiorentini (FIO) water meters: OMS records behind an ELL and an AFL.

Format facts (public: wmbusmeters drivers/src/fiowater.xmq): manufacturer FIO, version 0x01, water; the
total volume (any volume VIF, storage 0), the meter time, the fabrication number, the on time and the on
time at error (function "value during error"). The block after DIF 0x0F is unpublished and not read.
"""

from __future__ import annotations

from gateway.decoders.base import STANDARD_FIELDS, Match, MeterDecoder
from gateway.decoders.fields import Field
from gateway.decoders.units import fabrication_no, hours
from gateway.wmbus.records import Function

WATER = MeterDecoder(
    name="fiowater",
    matches=(Match("FIO", 0x01, 0x07),),
    description="Pietro Fiorentini water meter (OMS records)",
    fields=(
        *STANDARD_FIELDS,
        Field("fabrication_no", "fabrication_number", convert=fabrication_no),
        Field("on_time_h", "on_time", convert=hours),
        Field("on_time_at_error_h", "on_time", function=Function.ERROR, convert=hours),
    ),
)

DECODERS = (WATER,)
