"""The M field: three letters packed into two bytes (EN 13757-4 / IEC 62056-21 FLAG codes)."""

from __future__ import annotations

from functools import lru_cache

from gateway.wmbus.errors import FrameError


@lru_cache(maxsize=4096)  # codes are 16 bits; a fleet uses a few dozen of them
def decode_manufacturer(code: int) -> str:
    """Turn the 16-bit M field (already little-endian decoded) into its three letters."""
    letters = ((code >> 10) & 0x1F, (code >> 5) & 0x1F, code & 0x1F)
    return "".join(chr(64 + letter) if 1 <= letter <= 26 else "@" for letter in letters)


def encode_manufacturer(letters: str) -> int:
    """Turn three letters into the 16-bit M field value."""
    if len(letters) != 3 or not all("A" <= ch <= "Z" for ch in letters.upper()):
        raise FrameError(f"manufacturer must be three letters A-Z, got {letters!r}")
    first, second, third = (ord(ch) - 64 for ch in letters.upper())
    return (first << 10) | (second << 5) | third
