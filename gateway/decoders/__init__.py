"""Meter decoders: turn a parsed Telegram into a billing-grade Reading (one module per maker or family).

``decode_reading(telegram, received_at)`` finds the decoder automatically; a provisioned meter may name
one (``decoder="izar"``). ``decoder_names()`` lists them.
"""

from __future__ import annotations

from datetime import datetime

from gateway.decoders import (
    apator,
    aventies,
    bmeters,
    diehl,
    ecomess,
    engelmann,
    gwf,
    ista,
    itron,
    kamstrup,
    maddalena,
    qundis,
    sensus,
    techem,
    zenner,
)
from gateway.decoders.oms import GENERIC
from gateway.decoders.plan import clear_plans
from gateway.decoders.registry import DecoderRegistry, UnknownDecoderError
from gateway.decoders.status import clear_meanings
from gateway.reading import Reading
from gateway.wmbus.telegram import Telegram

__all__ = ["REGISTRY", "UnknownDecoderError", "clear_caches", "decode_reading", "decoder_names"]

REGISTRY = DecoderRegistry(GENERIC)
MAKERS = (
    apator,
    aventies,
    bmeters,
    diehl,
    ecomess,
    engelmann,
    gwf,
    ista,
    itron,
    kamstrup,
    maddalena,
    qundis,
    sensus,
    techem,
    zenner,
)


def decode_reading(
    telegram: Telegram,
    received_at: datetime,
    decoder: str | None = None,
    *,
    key: bytes | None = None,
    rssi_dbm: float | None = None,
) -> Reading:
    """The Reading of ``telegram``; ``key`` is needed only by makers that encrypt inside their own frames."""
    return REGISTRY.decode(telegram, received_at, decoder, key=key, rssi_dbm=rssi_dbm)


def clear_caches() -> None:
    """Forget the decoders found per meter kind, the field plans per record layout and the status words'
    meanings (benchmarks and tests)."""
    REGISTRY.clear_cache()
    clear_plans()
    clear_meanings()


def decoder_names() -> list[str]:
    """Names a provisioned meter may give as its decoder."""
    return REGISTRY.names()

for _module in MAKERS:
    for _decoder in _module.DECODERS:
        REGISTRY.register(_decoder)
