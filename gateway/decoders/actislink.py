"""ActisLink (ALK) radio modules on water meters (Sensus iPERL family): OMS records.

Format facts (public: wmbusmeters drivers/src/actislink.xmq): manufacturer ALK, version 0x04, device type
water (0x07); the payload is standard records (volume), sent under TPL security mode 2 (DES-CBC, IV 0)
in the one public telegram, which the reference opens with the meter's 8-byte DES key.
"""

from __future__ import annotations

from gateway.decoders.base import Match, MeterDecoder

WATER = MeterDecoder(
    name="actislink",
    matches=(Match("ALK", 0x04, 0x07),),
    description="ActisLink water meter module (OMS records)",
)

DECODERS = (WATER,)
