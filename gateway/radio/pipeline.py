"""Sources that read lines from a program we run (and restart when it ends) or from standard input.

The program's standard error is kept (its last line says why rtl_sdr or rtl_433 stopped: "usb_open
error -3", "No supported devices found") and put into the fault's log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator

from gateway.clock import Clock, SystemClock
from gateway.frame import ReceivedFrame
from gateway.radio.base import Backoff, ErrorReason, SourceStats
from gateway.radio.faults import FaultLog
from gateway.radio.lines import READ_CHUNK, LineSplitter

log = logging.getLogger(__name__)

STDERR_LINES = 5  # the last lines of the program's standard error, for the fault's reason
STDERR_LINE_BYTES = 4096  # longer error lines are not kept (the pipe is still read, or the program blocks)


class PipelineSource(ABC):
    """Lines from a shell pipeline (restarted with back-off when it ends) or from standard input."""

    kind = "pipeline"

    def __init__(
        self,
        name: str,
        command: str | None = None,
        *,
        clock: Clock | None = None,
        backoff: Backoff | None = None,
        stdin: asyncio.StreamReader | None = None,
    ) -> None:
        self.name = name
        self.command = command
        where = f"command: {command}" if command else "standard input"
        self.stats = SourceStats(faults=FaultLog(name, where))
        self._clock: Clock = clock or SystemClock()
        self._backoff = backoff or Backoff()
        self._stdin = stdin
        self._process: asyncio.subprocess.Process | None = None
        self._stderr: deque[str] = deque(maxlen=STDERR_LINES)
        self._stderr_task: asyncio.Task[None] | None = None
        self._reopen_requested = False

    @property
    def device_path(self) -> str | None:
        return None

    @abstractmethod
    def _frame(self, raw: bytes) -> ReceivedFrame | None:
        """One line of output -> a frame, or None (counted by the subclass when it is an error)."""

    async def frames(self) -> AsyncIterator[ReceivedFrame]:
        if self.command is None:
            reader = self._stdin or await _stdin_reader()
            self.stats.mark_up()
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
                        stderr=asyncio.subprocess.PIPE,
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
                self.stats.connected = True  # up for status; a logged fault ends with its first line
                self._stderr.clear()
                assert self._process.stdout is not None and self._process.stderr is not None
                self._stderr_task = asyncio.create_task(self._keep_stderr(self._process.stderr))
                async for frame in self._read(self._process.stdout):
                    self._backoff.reset()
                    yield frame
                self.stats.connected = False
                code = await self._stop_process()
                if self._reopen_requested:
                    self._reopen_requested = False
                    continue
                said = f": {self._stderr[-1]}" if self._stderr else ""
                self.stats.count_error(ErrorReason.PROCESS_EXIT, f"ended with status {code}{said}")
                await self._backoff.wait(self._clock)
        finally:
            self.stats.connected = False
            await self._stop_process()

    async def reinitialise(self) -> None:
        """A program has no configuration to resend: restart it."""
        await self.reopen()

    async def reopen(self) -> None:
        if self._process is not None:
            self._reopen_requested = True
            await self._stop_process()

    async def _read(self, reader: asyncio.StreamReader) -> AsyncIterator[ReceivedFrame]:
        # Our own bounded lines, not readline(): a line over the stream's 64 KiB limit would raise and
        # cost the pipeline; here it is skipped and counted, and the lines after it are read.
        first = True
        splitter = LineSplitter()
        stats = self.stats
        while True:
            try:
                chunk = await reader.read(READ_CHUNK)
            except OSError as err:
                stats.count_error(ErrorReason.READ_FAILED, str(err))
                return
            lines = splitter.feed(chunk) if chunk else splitter.close()
            if lines and first:
                first = False
                stats.mark_up("the program prints again")
            for line in lines:
                if line.data is None:
                    stats.count_long_line(line.length)
                    continue
                frame = self._frame(line.data)
                if frame is not None:
                    yield frame
                else:
                    stats.check_garbage()
            if not chunk:
                return

    async def _keep_stderr(self, stream: asyncio.StreamReader) -> None:
        splitter = LineSplitter(max_bytes=STDERR_LINE_BYTES)
        with contextlib.suppress(OSError):
            while True:
                chunk = await stream.read(READ_CHUNK)
                for line in splitter.feed(chunk) if chunk else splitter.close():
                    text = (
                        "(a line too long to keep)"
                        if line.data is None
                        else line.data.decode("utf-8", "replace").strip()
                    )
                    if text:
                        self._stderr.append(text[:200])
                        log.debug("%s: %s", self.name, text)
                if not chunk:
                    return

    async def _stop_process(self) -> int | None:
        process, self._process = self._process, None
        if process is None:
            return None
        # The whole process group, even when the shell has ended: a program it left running (an rtl_sdr
        # still holding the stick) would make the restart fail. Linux does not reuse a group's id while
        # any member lives, so this reaches only what the pipeline started.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        if process.returncode is None:
            try:
                async with asyncio.timeout(2.0):
                    await process.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
        task, self._stderr_task = self._stderr_task, None
        if task is not None:
            # the last words of the program. asyncio.wait, not wait_for under suppress(CancelledError):
            # that would also swallow a cancellation of our own caller.
            done, _ = await asyncio.wait((task,), timeout=1.0)
            if not done:
                task.cancel()
                await asyncio.wait((task,))
            if not task.cancelled():
                task.exception()  # retrieved: its reader's failure only ends the last words
        return process.returncode


async def _stdin_reader() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader
