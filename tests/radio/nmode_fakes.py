"""Fake 169 MHz sticks on pseudo-terminals: the Amber AMB3665-M and the IMST iM170A, byte for byte.

Written from the makers' public descriptions, not from the gateway's code:

- Amber / Würth AMB3665-M: the Amber wM-Bus command interface (``FF | command | length | payload |
  XOR of all bytes``, confirmations with bit 7 set) as the Würth Elektronik "Metis" driver of its
  Wireless Connectivity SDK speaks it to the AMB8xxx and AMB3665 modules: CMD_SET_MODE_REQ 0x04 with
  the 169 MHz Mode_Preselect codes (N1a 0x01, N2a 0x02, ... N2f 0x0C), CMD_RESET_REQ 0x05, CMD_SET_REQ
  0x09 / CMD_GET_REQ 0x0A on the non-volatile parameters (UART_CMD_Out_Enable 0x05, RSSI_Enable 0x45,
  Mode_Preselect 0x46; written values take effect after a reset), CMD_SERIALNO_REQ 0x0B, CMD_FWV_REQ
  0x0C, CMD_DATA_IND 0x03 (from the C field, RSSI appended when enabled). With UART_CMD_Out_Enable
  off (as sticks are found) received telegrams come out without the command frame.
- IMST iM170A: the WM-Bus HCI of the iM871A (tests.radio.fakes.FakeIm871a) with module type 0x36,
  SetConfig / GetConfig with their IIFlag field groups (device mode, link mode; RSSI and timestamp
  attachment) and the N-mode link mode codes (N1a 0x0A, N2a 0x0B, ... N2f 0x15).

Both hear a meter only on the channel they are tuned to, check the frame format B CRCs the meter sent
(and drop the frame when they fail, as radio modules do) and hand over the frame without them.
"""

from __future__ import annotations

from pathlib import Path

from gateway.frame import LinkMode
from gateway.wmbus.crc import crc16 as wmbus_crc16
from tests.radio.fakes import FakeDongle, FakeIm871a, amber_frame, xor_all

NVM_UART_CMD_OUT_ENABLE = 0x05
NVM_RSSI_ENABLE = 0x45
NVM_MODE_PRESELECT = 0x46


def channel_of(mode: LinkMode) -> str:
    """EN 13757-4: N1a/N2a on channel 1a, N1b/N2b 1b, N1c/N2c 2a, N1d/N2d 2b, N1e/N2e 3a, N1f/N2f 3b."""
    return {"a": "1a", "b": "1b", "c": "2a", "d": "2b", "e": "3a", "f": "3b"}[mode.value[2]]


def format_b_payload(on_air: bytes) -> bytes | None:
    """Check a frame format B's CRCs; the frame without L and CRCs (C field first), or None."""
    total = on_air[0] + 1
    if len(on_air) < total or total < 12:
        return None
    frame = on_air[:total]

    def ok(block: bytes, crc: bytes) -> bool:
        return wmbus_crc16(block) == int.from_bytes(crc, "big")

    if total <= 128:  # blocks 1 and 2 only: one CRC over everything before it
        return frame[1:-2] if ok(frame[:-2], frame[-2:]) else None
    if not (ok(frame[:126], frame[126:128]) and ok(frame[128:-2], frame[-2:])):
        return None
    return frame[1:126] + frame[128:-2]


class FakeAmb3665(FakeDongle):
    """AMB3665-M USB stick: NVM parameters, reset, volatile mode, CMD_DATA_IND or raw output."""

    serial = b"\x00\x01\x36\x65"
    firmware = b"\x01\x03\x00"

    def __init__(
        self,
        directory: Path,
        name: str = "ttyAMB3665",
        *,
        uart_cmd_out: bool = False,
        rssi_enabled: bool = False,
        preselect: int = 0x02,
    ) -> None:
        super().__init__(directory, name)
        self.nvm = bytearray(b"\xff" * 0x80)
        self.nvm[NVM_UART_CMD_OUT_ENABLE] = int(uart_cmd_out)
        self.nvm[NVM_RSSI_ENABLE] = int(rssi_enabled)
        self.nvm[NVM_MODE_PRESELECT] = preselect
        self.nvm_writes: list[tuple[int, bytes]] = []
        self.resets = 0
        self._boot()
        self._buffer = bytearray()

    def _boot(self) -> None:
        """Power-up or reset: the parameters in flash become the working ones."""
        self.cmd_out = self.nvm[NVM_UART_CMD_OUT_ENABLE] == 1
        self.rssi = self.nvm[NVM_RSSI_ENABLE] == 1
        self.mode = self.nvm[NVM_MODE_PRESELECT]

    @property
    def channel(self) -> str | None:
        if not 0x01 <= self.mode <= 0x0C:
            return None
        return ("1a", "1b", "2a", "2b", "3a", "3b")[(self.mode - 1) // 2]

    frame = staticmethod(amber_frame)

    def on_host_bytes(self, data: bytes) -> None:
        self._buffer += data
        while self._buffer:
            if self._buffer[0] != 0xFF:
                del self._buffer[:1]
                continue
            if len(self._buffer) < 4 or len(self._buffer) < 4 + self._buffer[2]:
                return
            total = 4 + self._buffer[2]
            chunk = bytes(self._buffer[:total])
            del self._buffer[:total]
            if xor_all(chunk[:-1]) != chunk[-1]:
                continue
            self.commands.append((chunk[1], chunk[3:-1]))
            self._answer(chunk[1], chunk[3:-1])

    def _answer(self, command: int, payload: bytes) -> None:
        if command == 0x0B:
            self.reply(self.frame(0x8B, self.serial))
        elif command == 0x0C:
            self.reply(self.frame(0x8C, self.firmware))
        elif command == 0x0A:
            address, count = payload[0], payload[1]
            self.reply(self.frame(0x8A, bytes([address, count]) + bytes(self.nvm[address : address + count])))
        elif command == 0x09:
            address, count, values = payload[0], payload[1], payload[2:]
            if len(values) != count or address + count > len(self.nvm):
                self.reply(self.frame(0x89, b"\x01"))
                return
            self.nvm[address : address + count] = values
            self.nvm_writes.append((address, bytes(values)))
            self.reply(self.frame(0x89, b"\x00"))
        elif command == 0x05:
            self.resets += 1
            self.reply(self.frame(0x85, b"\x00"))
            self._boot()
        elif command == 0x04:
            if not 0x01 <= payload[0] <= 0x0C:
                self.reply(self.frame(0x84, b"\x01"))
                return
            self.mode = payload[0]
            self.reply(self.frame(0x84, b"\x00"))
            if self.responding:
                self.configured.set()

    def hear(self, on_air: bytes, mode: LinkMode, rssi_raw: int = 0x80) -> bool:
        """A meter sends ``on_air`` (format B, CRCs in) in N sub-mode ``mode``; True when passed on."""
        if self.channel != channel_of(mode):
            return False
        payload = format_b_payload(on_air)
        if payload is None:
            return False
        payload += bytes([rssi_raw]) if self.rssi else b""
        # Command output: CMD_DATA_IND from the C field. Transparent output: a length byte, then the same.
        self.inject(self.frame(0x03, payload) if self.cmd_out else bytes([len(payload)]) + payload)
        return True

    def send_telegram(self, frame: bytes, rssi_raw: int = 0x80) -> None:
        raise NotImplementedError("use hear(): the AMB3665 hears format B frames on its channel")


IM170A_LINK_MODES = {
    f"N{kind}{letter}": 0x0A + 2 * index + (kind == "2")
    for index, letter in enumerate("abcdef")
    for kind in "12"
}


class FakeIm170a(FakeIm871a):
    """iM170A-USB: HCI like the iM871A; device mode, N link mode, RSSI/timestamp attachment settable."""

    def __init__(
        self,
        directory: Path,
        name: str = "ttyIM170A",
        *,
        with_crc: bool = True,
        device_mode: int = 0x00,
        link_mode: int = 0x0A,
        attach_rssi: bool = True,
        attach_timestamp: bool = True,
        module_type: int = 0x36,
    ) -> None:
        super().__init__(directory, name, with_crc=with_crc)
        self.module_type = module_type
        self.device_mode = device_mode
        self.link_mode = link_mode
        self.attach_rssi = attach_rssi
        self.attach_timestamp = attach_timestamp

    @property
    def channel(self) -> str | None:
        if not 0x0A <= self.link_mode <= 0x15:
            return None
        return ("1a", "1b", "2a", "2b", "3a", "3b")[(self.link_mode - 0x0A) // 2]

    def _set_config(self, payload: bytes) -> int:
        """Apply a SetConfig payload (NVM flag, IIFlag1 and its fields, IIFlag2 and its fields)."""
        pos = 1
        flags1 = payload[pos]
        pos += 1
        sizes1 = (1, 1, 1, 2, 4, 1, 1, 1)  # device mode, link mode, C, M, A id, version, type, channel
        values: dict[int, bytes] = {}
        for bit, size in enumerate(sizes1):
            if flags1 & (1 << bit):
                values[bit] = payload[pos : pos + size]
                pos += size
        if 0 in values:
            self.device_mode = values[0][0]
        if 1 in values:
            if not 0x0A <= values[1][0] <= 0x15:
                return 0x01  # not a link mode of this module
            self.link_mode = values[1][0]
        if pos < len(payload):
            flags2 = payload[pos]
            pos += 1
            for bit in range(8):  # power, data rate, rx window, power saving, RSSI, timestamp, LED, RTC
                if flags2 & (1 << bit):
                    if bit == 4:
                        self.attach_rssi = payload[pos] == 1
                    if bit == 5:
                        self.attach_timestamp = payload[pos] == 1
                    pos += 1
        return 0x00

    def _answer(self, endpoint: int, msg_id: int, payload: bytes) -> None:
        if endpoint != 0x01:
            return
        if msg_id == 0x01:
            self.reply(self.hci(0x01, 0x02, b""))
        elif msg_id == 0x0F:  # module type, device mode, firmware, HCI version, UID
            info = bytes([self.module_type, self.device_mode, 0x11, 0x11]) + b"\x70\x01\x36\x00"
            self.reply(self.hci(0x01, 0x10, info))
        elif msg_id == 0x13:
            self.reply(self.hci(0x01, 0x14, bytes([0x01, 0x01, 0x00, 0x10]) + b"iM170A_WMBUS"))
        elif msg_id == 0x05:  # GetConfig: device mode and link mode; RSSI and timestamp attachment
            config = bytes([0x03, self.device_mode, self.link_mode, 0x30])
            self.reply(self.hci(0x01, 0x06, config + bytes([self.attach_rssi, self.attach_timestamp])))
        elif msg_id == 0x03:
            status = self._set_config(payload)
            self.reply(self.hci(0x01, 0x04, bytes([status])))
            if status == 0 and self.responding:
                self.configured.set()

    def hear(self, on_air: bytes, mode: LinkMode, rssi_raw: int = 0x80) -> bool:
        """A meter sends ``on_air`` (format B) in ``mode``; only a collector on its channel passes it on."""
        if self.device_mode != 0x00 or self.channel != channel_of(mode):
            return False
        payload = format_b_payload(on_air)
        if payload is None:
            return False
        rssi = rssi_raw if self.attach_rssi else None
        self.inject(self.hci(0x02, 0x03, payload, rssi=rssi, ts=self.attach_timestamp))
        return True
