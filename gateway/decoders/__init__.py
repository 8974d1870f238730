"""Meter decoders: turn a parsed Telegram into a billing-grade Reading (one module per maker or family).

``decode_reading(telegram, received_at)`` finds the decoder automatically; a provisioned meter may name
one (``decoder="izar"``). ``decoder_names()`` lists them.
"""

from __future__ import annotations

from gateway.decoders import (
    actislink,
    apator,
    aptmbusna,
    aquametro,
    aquastream,
    aventies,
    axioma,
    bmeters,
    diehl,
    ecomess,
    elster,
    engelmann,
    fiorentini,
    gwf,
    ista,
    itron,
    kamstrup,
    lse,
    maddalena,
    mkradio3a,
    qundis,
    sensus,
    sontex,
    techem,
    watertech,
    wehrle,
    zenner,
)
from gateway.decoders.base import clear_recipes
from gateway.decoders.no_value import clear_registers
from gateway.decoders.oms import GENERIC
from gateway.decoders.plan import clear_plans
from gateway.decoders.registry import DecoderRegistry, UnknownDecoderError
from gateway.decoders.status import clear_meanings

__all__ = ["REGISTRY", "UnknownDecoderError", "clear_caches", "decode_reading", "decoder_names"]

REGISTRY = DecoderRegistry(GENERIC)
MAKERS = (
    actislink,
    apator,
    aptmbusna,
    aquametro,
    aquastream,
    aventies,
    axioma,
    bmeters,
    diehl,
    ecomess,
    elster,
    engelmann,
    fiorentini,
    gwf,
    ista,
    itron,
    kamstrup,
    lse,
    maddalena,
    mkradio3a,
    qundis,
    sensus,
    sontex,
    techem,
    watertech,
    wehrle,
    zenner,
)


decode_reading = REGISTRY.decode
"""``decode_reading(telegram, received_at, decoder=None, *, key=None, rssi_dbm=None)``: the Reading of
``telegram`` (the registry's own method, one call less a telegram); ``key`` is needed only by makers that
encrypt inside their own frames."""


def clear_caches() -> None:
    """Forget the decoders found per meter kind, the field plans per record layout, the recipes per decoder
    and payload structure, the no-value registers per structure and the status words' meanings (benchmarks
    and tests)."""
    REGISTRY.clear_cache()
    clear_plans()
    clear_recipes()
    clear_meanings()
    clear_registers()


def decoder_names() -> list[str]:
    """Names a provisioned meter may give as its decoder."""
    return REGISTRY.names()

for _module in MAKERS:
    for _decoder in _module.DECODERS:
        REGISTRY.register(_decoder)
