"""Typed errors of the protocol core: each carries a reason and, where known, the byte offset."""

from __future__ import annotations

from typing import NamedTuple


class Identity(NamedTuple):
    """The header fields that name a telegram's meter, as far as the headers in clear go."""

    meter_id: str
    manufacturer: str
    version: int
    device_type: int
    medium: str
    ci: int | None = None  # the CI that introduces the application data (None: the frame ends before)
    access_number: int | None = None
    link_id: str | None = None  # the link layer's id where another header names the meter


class WMBusError(Exception):
    """Base of every error the protocol core raises on bad input.

    ``identity``: what the headers decoded before the error say of the meter (set by parse_telegram;
    None when not even the link layer could be read)."""

    identity: Identity | None = None

    def __init__(self, reason: str, offset: int | None = None) -> None:
        self.reason = reason
        self.offset = offset
        super().__init__(reason if offset is None else f"{reason} (at byte {offset})")


class FrameError(WMBusError):
    """The frame's structure is wrong: lengths, fields, checksums."""


class TruncatedError(FrameError):
    """The frame ends before a field it announces."""


class CrcError(FrameError):
    """A link-layer or payload CRC does not match."""


class UnknownCiError(FrameError):
    """The CI field names a layer this stack does not know."""


class RecordError(WMBusError):
    """A DIF/VIF data record is malformed."""


class DecryptionError(WMBusError):
    """The payload could not be decrypted; names the meter, never the key."""

    def __init__(self, reason: str, meter_id: str, offset: int | None = None) -> None:
        self.meter_id = meter_id
        super().__init__(f"meter {meter_id}: {reason}", offset)


class KeyMissingError(DecryptionError):
    """The payload is encrypted and no key is known for the meter."""


class WrongKeyError(DecryptionError):
    """The payload did not verify after decryption: the key is wrong."""


class AuthenticationError(DecryptionError):
    """The AFL MAC does not match: tampered telegram or wrong key."""


class MacError(AuthenticationError, WrongKeyError):
    """The AFL MAC does not match: the key is wrong, or the telegram was altered on the way."""
