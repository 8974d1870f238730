"""Amber / Würth Elektronik AMB8465 (and Metis-II) in command mode, 9600 baud.

Frame (AMB8465 manual, "command mode"): ``FF | command | length | payload | XOR checksum of all
preceding bytes``; a confirmation has the command's bit 7 set. Received telegrams arrive as
CMD_DATA_IND (0x03) whose payload starts at the C field and, when RSSI_Enable (NVM 0x45) is on, ends
with the RSSI byte (counted in the length).

Two non-volatile settings decide what the stick sends, and sticks are found with either value:
UART_CMD_Out_Enable (NVM 0x05; off = "transparent": telegrams come raw, without the command frame) and
RSSI_Enable. Both are read at start-up and, when off, written once and the module restarted (a flash
write, so never on every start); they take effect with the restart. The codec knows at each byte which
setting is in force: telegrams before the stick's RSSI setting is known are held until it is, and
those before the restart that turns RSSI on carry none.
"""

from __future__ import annotations

import logging
from enum import IntEnum
from typing import ClassVar

from gateway.frame import LinkMode
from gateway.radio.base import ErrorReason, SourceError, SourceStats
from gateway.radio.checksums import xor_checksum
from gateway.radio.serial_source import (
    DongleCodec,
    DongleMessage,
    Indication,
    Response,
    SerialSource,
    dongle_mode,
    skip_to_marker,
)

log = logging.getLogger(__name__)

START = 0xFF
CONFIRM = 0x80
MIN_TELEGRAM = 10  # C, M (2), A (6), CI
NVM_UART_CMD_OUT_ENABLE = 0x05
NVM_RSSI_ENABLE = 0x45
HELD_MAX = 32  # telegrams held while the RSSI setting is unknown (start-up takes a few replies)


class Command(IntEnum):
    DATA_REQ = 0x00
    DATA_IND = 0x03
    SET_MODE_REQ = 0x04
    RESET_REQ = 0x05
    SET_REQ = 0x09
    GET_REQ = 0x0A
    SERIALNO_REQ = 0x0B
    FWV_REQ = 0x0C
    RSSI_REQ = 0x0D


_KNOWN = {int(command) for command in Command} | {int(command) | CONFIRM for command in Command}


class AmberMode(IntEnum):
    """Receive modes of CMD_SET_MODE_REQ (the collector's side of each link mode)."""

    S2 = 0x03
    T2_OTHER = 0x08
    C2_T2_OTHER = 0x09
    C2_OTHER = 0x0E


def amber_rssi_dbm(raw: int) -> float:
    """RSSI byte (two's complement, half-dB steps) -> dBm, per the AMB8465 manual."""
    signed = raw - 256 if raw >= 128 else raw
    return signed / 2 - 74


def encode_command(command: int, payload: bytes = b"") -> bytes:
    head = bytes([START, command, len(payload)]) + payload
    return head + bytes([xor_checksum(head)])


_RECEIVE_MODES = {
    frozenset({LinkMode.T1}): AmberMode.T2_OTHER,
    frozenset({LinkMode.C1}): AmberMode.C2_OTHER,
    frozenset({LinkMode.S1}): AmberMode.S2,
    frozenset({LinkMode.T1, LinkMode.C1}): AmberMode.C2_T2_OTHER,
}


def receive_mode(modes: tuple[LinkMode, ...]) -> AmberMode:
    return dongle_mode(modes, _RECEIVE_MODES, "AMB8465")


class AmberCodec:
    """Byte stream -> Amber messages; resynchronises on the next 0xFF that starts a valid frame.

    ``rssi_enabled`` is None until the stick's RSSI_Enable is read (telegrams are held meanwhile);
    ``restart_settings`` are the settings that a pending CMD_RESET_REQ puts in force when confirmed.
    """

    def __init__(self, stats: SourceStats, link_mode: LinkMode, rssi_enabled: bool | None = None) -> None:
        self._stats = stats
        self._link_mode = link_mode
        self.rssi_enabled = rssi_enabled
        self.rssi_after_restart: bool | None = None
        self._held: list[bytes] = []
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[DongleMessage]:
        self._buffer += data
        out: list[DongleMessage] = []
        buf = self._buffer
        while buf:
            if buf[0] != START:
                skip_to_marker(buf, START, self._stats)
                continue
            if len(buf) < 3:
                break
            if buf[1] not in _KNOWN:
                self._stats.garbage_bytes += 1
                del buf[:1]
                continue
            total = 3 + buf[2] + 1
            if len(buf) < total:
                break
            frame = bytes(buf[:total])
            if xor_checksum(frame[:-1]) != frame[-1]:
                self._stats.count_error(ErrorReason.CHECKSUM, "XOR checksum mismatch")
                self._stats.garbage_bytes += 1
                del buf[:1]
                continue
            del buf[:total]
            self._message(frame[1], frame[3:-1], out)
        return out

    def _message(self, command: int, payload: bytes, out: list[DongleMessage]) -> None:
        if command != Command.DATA_IND:
            self._settings_from(command, payload, out)
            out.append(Response(command, payload))
            return
        if self.rssi_enabled is None:
            if len(self._held) < HELD_MAX:
                self._held.append(payload)
            else:
                self._stats.count_error(ErrorReason.UNEXPECTED, "telegram before the RSSI setting was known")
            return
        indication = self._indication(payload)
        if indication is not None:
            out.append(indication)

    def _settings_from(self, command: int, payload: bytes, out: list[DongleMessage]) -> None:
        """Follow the settings in force: a GET confirmation of RSSI_Enable, a confirmed restart."""
        if command == Command.GET_REQ | CONFIRM and len(payload) >= 3:
            address, count = payload[0], payload[1]
            if address <= NVM_RSSI_ENABLE < address + count and len(payload) >= 2 + count:
                self.rssi_enabled = payload[2 + NVM_RSSI_ENABLE - address] == 1
                held, self._held = self._held, []
                out.extend(m for m in map(self._indication, held) if m is not None)
        elif command == Command.RESET_REQ | CONFIRM and self.rssi_after_restart is not None:
            self.rssi_enabled, self.rssi_after_restart = self.rssi_after_restart, None

    def _indication(self, payload: bytes) -> Indication | None:
        rssi_dbm = None
        if self.rssi_enabled and payload:
            rssi_dbm = amber_rssi_dbm(payload[-1])
            payload = payload[:-1]
        if len(payload) < MIN_TELEGRAM:
            self._stats.count_error(ErrorReason.MALFORMED, f"telegram of {len(payload)} bytes")
            return None
        # The module drops the L field; put it back (L = length - 1).
        return Indication(bytes([len(payload)]) + payload, rssi_dbm, self._link_mode)


class AmberSource(SerialSource):
    """AMB8465-M USB stick and Metis-II: mode set in volatile memory, RSSI appended."""

    default_baudrate: ClassVar[int] = 9600
    kind: ClassVar[str] = "amb8465"

    serial_number: bytes = b""
    firmware: bytes = b""

    def _make_codec(self) -> DongleCodec:
        return AmberCodec(self.stats, self.frame_link_mode)

    async def _request(self, command: Command, payload: bytes = b"") -> bytes:
        return await self._command(encode_command(command, payload), command | CONFIRM)

    async def _get(self, address: int) -> int | None:
        answer = await self._request(Command.GET_REQ, bytes([address, 1]))
        return answer[2] if len(answer) >= 3 and answer[0] == address else None

    async def _initialise(self) -> None:
        mode = receive_mode(self.link_modes)
        self.serial_number = await self._request(Command.SERIALNO_REQ)
        self.firmware = await self._request(Command.FWV_REQ)
        # Both live in non-volatile memory only: write what is off once, then restart the module.
        wrong = [
            (address, name)
            for address, name in (
                (NVM_UART_CMD_OUT_ENABLE, "UART_CMD_Out_Enable"),
                (NVM_RSSI_ENABLE, "RSSI_Enable"),
            )
            if await self._get(address) != 1
        ]
        for address, name in wrong:
            log.warning(
                "radio %s (%s): %s is off; turning it on in the stick's flash (once)",
                self.name,
                self.device_path,
                name,
            )
            status = await self._request(Command.SET_REQ, bytes([address, 1, 1]))
            if status[:1] != b"\x00":
                raise SourceError(f"setting {name} refused (status {status.hex()})")
        if wrong:
            codec = self._codec
            if isinstance(codec, AmberCodec):
                codec.rssi_after_restart = True
            await self._request(Command.RESET_REQ)
        status = await self._request(Command.SET_MODE_REQ, bytes([mode]))
        if status[:1] != b"\x00":
            raise SourceError(f"CMD_SET_MODE_REQ refused (status {status.hex() or 'empty'})")
