"""IMST iM871A (and iM170A family) over the WM-Bus HCI protocol, SOF 0xA5, 57600 baud.

Frame (IMST "WMBus HCI Specification" v1.6/1.7): ``A5 | ctrl<<4 | endpoint | msg id | length |
payload | [timestamp 4, little-endian] | [RSSI 1] | [CRC16 2, little-endian]``. Control bits:
0x2 timestamp attached, 0x4 RSSI attached, 0x8 CRC attached (0x1 reserved). The CRC is CRC-16/X-25
over everything after the SOF. A received telegram is RADIOLINK (2) message WMBUSMSG_IND (3) whose
payload starts at the C field.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    skip_to_marker,
)

SOF = 0xA5
HEADER = 4
MIN_TELEGRAM = 10  # C, M (2), A (6), CI


class Endpoint(IntEnum):
    DEVMGMT = 0x01
    RADIOLINK = 0x02
    RADIOLINKTEST = 0x03
    HWTEST = 0x04


class DevMgmt(IntEnum):
    PING_REQ = 0x01
    PING_RSP = 0x02
    SET_CONFIG_REQ = 0x03
    SET_CONFIG_RSP = 0x04
    GET_CONFIG_REQ = 0x05
    GET_CONFIG_RSP = 0x06
    RESET_REQ = 0x07
    RESET_RSP = 0x08
    GET_DEVICEINFO_REQ = 0x0F
    GET_DEVICEINFO_RSP = 0x10
    GET_FWINFO_REQ = 0x13
    GET_FWINFO_RSP = 0x14


class RadioLink(IntEnum):
    WMBUSMSG_REQ = 0x01
    WMBUSMSG_RSP = 0x02
    WMBUSMSG_IND = 0x03
    DATA_REQ = 0x04
    DATA_RSP = 0x05


class ControlFlag(IntEnum):
    RESERVED = 0x1
    TIMESTAMP = 0x2
    RSSI = 0x4
    CRC = 0x8


# Highest message id per endpoint; anything above is line noise that happened to follow an 0xA5.
_MAX_MSG_ID = {
    Endpoint.DEVMGMT: 0x27,
    Endpoint.RADIOLINK: 0x05,
    Endpoint.RADIOLINKTEST: 0x07,
    Endpoint.HWTEST: 0x02,
}


class Im871aLinkMode(IntEnum):
    """Link mode codes of SetConfig (HCI spec table "Link Modes")."""

    S1 = 0x00
    S1M = 0x01
    S2 = 0x02
    T1 = 0x03
    T2 = 0x04
    R2 = 0x05
    C1A = 0x06
    C1B = 0x07
    C2A = 0x08
    C2B = 0x09
    C1_T1 = 0x0A  # combined C1/T1 reception, firmware 1.4 (0x14) and later


FIRMWARE_C_AND_T = 0x14
MODULE_IM871A = 0x33
MODULE_IM170A = 0x36
CONFIG_VOLATILE = 0x00
IIFLAG1_LINK_MODE = 0x02
IIFLAG2_RSSI = 0x10
IIFLAG2_TIMESTAMP = 0x20


def im871a_rssi_dbm(raw: int) -> float:
    """RSSI byte -> dBm, a linear fit of the receiver's RSSI curve (Si1002) the HCI spec refers to.

    Raw 45 is about -100 dBm and raw 205 about -20 dBm; 230 and above saturate at 0 dBm.
    """
    if raw >= 230:
        return 0.0
    return round(-100.0 + (raw - 45) * 80.0 / 160.0, 1)


def encode_hci(endpoint: int, msg_id: int, payload: bytes = b"", *, with_crc: bool = False) -> bytes:
    """One HCI frame as the host sends it."""
    control = ControlFlag.CRC if with_crc else 0
    body = bytes([(control << 4) | endpoint, msg_id, len(payload)]) + payload
    if with_crc:
        body += crc16_ccitt(body).to_bytes(2, "little")
    return bytes([SOF]) + body


_LINK_MODES = {
    frozenset({LinkMode.T1}): Im871aLinkMode.T1,
    frozenset({LinkMode.C1}): Im871aLinkMode.C1A,
    frozenset({LinkMode.S1}): Im871aLinkMode.S1,
    frozenset({LinkMode.T1, LinkMode.C1}): Im871aLinkMode.C1_T1,
}


def link_mode_code(modes: tuple[LinkMode, ...]) -> Im871aLinkMode:
    return dongle_mode(modes, _LINK_MODES, "iM871A")


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """GET_DEVICEINFO_RSP: module type (0x33 iM871A, 0x36 iM170A), mode, firmware, HCI version, UID."""

    module_type: int
    device_mode: int
    firmware_version: int
    hci_version: int
    uid: int

    @classmethod
    def parse(cls, payload: bytes) -> DeviceInfo:
        if len(payload) < 8:
            raise SourceError(f"device info too short ({len(payload)} bytes)")
        return cls(payload[0], payload[1], payload[2], payload[3], int.from_bytes(payload[4:8], "little"))


class HciCodec:
    """Byte stream -> HCI messages; resynchronises on the next 0xA5 after garbage."""

    def __init__(self, stats: SourceStats, link_mode: LinkMode) -> None:
        self._stats = stats
        self._link_mode = link_mode
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[DongleMessage]:
        self._buffer += data
        out: list[DongleMessage] = []
        buf = self._buffer
        while buf:
            if buf[0] != SOF:
                skip_to_marker(buf, SOF, self._stats)
                continue
            if len(buf) < HEADER:
                break
            control, endpoint, msg_id, length = buf[1] >> 4, buf[1] & 0x0F, buf[2], buf[3]
            if (
                control & ControlFlag.RESERVED
                or endpoint not in _MAX_MSG_ID
                or not (1 <= msg_id <= _MAX_MSG_ID[Endpoint(endpoint)])
            ):
                self._stats.count_error(ErrorReason.MALFORMED, "bad HCI header")
                self._stats.garbage_bytes += 1
                del buf[:1]
                continue
            extra = (4 if control & ControlFlag.TIMESTAMP else 0) + (1 if control & ControlFlag.RSSI else 0)
            total = HEADER + length + extra + (2 if control & ControlFlag.CRC else 0)
            if len(buf) < total:
                break
            frame = bytes(buf[:total])
            if control & ControlFlag.CRC and crc16_ccitt(frame[1:-2]) != int.from_bytes(frame[-2:], "little"):
                self._stats.count_error(ErrorReason.CHECKSUM, "HCI CRC mismatch")
                self._stats.garbage_bytes += 1
                del buf[:1]
                continue
            del buf[:total]
            message = self._message(control, endpoint, msg_id, frame[HEADER : HEADER + length], frame)
            if message is not None:
                out.append(message)
        return out

    def _message(
        self, control: int, endpoint: int, msg_id: int, payload: bytes, frame: bytes
    ) -> DongleMessage | None:
        if endpoint == Endpoint.RADIOLINK and msg_id == RadioLink.WMBUSMSG_IND:
            if len(payload) < MIN_TELEGRAM:
                self._stats.count_error(ErrorReason.MALFORMED, f"telegram of {len(payload)} bytes")
                return None
            rssi_dbm = None
            if control & ControlFlag.RSSI:
                rssi_at = HEADER + len(payload) + (4 if control & ControlFlag.TIMESTAMP else 0)
                rssi_dbm = im871a_rssi_dbm(frame[rssi_at])
            # The HCI payload starts at the C field; the stack wants L first (L = length - 1).
            return Indication(bytes([len(payload)]) + payload, rssi_dbm, self._link_mode)
        return Response((endpoint, msg_id), payload)


class Im871aSource(SerialSource):
    """iM871A-USB (and WMB-USB sticks built on it): T1, C1, S1 or T1+C1."""

    default_baudrate: ClassVar[int] = 57600
    kind: ClassVar[str] = "im871a"

    device_info: DeviceInfo | None = None
    firmware_info: bytes = b""

    def _make_codec(self) -> DongleCodec:
        return HciCodec(self.stats, self.frame_link_mode)

    async def _devmgmt(self, request: DevMgmt, reply: DevMgmt, payload: bytes = b"") -> bytes:
        return await self._command(encode_hci(Endpoint.DEVMGMT, request, payload), (Endpoint.DEVMGMT, reply))

    async def _identify(self) -> DeviceInfo:
        """Ping, device info and firmware info: the first words with a stick just opened."""
        await self._devmgmt(DevMgmt.PING_REQ, DevMgmt.PING_RSP)
        self.device_info = DeviceInfo.parse(
            await self._devmgmt(DevMgmt.GET_DEVICEINFO_REQ, DevMgmt.GET_DEVICEINFO_RSP)
        )
        self.firmware_info = await self._devmgmt(DevMgmt.GET_FWINFO_REQ, DevMgmt.GET_FWINFO_RSP)
        return self.device_info

    async def _set_config(self, config: bytes) -> None:
        status = await self._devmgmt(DevMgmt.SET_CONFIG_REQ, DevMgmt.SET_CONFIG_RSP, config)
        if status[:1] != b"\x00":
            raise SourceError(f"SetConfig refused (status {status.hex() or 'empty'})")

    async def _initialise(self) -> None:
        mode = link_mode_code(self.link_modes)
        info = await self._identify()
        if info.module_type == MODULE_IM170A:
            raise SourceError("the stick is an iM170A (169 MHz N mode): configure it as type = \"im170a\"")
        if mode is Im871aLinkMode.C1_T1 and info.firmware_version < FIRMWARE_C_AND_T:
            raise SourceError(f"firmware {info.firmware_version:#04x} cannot receive T1+C1 together")
        await self._set_config(
            bytes([CONFIG_VOLATILE, IIFLAG1_LINK_MODE, mode, IIFLAG2_RSSI | IIFLAG2_TIMESTAMP, 0x01, 0x01])
        )
