"""Elster (ELR) water meters: the Emerlin 868 radio module and the EV200: OMS records.

Format facts (public: wmbusmeters drivers/src/emerlin868.xmq, drivers/src/ev200.xmq): the total volume
(storage 0) and the set day's volume in storage 1, the Emerlin with the set day's date. The Emerlin sends
device type 0x37 (radio converter, meter side) for the water meter it reads, so its readings are water.
Its error-flags record (FD 97 1D) has no published bit meanings: set bits are named ERROR_FLAGS_<hex>; the
set day's date is 0x0000 ("no date") until the first set day has passed. The EV200's block after DIF 0x0F
is unpublished and not read.
"""

from __future__ import annotations

from gateway.decoders.base import Match, MeterDecoder
from gateway.decoders.status import FlagTable

EMERLIN_868 = MeterDecoder(
    name="emerlin868",
    matches=(Match("ELR", 0x11, 0x37), Match("ELR", 0x12, 0x37)),
    description="Elster Emerlin 868 water meter radio module (OMS records)",
    error_flags=FlagTable("error_flags", (), unknown_prefix="ERROR_FLAGS"),
    medium="water",
)
EV_200 = MeterDecoder(
    name="ev200",
    matches=(Match("ELR", 0x0D, 0x07),),
    description="Elster EV200 water meter (OMS records)",
)

DECODERS = (EMERLIN_868, EV_200)
