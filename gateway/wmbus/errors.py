"""Typed errors of the protocol core: each carries a reason and, where known, the byte offset."""

from __future__ import annotations


class WMBusError(Exception):
    """Base of every error the protocol core raises on bad input."""

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
