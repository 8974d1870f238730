"""ista (IST) radio net 3 water meters in OMS mode: standard records, previous month in storage 2.

Format facts (public: wmbusmeters drivers/src/istawater.xmq): the last billing month's volume and its last
day come as storage 2 (volume, type G date); storage 1 is not the set day for these meters.
"""

from __future__ import annotations

from gateway.decoders.base import Match, MeterDecoder

WATER = MeterDecoder(
    name="istawater",
    matches=(Match("IST", 0x31, 0x07), Match("IST", 0x33, 0x07)),
    description="ista radio net 3 water meter (OMS records, previous month in storage 2)",
    target_storage=2,
)

DECODERS = (WATER,)
