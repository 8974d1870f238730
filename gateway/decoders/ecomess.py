"""Kaden / Ecomess (KDN, VIP) and Ecomess Picoflux AiR (ECM) water meters: OMS records, leak in TPL status.

Format facts (public: wmbusmeters drivers/src/kadenwater.xmq, which quotes the Kaden/Ecomess wM-Bus OMS
specification shared with the Picoflux AiR): a water leak sets the TPL application state to 11 (alarm);
manufacturer bit 5 says the leak flow stayed below 100 l/h, bit 6 that it exceeded it. The second volume
register with the same DIF/VIF (purpose undocumented) is kept as ``volume_b_m3``.
"""

from __future__ import annotations

from gateway.decoders.base import STANDARD_FIELDS, Match, MeterDecoder
from gateway.decoders.fields import Field
from gateway.decoders.status import Flag, FlagTable
from gateway.reading import Alarm

LEAK_BITS = FlagTable(
    "tpl",
    (
        Flag(0x20, "LEAK_FLOW_LOW", Alarm.LEAK),
        Flag(0x40, "LEAK_FLOW_HIGH", Alarm.LEAK),
    ),
)

KADEN = MeterDecoder(
    name="ecomess",
    aliases=("kadenwater", "picoflux"),
    matches=(
        *(Match(maker, 0x01, kind) for maker in ("KDN", "VIP") for kind in (0x06, 0x07)),
        *(Match("ECM", device_type=kind) for kind in (0x06, 0x07, 0x16)),
    ),
    description="Kaden / Ecomess water meters and Picoflux AiR (leak in the TPL status byte)",
    fields=(*STANDARD_FIELDS, Field("volume_b_m3", "volume", occurrence=1)),
    tpl_bits=LEAK_BITS,
)

DECODERS = (KADEN,)
