"""IMST iU891A-XL (and iM891A-XL) over its HCI: SLIP-framed messages with a CRC, 115200 baud.

Message (IMST "iU891A-XL HCI" / WM-Bus gateway application): SLIP (RFC 1055: END 0xC0, ESC 0xDB,
0xDC, 0xDD) around ``SAP id | message id | [status, in responses] | payload | CRC16 little-endian``,
CRC-16/X-25 over SAP id..payload. RX_MESSAGE_IND (SAP 0x09, id 0x20) payload: timestamp (4),
decryption status, encryption mode, packet info, RSSI (signed dBm), then the telegram from its L field
with the link-layer CRCs removed. The packet info names the mode each telegram was heard in (IMST's
PI codes: 0x01 S, 0x02 T, 0x04 and 0x05 C, 0x06 T; +0x10 for frame format B): in combined C/T reception
it tells C1 from T1 telegram by telegram.
"""

from __future__ import annotations

import asyncio
import logging
from enum import IntEnum
from typing import ClassVar

from gateway.frame import LinkMode
from gateway.radio.base import ErrorReason, SourceError, SourceStats
from gateway.radio.checksums import crc16_ccitt
from gateway.radio.serial_source import (
    DongleCodec,
    DongleMessage,
    Indication,
    Response,
    SerialSource,
    dongle_mode,
)

SLIP_END = 0xC0
SLIP_ESC = 0xDB
SLIP_ESC_END = 0xDC
SLIP_ESC_ESC = 0xDD
RX_HEADER = 8  # timestamp 4, decryption status, encryption mode, packet info, RSSI
RX_PACKET_INFO = 6
RX_RSSI = 7
MIN_TELEGRAM = 11  # L, C, M (2), A (6), CI
PACKET_INFO_FORMAT_B = 0x10
FORMAT_B_FIRST_ROOM = 125  # bytes after L that fit in format B's first CRC-protected part (128 - L - CRC)

# Packet info (its low nibble) -> the link mode the telegram was heard in.
_PACKET_INFO_MODES = {
    0x01: LinkMode.S1,
    0x02: LinkMode.T1,
    0x04: LinkMode.C1,
    0x05: LinkMode.C1,
    0x06: LinkMode.T1,
}


class Sap(IntEnum):
    DEVMGMT = 0x01
    WMBUSGW = 0x09


class DevMgmt(IntEnum):
    STARTUP_IND = 0x00
    PING_REQ = 0x01
    PING_RSP = 0x02
    GET_DEVICE_INFO_REQ = 0x03
    GET_DEVICE_INFO_RSP = 0x04
    GET_FW_INFO_REQ = 0x05
    GET_FW_INFO_RSP = 0x06


class WmbusGw(IntEnum):
    GET_ACTIVE_CONFIGURATION_REQ = 0x01
    GET_ACTIVE_CONFIGURATION_RSP = 0x02
    SET_ACTIVE_CONFIGURATION_REQ = 0x03
    SET_ACTIVE_CONFIGURATION_RSP = 0x04
    RX_MESSAGE_IND = 0x20
    SET_SCAN_MODE_REQ = 0x21
    SET_SCAN_MODE_RSP = 0x22
    SCAN_MODE_IND = 0x24


class Iu891aLinkMode(IntEnum):
    OFF = 0
    S = 1
    T = 2
    C_T = 3
    C = 5


log = logging.getLogger(__name__)

OPTION_RECEIVE_IND = 0x0002  # bit 0 clear: forward every telegram, not only listed meters
OPTION_SEND_IND = 0x0004
SCAN_MODE_OFF = bytes(3)  # SET_SCAN_MODE: link modes none, period 0


def slip_encode(message: bytes) -> bytes:
    out = bytearray([SLIP_END])
    for byte in message:
        if byte == SLIP_END:
            out += bytes([SLIP_ESC, SLIP_ESC_END])
        elif byte == SLIP_ESC:
            out += bytes([SLIP_ESC, SLIP_ESC_ESC])
        else:
            out.append(byte)
    out.append(SLIP_END)
    return bytes(out)


def slip_decode(body: bytes) -> bytes | None:
    """Undo SLIP escaping; None for an invalid escape."""
    out = bytearray()
    escaped = False
    for byte in body:
        if escaped:
            if byte == SLIP_ESC_END:
                out.append(SLIP_END)
            elif byte == SLIP_ESC_ESC:
                out.append(SLIP_ESC)
            else:
                return None
            escaped = False
        elif byte == SLIP_ESC:
            escaped = True
        else:
            out.append(byte)
    return None if escaped else bytes(out)


def encode_request(sap: int, msg_id: int, payload: bytes = b"") -> bytes:
    message = bytes([sap, msg_id]) + payload
    return slip_encode(message + crc16_ccitt(message).to_bytes(2, "little"))


_LINK_MODES = {
    frozenset({LinkMode.T1}): Iu891aLinkMode.T,
    frozenset({LinkMode.C1}): Iu891aLinkMode.C,
    frozenset({LinkMode.S1}): Iu891aLinkMode.S,
    frozenset({LinkMode.T1, LinkMode.C1}): Iu891aLinkMode.C_T,
}


def link_mode_code(modes: tuple[LinkMode, ...]) -> Iu891aLinkMode:
    return dongle_mode(modes, _LINK_MODES, "iU891A")


def format_b_l_field(length: int) -> int:
    """The L field a format B frame had on air, given its length without CRCs (L first)."""
    body = length - 1
    return body + (2 if body <= FORMAT_B_FIRST_ROOM else 4)


class SlipCodec:
    """Byte stream -> iU891A messages; bytes outside SLIP frames are garbage."""

    def __init__(self, stats: SourceStats, link_mode: LinkMode) -> None:
        self._stats = stats
        self._link_mode = link_mode
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[DongleMessage]:
        self._buffer += data
        out: list[DongleMessage] = []
        while (end := self._buffer.find(SLIP_END)) >= 0:
            body = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            if body:
                message = self._message(body)
                if message is not None:
                    out.append(message)
        return out

    def _message(self, body: bytes) -> DongleMessage | None:
        message = slip_decode(body)
        if message is None or len(message) < 4:
            self._stats.count_error(ErrorReason.MALFORMED, "bad SLIP frame")
            self._stats.garbage_bytes += len(body)
            return None
        if crc16_ccitt(message[:-2]) != int.from_bytes(message[-2:], "little"):
            self._stats.count_error(ErrorReason.CHECKSUM, "iU891A CRC mismatch")
            self._stats.garbage_bytes += len(body)
            return None
        sap, msg_id, payload = message[0], message[1], message[2:-2]
        if sap == Sap.WMBUSGW and msg_id == WmbusGw.RX_MESSAGE_IND:
            return self._indication(payload)
        # Responses carry a status byte before their payload.
        return Response((sap, msg_id), payload)

    def _indication(self, payload: bytes) -> Indication | None:
        if len(payload) < RX_HEADER + MIN_TELEGRAM:
            self._stats.count_error(ErrorReason.MALFORMED, "bad RX indication")
            return None
        info = payload[RX_PACKET_INFO]
        telegram = payload[RX_HEADER:]
        if telegram[0] != len(telegram) - 1:
            # A format B telegram whose L still counts the CRCs the stick removed: the stack wants
            # L = length - 1, as from every other source.
            if not info & PACKET_INFO_FORMAT_B or telegram[0] != format_b_l_field(len(telegram)):
                self._stats.count_error(ErrorReason.MALFORMED, "bad RX indication")
                return None
            telegram = bytes([len(telegram) - 1]) + telegram[1:]
        rssi_dbm = float(int.from_bytes(payload[RX_RSSI : RX_RSSI + 1], "little", signed=True))
        return Indication(telegram, rssi_dbm, _PACKET_INFO_MODES.get(info & 0x0F, self._link_mode))


class Iu891aSource(SerialSource):
    """iU891A-XL USB stick."""

    default_baudrate: ClassVar[int] = 115200
    kind: ClassVar[str] = "iu891a"

    device_info: bytes = b""
    firmware_info: bytes = b""
    _restart_task: asyncio.Task[None] | None = None
    _scan_task: asyncio.Task[None] | None = None

    def _make_codec(self) -> DongleCodec:
        return SlipCodec(self.stats, self.frame_link_mode)

    async def _request(self, sap: int, request: int, reply: int, payload: bytes = b"") -> bytes:
        answer = await self._command(encode_request(sap, request, payload), (sap, reply))
        if not answer or answer[0] != 0:
            raise SourceError(
                f"request {sap:#04x}/{request:#04x} failed (status {answer[:1].hex() or 'none'})"
            )
        return answer[1:]

    def _unsolicited(self, message: Response) -> bool:
        if message.key == (Sap.WMBUSGW, WmbusGw.SCAN_MODE_IND):
            self._scan_mode_seen()
            return True
        if message.key != (Sap.DEVMGMT, DevMgmt.STARTUP_IND):
            return False
        # The stick booted (brown-out, watchdog): it runs its NVM configuration again, often with
        # the receiver off, so configure it afresh.
        if self.stats.connected:  # not during our own start-up, which configures it anyway
            log.warning(
                "radio %s (%s): the stick restarted by itself; configuring it again",
                self.name,
                self.device_path,
            )
            self._restart_task = asyncio.get_running_loop().create_task(self._configure_again())
        return True

    def _scan_mode_seen(self) -> None:
        """A scan result: the stick was left in scan mode, which reports only each telegram's header."""
        if self._scan_task is not None and not self._scan_task.done():
            return
        self.stats.count_error(ErrorReason.UNEXPECTED, "the stick is in scan mode (headers only)")
        log.warning(
            "radio %s (%s): the stick is in scan mode (left by another tool; telegrams come as headers"
            " only): turning it off",
            self.name,
            self.device_path,
        )
        self._scan_task = asyncio.get_running_loop().create_task(self._scan_mode_off())

    async def _scan_mode_off(self) -> None:
        try:
            await self._request(
                Sap.WMBUSGW, WmbusGw.SET_SCAN_MODE_REQ, WmbusGw.SET_SCAN_MODE_RSP, SCAN_MODE_OFF
            )
            await self._initialise()
        except (OSError, TimeoutError, SourceError) as err:
            log.warning("radio %s (%s): could not leave scan mode: %s", self.name, self.device_path, err)
        else:
            log.info("radio %s (%s): scan mode off, telegrams come whole again", self.name, self.device_path)

    async def _configure_again(self) -> None:
        try:
            await self.reinitialise()
        except SourceError as err:
            log.warning("%s", err)

    async def _initialise(self) -> None:
        mode = link_mode_code(self.link_modes)
        # A run of END bytes wakes the stick and flushes any half frame on its side.
        await self._send(bytes([SLIP_END]) * 8)
        await self._request(Sap.DEVMGMT, DevMgmt.PING_REQ, DevMgmt.PING_RSP)
        self.device_info = await self._request(
            Sap.DEVMGMT, DevMgmt.GET_DEVICE_INFO_REQ, DevMgmt.GET_DEVICE_INFO_RSP
        )
        self.firmware_info = await self._request(
            Sap.DEVMGMT, DevMgmt.GET_FW_INFO_REQ, DevMgmt.GET_FW_INFO_RSP
        )
        options = OPTION_RECEIVE_IND | OPTION_SEND_IND
        config = bytes([mode]) + options.to_bytes(2, "little") + bytes(2) + bytes(2) + bytes(4)
        await self._request(
            Sap.WMBUSGW, WmbusGw.SET_ACTIVE_CONFIGURATION_REQ, WmbusGw.SET_ACTIVE_CONFIGURATION_RSP, config
        )
