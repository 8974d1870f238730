"""The generic OMS decoder: any meter that follows EN 13757-3 / OMS Vol. 2 and that no maker module claims.

Reads the standard records (current volume, backward volume, flow, temperatures, meter time, historic
set-day volumes with their dates) and the TPL status byte; proprietary CIs get an ``unsupported`` marker.
"""

from __future__ import annotations

from gateway.decoders.base import MeterDecoder

GENERIC = MeterDecoder(
    name="oms",
    matches=(),
    description="Generic EN 13757-3 / OMS meter: standard records only",
)
