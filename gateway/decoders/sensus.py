"""Sensus (SEN) iPERL water meters: OMS records.

Format facts (public: wmbusmeters drivers/src/iperl.xmq): the meter sends its total volume and, as an
instantaneous volume-flow record, the maximum flow of the previous period.
"""

from __future__ import annotations

from gateway.decoders.base import STANDARD_FIELDS, Match, MeterDecoder
from gateway.decoders.fields import Field

IPERL = MeterDecoder(
    name="iperl",
    matches=(Match("SEN", 0x68, 0x06), Match("SEN", 0x68, 0x07), Match("SEN", 0x7C, 0x07)),
    description="Sensus iPERL water meter (OMS; the flow record is the last period's maximum)",
    fields=(Field("max_flow_m3h", "volume_flow"), *STANDARD_FIELDS),
)

DECODERS = (IPERL,)
