"""rtl_wmbus (SDR) output: one line a telegram, read from stdin or from a pipeline we run and restart.

Line (rtl-wmbus README): ``MODE;crc_ok;3of6_ok;timestamp;rssi;?;id;0xHEX``, e.g.
``T1;1;1;2019-04-03 19:00:42.000;97;148;88888888;0x2e44...``. The hex is the frame with its CRCs
removed, L first. The rssi column is rtl_wmbus' own signal level, not dBm, so rssi_dbm stays None.
Telegrams whose CRC failed (crc_ok 0) are counted and dropped unless ``include_crc_failed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.clock import Clock, SystemClock
from gateway.frame import LinkMode, ReceivedFrame
from gateway.radio.base import Backoff, ErrorReason, SourceStats

FIELDS = 8
_MODES = {"T1": LinkMode.T1, "C1": LinkMode.C1, "S1": LinkMode.S1, "N1": LinkMode.N}


@dataclass(frozen=True, slots=True)
class RtlWmbusLine:
    """One parsed rtl_wmbus line."""

    link_mode: LinkMode
    crc_ok: bool
    three_of_six_ok: bool
    timestamp: datetime | None
    data: bytes


def parse_rtl_wmbus_line(line: str) -> RtlWmbusLine:
    """Parse one line; ValueError says what is wrong with it."""
    fields = line.strip().split(";")
    if len(fields) != FIELDS or not fields[7].lower().startswith("0x"):
        raise ValueError(f"not an rtl_wmbus line ({len(fields)} fields)")
    data = bytes.fromhex(fields[7][2:])
    if not data or len(data) < data[0] + 1:
        raise ValueError("telegram shorter than its L field")
    timestamp = None
    if fields[3]:
        # rtl_wmbus prints the receiver's clock without a zone; the gateway runs in UTC.
        timestamp = datetime.fromisoformat(fields[3]).replace(tzinfo=UTC)
    return RtlWmbusLine(
        link_mode=_MODES.get(fields[0].upper(), LinkMode.UNKNOWN),
        crc_ok=fields[1] == "1",
        three_of_six_ok=fields[2] == "1",
        timestamp=timestamp,
        data=data[: data[0] + 1],
    )


class RtlWmbusSource:
    """rtl_wmbus lines from a shell pipeline (restarted when it ends) or from standard input."""

    kind = "rtl_wmbus"

    def __init__(
        self,
        name: str,
        command: str | None = None,
        *,
        clock: Clock | None = None,
        backoff: Backoff | None = None,
        include_crc_failed: bool = False,
        stdin: asyncio.StreamReader | None = None,
    ) -> None:
        self.name = name
        self.command = command
        self.stats = SourceStats()
        self.include_crc_failed = include_crc_failed
        self._clock: Clock = clock or SystemClock()
        self._backoff = backoff or Backoff()
        self._stdin = stdin
        self._process: asyncio.subprocess.Process | None = None
        self._reopen_requested = False

    @property
    def device_path(self) -> str | None:
        return None

    async def frames(self) -> AsyncIterator[ReceivedFrame]:
        if self.command is None:
            reader = self._stdin or await _stdin_reader()
            self.stats.connected = True
            async for frame in self._read(reader):
                yield frame
            self.stats.connected = False
            return
        started_before = False
        try:
            while True:
                try:
                    self._process = await asyncio.create_subprocess_shell(
                        self.command,
                        stdout=asyncio.subprocess.PIPE,
                        stdin=asyncio.subprocess.DEVNULL,
                        start_new_session=True,  # so that stopping it stops the whole pipeline
                    )
                except OSError as err:
                    self.stats.count_error(ErrorReason.OPEN_FAILED, str(err))
                    await self._backoff.wait(self._clock)
                    continue
                if started_before:
                    self.stats.reconnects += 1
                started_before = True
                self.stats.connected = True
                assert self._process.stdout is not None
                async for frame in self._read(self._process.stdout):
                    self._backoff.reset()
                    yield frame
                self.stats.connected = False
                code = await self._stop_process()
                if self._reopen_requested:
                    self._reopen_requested = False
                    continue
                self.stats.count_error(ErrorReason.PROCESS_EXIT, f"pipeline ended with status {code}")
                await self._backoff.wait(self._clock)
        finally:
            self.stats.connected = False
            await self._stop_process()

    async def reinitialise(self) -> None:
        """rtl_wmbus has no configuration to resend: restart the pipeline."""
        await self.reopen()

    async def reopen(self) -> None:
        if self._process is not None:
            self._reopen_requested = True
            await self._stop_process()

    async def _read(self, reader: asyncio.StreamReader) -> AsyncIterator[ReceivedFrame]:
        while True:
            try:
                raw = await reader.readline()
            except (OSError, ValueError) as err:  # ValueError: a line longer than the stream limit
                self.stats.count_error(ErrorReason.READ_FAILED, str(err))
                return
            if not raw:
                return
            frame = self._frame(raw)
            if frame is not None:
                yield frame

    def _frame(self, raw: bytes) -> ReceivedFrame | None:
        text = raw.decode("ascii", "replace").strip()
        if not text or text.startswith("#"):
            return None
        try:
            line = parse_rtl_wmbus_line(text)
        except ValueError as err:
            self.stats.count_error(ErrorReason.MALFORMED, str(err))
            self.stats.garbage_bytes += len(raw)
            return None
        if not line.crc_ok and not self.include_crc_failed:
            self.stats.count_error(ErrorReason.LINK_CRC, "rtl_wmbus reported a CRC failure")
            return None
        now = self._clock.now()
        self.stats.count_frame(now)
        return ReceivedFrame(line.data, line.link_mode, None, now, self.name)

    async def _stop_process(self) -> int | None:
        process, self._process = self._process, None
        if process is None:
            return None
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                async with asyncio.timeout(2.0):
                    await process.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
        return process.returncode


async def _stdin_reader() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader
