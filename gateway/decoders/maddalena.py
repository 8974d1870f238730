"""Maddalena (MAD) water meters (Italy): OMS records.

Format facts (public: wmbusmeters drivers/src/maddalena.xmq): current volume, meter time, error flags
(meanings not public: kept raw), fabrication number, the set day in storage 1 and the month end in
storage 2 with their dates. The set day (storage 1) is the billing target, as the standard convention has it.
"""

from __future__ import annotations

from gateway.decoders.base import Match, MeterDecoder

WATER = MeterDecoder(
    name="maddalena",
    matches=(Match("MAD", 0x01, 0x06), Match("MAD", 0x01, 0x07)),
    description="Maddalena water meter (OMS records)",
)

DECODERS = (WATER,)
