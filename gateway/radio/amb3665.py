"""Amber / Würth Elektronik AMB3665-M (169 MHz, wM-Bus N mode) in command mode, 9600 baud.

The AMB3665 speaks the AMB8465's command protocol (``FF | command | length | payload | XOR``, see
gateway.radio.amber, whose codec reads it); what differs is the band and the mode codes of
CMD_SET_MODE_REQ (Würth "Metis" driver, Mode_Preselect for 169 MHz: N1a 0x01, N2a 0x02, ... N1f 0x0B,
N2f 0x0C). The stick listens with the N2 code of the channel: it then hears the N1 and N2 meters there.

Sticks leave the factory with UART_CMD_Out_Enable (NVM 0x05) off: received telegrams then come out
raw, without the FF frame, and the gateway would read none. As the maker's driver does, start-up
reads it and RSSI_Enable (NVM 0x45), writes those that are off once (flash wears: never on every
start) and restarts the module so that they take effect; until then frames are read as the stick
still sends them (RSSI appended or not).
"""

from __future__ import annotations

import asyncio
from enum import IntEnum
from typing import ClassVar

from gateway.frame import LinkMode
from gateway.radio.amber import CONFIRM, AmberCodec, Command, encode_command
from gateway.radio.base import SourceError
from gateway.radio.nmode import CHANNELS
from gateway.radio.serial_source import DongleCodec, SerialSource, dongle_mode

NVM_UART_CMD_OUT_ENABLE = 0x05
NVM_RSSI_ENABLE = 0x45
RESET_SETTLE_S = 0.3  # the maker's driver waits this long after CMD_RESET_REQ before talking again


class Amb3665Mode(IntEnum):
    """Receive modes of CMD_SET_MODE_REQ at 169 MHz (the N2 code of each channel)."""

    N2A = 0x02
    N2B = 0x04
    N2C = 0x06
    N2D = 0x08
    N2E = 0x0A
    N2F = 0x0C


_RECEIVE_MODES = {frozenset({mode}): Amb3665Mode[f"N2{mode.value[-1].upper()}"] for mode in CHANNELS}


def receive_mode(modes: tuple[LinkMode, ...]) -> Amb3665Mode:
    """The mode code for one N sub-mode (the module listens on one channel at a time)."""
    return dongle_mode(modes, _RECEIVE_MODES, "AMB3665")


class Amb3665Source(SerialSource):
    """AMB3665-M USB stick: UART output and RSSI enabled once in NVM, the mode set in volatile memory."""

    default_baudrate: ClassVar[int] = 9600
    kind: ClassVar[str] = "amb3665"

    serial_number: bytes = b""
    firmware: bytes = b""
    nvm_writes: int = 0  # parameters written to flash since this source was made (tests, status)

    def _make_codec(self) -> DongleCodec:
        return AmberCodec(self.stats, self.frame_link_mode)

    async def _request(self, command: Command, payload: bytes = b"") -> bytes:
        return await self._command(encode_command(command, payload), command | CONFIRM)

    async def _get(self, address: int) -> int:
        reply = await self._request(Command.GET_REQ, bytes([address, 1]))
        if len(reply) != 3 or reply[0] != address or reply[1] != 1:
            raise SourceError(f"CMD_GET_REQ {address:#04x}: unexpected reply {reply.hex() or 'empty'}")
        return reply[2]

    async def _set(self, address: int, value: int) -> None:
        status = await self._request(Command.SET_REQ, bytes([address, 1, value]))
        if status[:1] != b"\x00":
            raise SourceError(f"CMD_SET_REQ {address:#04x} refused (status {status.hex() or 'empty'})")
        self.nvm_writes += 1

    def _expect_rssi(self, enabled: bool) -> None:
        codec = self._codec
        if isinstance(codec, AmberCodec):
            codec.rssi_enabled = enabled

    async def _initialise(self) -> None:
        mode = receive_mode(self.link_modes)
        self.serial_number = await self._request(Command.SERIALNO_REQ)
        self.firmware = await self._request(Command.FWV_REQ)
        uart_out = await self._get(NVM_UART_CMD_OUT_ENABLE)
        rssi = await self._get(NVM_RSSI_ENABLE)
        self._expect_rssi(rssi == 1)
        written = False
        for address, value in ((NVM_UART_CMD_OUT_ENABLE, uart_out), (NVM_RSSI_ENABLE, rssi)):
            if value != 1:
                await self._set(address, 1)
                written = True
        if written:
            await self._request(Command.RESET_REQ)
            await asyncio.sleep(RESET_SETTLE_S)  # the module's own boot time, not the daemon's clock
            self._expect_rssi(True)
        status = await self._request(Command.SET_MODE_REQ, bytes([mode]))
        if status[:1] != b"\x00":
            raise SourceError(f"CMD_SET_MODE_REQ refused (status {status.hex() or 'empty'})")
