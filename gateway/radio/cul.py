"""CUL / nanoCUL with culfw, a text protocol at 38400 baud.

Commands (culfw command reference): ``V`` version, ``X21`` report received messages with RSSI,
``brt`` / ``brc`` / ``brs`` wM-Bus T, C or S mode receive (answered ``TMODE`` / ``CMODE`` / ``SMODE``).
A telegram arrives as ``b`` + hex of the frame with its link-layer CRCs (``bY`` for frame format B
in C mode) + LQI and RSSI as two hex bytes each, then CR LF. RSSI: CC1101 datasheet, raw/2 - 74 dBm.
"""

from __future__ import annotations

from typing import ClassVar

from gateway.frame import LinkMode
from gateway.radio.base import ErrorReason, SourceError, SourceStats
from gateway.radio.lines import LineSplitter
from gateway.radio.serial_source import DongleCodec, DongleMessage, Indication, Response, SerialSource
from gateway.wmbus.errors import CrcError, FrameError
from gateway.wmbus.phl import FrameFormat, strip_link_crcs

MAX_LINE = 1024  # "b" + hex of the longest frame with its CRCs, LQI and RSSI is under 600
MODE_COMMANDS = {LinkMode.T1: "brt", LinkMode.C1: "brc", LinkMode.S1: "brs"}
MODE_REPLIES = {"TMODE", "CMODE", "SMODE"}


def cc1101_rssi_dbm(raw: int) -> float:
    """CC1101 RSSI register (two's complement, half-dB steps, 74 dB offset) -> dBm."""
    signed = raw - 256 if raw >= 128 else raw
    return signed / 2 - 74


class CulCodec:
    """Text lines -> telegrams and command replies."""

    def __init__(self, stats: SourceStats, link_mode: LinkMode) -> None:
        self._stats = stats
        self._link_mode = link_mode
        self._lines = LineSplitter(MAX_LINE)

    def feed(self, data: bytes) -> list[DongleMessage]:
        out: list[DongleMessage] = []
        for line in self._lines.feed(data):
            if line.data is None:
                self._stats.garbage_bytes += line.length + 1
                self._stats.count_long_line(line.length)
                continue
            message = self._line(line.data)
            if message is not None:
                out.append(message)
        return out

    def _line(self, raw: bytes) -> DongleMessage | None:
        try:
            line = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            self._stats.garbage_bytes += len(raw) + 1
            return None
        if not line:
            return None
        if line[0] == "b":
            return self._telegram(line)
        if line in MODE_REPLIES:
            return Response("mode", line.encode())
        if line.startswith("V "):
            return Response("version", line.encode())
        self._stats.garbage_bytes += len(raw) + 1
        return None

    def _telegram(self, line: str) -> DongleMessage | None:
        frame_format = FrameFormat.B if line.startswith("bY") else FrameFormat.A
        text = line[2:] if frame_format is FrameFormat.B else line[1:]
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            self._stats.count_error(ErrorReason.MALFORMED, "telegram line is not hex")
            return None
        if len(raw) < 14:
            self._stats.count_error(ErrorReason.MALFORMED, "telegram line too short")
            return None
        body, rssi_raw = raw[:-2], raw[-1]  # raw[-2] is LQI
        try:
            data, _ = strip_link_crcs(body, frame_format)
        except CrcError:
            self._stats.count_error(ErrorReason.LINK_CRC, f"frame format {frame_format.value}")
            return None
        except FrameError as err:
            self._stats.count_error(ErrorReason.MALFORMED, err.reason)
            return None
        link_mode = LinkMode.C1 if frame_format is FrameFormat.B else self._link_mode
        return Indication(data, cc1101_rssi_dbm(rssi_raw), link_mode)


class CulSource(SerialSource):
    """CUL stick with culfw: one link mode at a time (T1, C1 or S1)."""

    default_baudrate: ClassVar[int] = 38400
    kind: ClassVar[str] = "cul"

    version: str = ""

    def _make_codec(self) -> DongleCodec:
        return CulCodec(self.stats, self.frame_link_mode)

    async def _initialise(self) -> None:
        if len(self.link_modes) != 1 or self.link_modes[0] not in MODE_COMMANDS:
            raise SourceError(f"CUL listens to one of T1, C1, S1, not {list(self.link_modes)}")
        self.version = (await self._command(b"V\r\n", "version")).decode()
        if "CUL" not in self.version:
            raise SourceError(f"not a CUL: {self.version!r}")
        await self._send(b"X21\r\n")  # reporting on, RSSI/LQI appended; culfw does not answer it
        reply = await self._command(f"{MODE_COMMANDS[self.link_modes[0]]}\r\n".encode(), "mode")
        expected = {LinkMode.T1: b"TMODE", LinkMode.C1: b"CMODE", LinkMode.S1: b"SMODE"}[self.link_modes[0]]
        if reply != expected:
            raise SourceError(f"CUL answered {reply.decode()!r} to the mode command")
