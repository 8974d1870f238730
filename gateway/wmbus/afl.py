"""The authentication and fragmentation layer of EN 13757-7 (CI 0x90): message counter and MAC."""

from __future__ import annotations

import struct
from enum import IntFlag
from typing import NamedTuple

from construct import Bytes, If, Int8ul, Int16ul, Int32ul, Struct, this

from gateway.wmbus.errors import FrameError, TruncatedError

AFL_CI = 0x90


class FragmentationControl(IntFlag):
    """Flag bits of the 16-bit fragmentation control field (bits 0-7 are the fragment id)."""

    KEY_INFO_PRESENT = 0x0200
    MAC_PRESENT = 0x0400
    COUNTER_PRESENT = 0x0800
    LENGTH_PRESENT = 0x1000
    MESSAGE_CONTROL_PRESENT = 0x2000
    MORE_FRAGMENTS = 0x4000


#: MAC length in bytes by the authentication type (message control bits 0-3), OMS Vol. 2 table 23.
MAC_LENGTHS = {0: 0, 3: 2, 4: 4, 5: 8, 6: 12, 7: 16, 8: 12}

#: The layout after the CI byte: every field after FCL is optional, announced by an FCL flag.
AFL_LAYOUT = Struct(
    "length" / Int8ul,
    "fcl" / Int16ul,
    "mcl" / If(this.fcl & FragmentationControl.MESSAGE_CONTROL_PRESENT, Int8ul),
    "key_info" / If(this.fcl & FragmentationControl.KEY_INFO_PRESENT, Int16ul),
    "counter" / If(this.fcl & FragmentationControl.COUNTER_PRESENT, Int32ul),
    "message_length" / If(this.fcl & FragmentationControl.LENGTH_PRESENT, Int16ul),
    "mac"
    / If(this.fcl & FragmentationControl.MAC_PRESENT, Bytes(lambda ctx: MAC_LENGTHS.get(ctx.mcl & 0x0F, 0))),
)
_HEAD = struct.Struct("<BH")


class AuthenticationLayer(NamedTuple):
    """One AFL header."""

    fcl: int
    mcl: int | None
    key_info: int | None
    message_counter: int | None
    counter_bytes: bytes | None  # as sent: the mode 7 key derivation and the MAC use these bytes
    message_length: int | None
    mac: bytes | None

    @property
    def fragment_id(self) -> int:
        return self.fcl & 0xFF

    @property
    def more_fragments(self) -> bool:
        return bool(self.fcl & FragmentationControl.MORE_FRAGMENTS)

    @property
    def authentication_type(self) -> int | None:
        return None if self.mcl is None else self.mcl & 0x0F


# Plain ints for the per-telegram path: IntFlag's & runs Python code.
_MORE_FRAGMENTS = int(FragmentationControl.MORE_FRAGMENTS)
_MESSAGE_CONTROL_PRESENT = int(FragmentationControl.MESSAGE_CONTROL_PRESENT)
_KEY_INFO_PRESENT = int(FragmentationControl.KEY_INFO_PRESENT)
_COUNTER_PRESENT = int(FragmentationControl.COUNTER_PRESENT)
_LENGTH_PRESENT = int(FragmentationControl.LENGTH_PRESENT)
_MAC_PRESENT = int(FragmentationControl.MAC_PRESENT)


_new_afl = tuple.__new__  # the NamedTuple built in one C call


def parse_afl(frame: bytes, offset: int) -> tuple[AuthenticationLayer, int]:
    """Read the AFL whose CI is at ``offset``; return it and the offset of the next CI."""
    start = offset + 1
    if len(frame) < start + _HEAD.size:
        raise TruncatedError("frame ends inside the AFL header", len(frame))
    afl_length, fcl = _HEAD.unpack_from(frame, start)
    end = start + 1 + afl_length
    if afl_length < 2 or len(frame) < end:
        raise TruncatedError(f"AFL announces {afl_length} bytes, frame has {len(frame) - start - 1}", start)
    if fcl & _MORE_FRAGMENTS or fcl & 0xFF > 1:
        # Reassembly needs state across telegrams, which belongs above this sans-IO core.
        raise FrameError("fragmented AFL message (not supported)", start + 1)
    pos = start + 3
    mcl = key_info = counter = length = None
    counter_bytes = mac = None
    if fcl & _MESSAGE_CONTROL_PRESENT:
        mcl = frame[pos] if pos < end else None
        pos += 1
    if fcl & _KEY_INFO_PRESENT:
        key_info = int.from_bytes(frame[pos : pos + 2], "little")
        pos += 2
    if fcl & _COUNTER_PRESENT:
        counter_bytes = bytes(frame[pos : pos + 4])
        counter = int.from_bytes(counter_bytes, "little")
        pos += 4
    if fcl & _LENGTH_PRESENT:
        length = int.from_bytes(frame[pos : pos + 2], "little")
        pos += 2
    if fcl & _MAC_PRESENT:
        if mcl is None or (mcl & 0x0F) not in MAC_LENGTHS:
            raise FrameError("AFL announces a MAC of unknown authentication type", start + 3)
        mac_length = MAC_LENGTHS[mcl & 0x0F]
        mac = bytes(frame[pos : pos + mac_length])
        pos += mac_length
    if pos != end:
        raise FrameError(f"AFL fields take {pos - start - 1} bytes, its length says {afl_length}", start)
    return _new_afl(AuthenticationLayer, (fcl, mcl, key_info, counter, counter_bytes, length, mac)), end
