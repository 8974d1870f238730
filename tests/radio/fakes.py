"""Fake USB dongles on pseudo-terminals that speak the real wire protocols byte for byte.

The source under test opens ``fake.path``, a symlink to the pty's slave side, as udev names a stick.
Each fake encodes its frames itself (its own CRC and checksum code, not the gateway's) from the
public descriptions:

- IMST iM871A: "WMBus HCI Specification" v1.6 (IMST GmbH; SOF 0xA5, control/endpoint, message id,
  length, payload, timestamp, RSSI, CRC-16/X-25), as also read by wmbusmeters' wmbus_im871a.
- IMST iU891A-XL: IMST's "WM-Bus Gateway HCI Protocol Specification" (SLIP framing, RFC 1055; SAP,
  message id, status, CRC-16/IBM-SDLC; the 11-byte gateway configuration and its factory default).
- Amber AMB8465: "AMB8465 Manual" and Würth Elektronik's Metis driver (0xFF, command, length,
  payload, XOR checksum; confirmations with bit 7 set; CMD_DATA_IND 0x03 with RSSI appended; the user
  settings UART_CMD_Out_Enable and RSSI_Enable in force from the next start).
- CUL: culfw command reference (``V``, ``X21``, ``brt``/``brc``; ``b``/``bY`` + hex with the EN 13757-4
  frame format A/B CRCs + LQI + RSSI).

Controls for tests (also for the health monitor's tests): ``responding = False`` (port open, dongle
mute), ``unplug()`` / ``plug()`` (the device disappears and comes back under the same path),
``inject(noise)``, ``send_telegram(frame)``; ``configured`` is set once the dongle got its mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from pathlib import Path
from typing import Any, ClassVar

from gateway.wmbus.crc import crc16 as wmbus_crc16


def x25(data: bytes) -> int:
    """CRC-16/X-25, bit by bit (independent of the gateway's table version)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


def xor_all(data: bytes) -> int:
    result = 0
    for byte in data:
        result ^= byte
    return result


def amber_frame(command: int, payload: bytes) -> bytes:
    """An Amber command frame: FF, command, length, payload, XOR of all before."""
    head = bytes([0xFF, command, len(payload)]) + payload
    return head + bytes([xor_all(head)])


class FakeDongle:
    """Base: a pty pair, a symlink to its slave, and a byte handler for what the host writes."""

    def __init__(self, directory: Path, name: str = "ttyWMBUS0") -> None:
        self.path = directory / name
        self.responding = True
        self.configured = asyncio.Event()
        self.host_bytes = bytearray()
        self.commands: list[Any] = []
        self._master: int | None = None
        self._slave: int | None = None

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def plug(self) -> None:
        """Create the device (a new pty) and point the path at it."""
        if self._master is not None:
            return
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.path.symlink_to(os.ttyname(slave))
        asyncio.get_running_loop().add_reader(master, self._readable)

    def unplug(self) -> None:
        """The stick is pulled out: the pty vanishes, reads on the host side fail."""
        self.configured.clear()
        if self._master is None:
            return
        asyncio.get_running_loop().remove_reader(self._master)
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def inject(self, data: bytes) -> None:
        """Write raw bytes to the host (noise, hand-made frames)."""
        if self._master is None:
            raise RuntimeError("fake dongle is unplugged")
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._master, view)
            except BlockingIOError:
                continue
            view = view[written:]

    async def ainject(self, data: bytes) -> None:
        """Like inject, but waits (letting the host read) while the pty buffer is full."""
        if self._master is None:
            raise RuntimeError("fake dongle is unplugged")
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self._master, view) :]
            except BlockingIOError:
                await asyncio.sleep(0.0005)

    def _readable(self) -> None:
        assert self._master is not None
        try:
            data = os.read(self._master, 4096)
        except (BlockingIOError, OSError):
            return
        self.host_bytes += data
        self.on_host_bytes(data)

    def reply(self, data: bytes) -> None:
        if self.responding:
            self.inject(data)

    def on_host_bytes(self, data: bytes) -> None:
        raise NotImplementedError

    def send_telegram(self, frame: bytes, rssi_raw: int = 0x80) -> None:
        raise NotImplementedError


class FakeIm871a(FakeDongle):
    """iM871A: answers ping, device info, firmware info and SetConfig; sends WMBUSMSG_IND."""

    firmware = 0x15

    def __init__(self, directory: Path, name: str = "ttyIM871A", *, with_crc: bool = True) -> None:
        super().__init__(directory, name)
        self.with_crc = with_crc
        self.timestamp = 0x01020304
        self._buffer = bytearray()

    def hci(
        self, endpoint: int, msg_id: int, payload: bytes, *, rssi: int | None = None, ts: bool = False
    ) -> bytes:
        control = (0x2 if ts else 0) | (0x4 if rssi is not None else 0) | (0x8 if self.with_crc else 0)
        body = bytes([control << 4 | endpoint, msg_id, len(payload)]) + payload
        if ts:
            body += self.timestamp.to_bytes(4, "little")
        if rssi is not None:
            body += bytes([rssi])
        if self.with_crc:
            body += x25(body).to_bytes(2, "little")
        return b"\xa5" + body

    def on_host_bytes(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= 4:
            start = self._buffer.find(0xA5)
            if start < 0:
                self._buffer.clear()
                return
            del self._buffer[:start]
            if len(self._buffer) < 4:
                return
            control = self._buffer[1] >> 4
            total = 4 + self._buffer[3] + (2 if control & 0x8 else 0)
            if len(self._buffer) < total:
                return
            endpoint, msg_id = self._buffer[1] & 0x0F, self._buffer[2]
            payload = bytes(self._buffer[4 : 4 + self._buffer[3]])
            del self._buffer[:total]
            self.commands.append((endpoint, msg_id, payload))
            self._answer(endpoint, msg_id, payload)

    def _answer(self, endpoint: int, msg_id: int, payload: bytes) -> None:
        if endpoint != 0x01:
            return
        if msg_id == 0x01:  # PING_REQ
            self.reply(self.hci(0x01, 0x02, b""))
        elif msg_id == 0x0F:  # GET_DEVICEINFO_REQ: module 0x33 iM871A, mode other, firmware, HCI, UID
            self.reply(self.hci(0x01, 0x10, bytes([0x33, 0x00, self.firmware, 0x11]) + b"\x78\x56\x34\x12"))
        elif msg_id == 0x13:  # GET_FWINFO_REQ: version, build count, date text
            self.reply(self.hci(0x01, 0x14, bytes([0x01, 0x05, 0x00, 0x2A]) + b"iM871A_WMBUS"))
        elif msg_id == 0x03:  # SET_CONFIG_REQ
            self.reply(self.hci(0x01, 0x04, b"\x00"))
            if self.responding:
                self.configured.set()

    def send_telegram(self, frame: bytes, rssi_raw: int = 0x80) -> None:
        """``frame`` is L-first without CRCs; the module sends it from the C field on."""
        self.inject(self.hci(0x02, 0x03, frame[1:], rssi=rssi_raw, ts=True))


class FakeIu891a(FakeDongle):
    """iU891A-XL with IMST's WM-Bus gateway firmware, from its HCI protocol specification.

    Messages are SLIP-framed ``SAP | message id | payload | CRC-16 (LSB first)``; responses start with a
    status byte. The stick keeps an 11-byte configuration (link mode, options LSB first, UI options,
    LED timing, recalibration timeout) in NVM and copies it to the active one at start-up: a stick
    fresh from the factory has link mode 0 (receiver off) and options 0x000E (Rx and Tx notification,
    recalibration); a stick set up by another tool may be found with the address filter (option bit 0:
    forward only the meters of its device list) or without Rx notification (bit 1). It sends a start-up
    indication (DevMgmt 0x00) when it boots; received telegrams come as RX_MESSAGE_IND (0x09/0x20):
    time (4), decryption status, encryption mode, packet info, RSSI (signed dBm), packet without CRCs.
    The packet info is the mode the telegram was heard in (PI codes S 0x01, T 0x02, C 0x05, + 0x10 for
    frame format B); in C/T reception a telegram is heard in the mode its meter sends. Public material
    does not say whether the stick rewrites a format B telegram's L once it removed the CRCs: both can
    be sent (``on_air_l``). Scan mode (SET_SCAN_MODE 0x21, volatile: a boot ends it) reports each telegram
    heard as a SCAN_MODE_IND (0x24): time, packet info, RSSI and the link-layer header alone; another
    tool may leave a running stick in it (``scan_mode = True``).
    """

    OPTION_ADDRESS_FILTER = 0x0001
    OPTION_RX_NOTIFY = 0x0002
    HEARS: ClassVar[dict[int, str]] = {1: "S", 2: "T", 3: "CT", 5: "C"}  # configured link mode -> modes heard
    PACKET_INFO: ClassVar[dict[str, int]] = {"S": 0x01, "T": 0x02, "C": 0x05}
    FORMAT_B = 0x10

    def __init__(
        self,
        directory: Path,
        name: str = "ttyIU891A",
        *,
        default_options: int = 0x000E,
        startup_ind: bool = True,
    ) -> None:
        super().__init__(directory, name)
        self.default_config = bytes([0x00]) + default_options.to_bytes(2, "little") + bytes(8)
        self.active_config = self.default_config
        self.startup_ind = startup_ind
        self.scan_mode = False
        self.dropped = 0
        self._buffer = bytearray()

    @property
    def link_mode(self) -> int:
        return self.active_config[0]

    @property
    def options(self) -> int:
        return int.from_bytes(self.active_config[1:3], "little")

    def plug(self) -> None:
        super().plug()
        self.reboot()

    def reboot(self) -> None:
        """A boot (power-up, brown-out, watchdog): the NVM configuration becomes the active one."""
        self.active_config = self.default_config
        self.scan_mode = False
        self.configured.clear()
        if self.startup_ind:
            self.inject(self.message(0x01, 0x00, bytes(4) + bytes([0x6E]) + bytes(12)))

    @staticmethod
    def slip(message: bytes) -> bytes:
        body = message.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc")
        return b"\xc0" + body + b"\xc0"

    def message(self, sap: int, msg_id: int, payload: bytes) -> bytes:
        body = bytes([sap, msg_id]) + payload
        return self.slip(body + x25(body).to_bytes(2, "little"))

    def on_host_bytes(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(0xC0)) >= 0:
            chunk = bytes(self._buffer[:end]).replace(b"\xdb\xdc", b"\xc0").replace(b"\xdb\xdd", b"\xdb")
            del self._buffer[: end + 1]
            if len(chunk) < 4 or x25(chunk[:-2]) != int.from_bytes(chunk[-2:], "little"):
                continue  # a wake-up run of END bytes, or a damaged request: ignored
            sap, msg_id, payload = chunk[0], chunk[1], chunk[2:-2]
            self.commands.append((sap, msg_id, payload))
            self._answer(sap, msg_id, payload)

    def _answer(self, sap: int, msg_id: int, payload: bytes) -> None:
        answers = {
            (0x01, 0x01): b"",  # ping
            (0x01, 0x03): bytes([0x6E]) + (0x1B0D).to_bytes(4, "little") + bytes(8),  # module type iU891A
            (0x01, 0x05): b"\x09\x00\x37\x00" + b"09.04.2020" + b"WMBus_Gateway",
            (0x09, 0x01): self.active_config,
        }
        if (sap, msg_id) == (0x09, 0x03):
            if len(payload) != 11:
                self.reply(self.message(0x09, 0x04, b"\x07"))  # wrong length
                return
            self.active_config = bytes(payload)
            self.reply(self.message(0x09, 0x04, b"\x00"))
            if self.responding and self.link_mode:
                self.configured.set()
            return
        if (sap, msg_id) == (0x09, 0x21):  # SET_SCAN_MODE: link modes, [period]
            self.scan_mode = bool(payload[:1] and payload[0])
            self.reply(self.message(0x09, 0x22, b"\x00"))
            return
        if (sap, msg_id) in answers:
            self.reply(self.message(sap, msg_id + 1, b"\x00" + answers[(sap, msg_id)]))

    def send_telegram(
        self,
        frame: bytes,
        rssi_raw: int = 0xE7,
        *,
        listed: bool = False,
        sent_in: str = "",
        format_b: bool = False,
        on_air_l: bool = False,
    ) -> None:
        """``frame``: L first, no CRCs. ``rssi_raw``: the signed dBm byte (0xE7 = -25 dBm); ``listed``: the
        meter is in its device list; ``sent_in``: "S", "T" or "C", the mode the meter sends in (default:
        what the stick listens to, T for C/T); ``on_air_l``: a format B frame keeps the L it had on air."""
        if self.scan_mode:  # the header alone, whatever the configuration
            info = self.PACKET_INFO[sent_in or "T"]
            header = b"\x9f\x43\x6d\x38" + bytes([info, rssi_raw]) + frame[:10]
            self.inject(self.message(0x09, 0x24, header))
            return
        options = self.options
        hears = self.HEARS.get(self.link_mode, "")
        sent_in = sent_in or hears[-1:]
        if not hears or sent_in not in hears or not options & self.OPTION_RX_NOTIFY:
            self.dropped += 1  # receiver off or in another mode, or telegrams not forwarded to the host
            return
        if options & self.OPTION_ADDRESS_FILTER and not listed:
            self.dropped += 1
            return
        info = self.PACKET_INFO[sent_in] | (self.FORMAT_B if format_b else 0)
        if format_b and on_air_l:
            # format B: a CRC ends the first 128 bytes on air, another the rest
            crc_bytes = 2 if len(frame) + 2 <= 128 else 4
            frame = bytes([len(frame) - 1 + crc_bytes]) + frame[1:]
        payload = b"\x9f\x43\x6d\x38" + bytes([0x00, 0x00, info, rssi_raw]) + frame
        self.inject(self.message(0x09, 0x20, payload))


class FakeAmber(FakeDongle):
    """AMB8465 (Würth Metis-II) from its manual and Würth's Metis driver: command frames
    ``FF | cmd | len | payload | XOR``, confirmations with bit 7 set; the user settings in non-volatile
    memory (CMD_GET_REQ/CMD_SET_REQ ``address, count[, values]``) take effect at the next start
    (CMD_RESET_REQ or a replug). With UART_CMD_Out_Enable (0x05) off the module is in transparent mode:
    a received telegram comes raw, from its L field, with no frame around it; with it on, as
    CMD_DATA_IND from the C field. RSSI_Enable (0x45) appends the RSSI byte in both.
    """

    def __init__(
        self, directory: Path, name: str = "ttyAMB8465", *, rssi_enabled: bool = False, cmd_out: bool = True
    ) -> None:
        super().__init__(directory, name)
        self.nvm = {0x05: 1 if cmd_out else 0, 0x45: 1 if rssi_enabled else 0}
        self.active = dict(self.nvm)
        self.mode: int | None = None
        self.resets = 0
        self.heard_before: dict[int, bytes] = {}  # command -> telegram received just before answering it
        self._buffer = bytearray()

    def plug(self) -> None:
        super().plug()
        self.active = dict(self.nvm)

    frame = staticmethod(amber_frame)

    def on_host_bytes(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= 4 and self._buffer[0] == 0xFF:
            total = 4 + self._buffer[2]
            if len(self._buffer) < total:
                return
            chunk = bytes(self._buffer[:total])
            del self._buffer[:total]
            if xor_all(chunk[:-1]) != chunk[-1]:
                continue
            command, payload = chunk[1], chunk[3:-1]
            self.commands.append((command, payload))
            heard = self.heard_before.pop(command, None)
            if heard is not None:
                self.send_telegram(heard)
            self._answer(command, payload)

    def _answer(self, command: int, payload: bytes) -> None:
        if command == 0x0B:
            self.reply(self.frame(0x8B, b"\x00\x11\x22\x33"))
        elif command == 0x0C:
            self.reply(self.frame(0x8C, b"\x01\x02\x03"))
        elif command == 0x0A:
            address, count = payload[0], payload[1]
            values = bytes(self.nvm.get(address + i, 0) for i in range(count))
            self.reply(self.frame(0x8A, bytes([address, count]) + values))
        elif command == 0x09:
            for i, value in enumerate(payload[2:]):
                self.nvm[payload[0] + i] = value
            self.reply(self.frame(0x89, b"\x00"))
        elif command == 0x05:
            self.resets += 1
            self.reply(self.frame(0x85, b"\x00"))
            self.active = dict(self.nvm)  # the module restarts with its stored settings
            self.mode = None
        elif command == 0x04:
            self.mode = payload[0]
            self.reply(self.frame(0x84, b"\x00"))
            if self.responding:
                self.configured.set()

    def send_telegram(self, frame: bytes, rssi_raw: int = 0x80) -> None:
        """``frame`` is L first without CRCs; sent as the settings in force say."""
        rssi = bytes([rssi_raw]) if self.active[0x45] else b""
        if self.active[0x05]:
            self.inject(self.frame(0x03, frame[1:] + rssi))
        else:
            self.inject(frame + rssi)


def add_crcs_a(frame: bytes) -> bytes:
    """Frame format A (EN 13757-4): CRC after the first 10 bytes, then after every 16."""
    out = frame[:10] + wmbus_crc16(frame[:10]).to_bytes(2, "big")
    for pos in range(10, len(frame), 16):
        block = frame[pos : pos + 16]
        out += block + wmbus_crc16(block).to_bytes(2, "big")
    return out


def add_crcs_b(frame: bytes) -> bytes:
    """Frame format B, for frames up to 126 bytes: one CRC at the end, L counts it."""
    head = bytes([len(frame) + 1]) + frame[1:]
    return head + wmbus_crc16(head).to_bytes(2, "big")


class FakeCul(FakeDongle):
    """nanoCUL with culfw: text commands, ``b`` lines with CRCs, LQI and RSSI."""

    def __init__(self, directory: Path, name: str = "ttyCUL") -> None:
        super().__init__(directory, name)
        self.mode = ""
        self._buffer = bytearray()

    def on_host_bytes(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\n")) >= 0:
            line = self._buffer[:end].decode("ascii", "replace").strip()
            del self._buffer[: end + 1]
            if not line:
                continue
            self.commands.append(line)
            if line == "V":
                self.reply(b"V 1.67 nanoCUL868\r\n")
            elif line in ("brt", "brc", "brs"):
                self.mode = line[2]
                self.reply({"t": b"TMODE\r\n", "c": b"CMODE\r\n", "s": b"SMODE\r\n"}[self.mode])
                if self.responding:
                    self.configured.set()

    def send_telegram(
        self, frame: bytes, rssi_raw: int = 0x80, *, format_b: bool = False, lqi: int = 0x30
    ) -> None:
        body = add_crcs_b(frame) if format_b else add_crcs_a(frame)
        prefix = "bY" if format_b else "b"
        self.inject(f"{prefix}{body.hex().upper()}{lqi:02X}{rssi_raw:02X}\r\n".encode())
