"""A meter id, written one way everywhere: 8 hex digits, lower case, most significant first.

That is how the protocol core prints the A field's 4 bytes (``bytes.hex``), how the reference decoder
prints them, and so how readings, topics and the state database name a meter. Ids typed by people
(meters file, keys file, CLI, CSV imports) or read from elsewhere (MQTT topics, raw messages, older
state files) go through :func:`normalise_meter_id` at that edge; inside, ids are compared as strings.
"""

from __future__ import annotations

METER_ID_DIGITS = 8
_HEX_DIGITS = frozenset("0123456789abcdef")


def normalise_meter_id(meter_id: str) -> str:
    """``meter_id`` in the canonical form (``0014A807`` -> ``0014a807``); ValueError if it is not 8 hex
    digits (surrounding spaces are ignored)."""
    text = meter_id.strip().lower()
    if len(text) != METER_ID_DIGITS or not _HEX_DIGITS.issuperset(text):
        raise ValueError(f"meter id must be {METER_ID_DIGITS} digits, got {meter_id!r}")
    return text


def is_canonical(meter_id: str) -> bool:
    """True when ``meter_id`` is already in the canonical form (no copy is made)."""
    return len(meter_id) == METER_ID_DIGITS and _HEX_DIGITS.issuperset(meter_id)
