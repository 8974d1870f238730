"""The part every USB dongle shares: open the port, read, dispatch, reconnect with back-off.

A dongle module supplies a codec (bytes in, messages out, sans-IO) and an ``_initialise`` coroutine
that talks to the dongle through ``_command``. This class owns the port, the reader task, the
pending command replies and the ``frames()`` loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol, TypeVar

import serial
import serial_asyncio_fast

from gateway.clock import Clock, SystemClock
from gateway.frame import LinkMode, ReceivedFrame
from gateway.radio.base import Backoff, ErrorReason, SourceError, SourceStats
from gateway.radio.faults import FaultLog

READ_CHUNK = 4096
CLOSE_TIMEOUT_S = 2.0  # a port whose close hangs (unplugged stick) must not stall the reopen

Code = TypeVar("Code")


@dataclass(frozen=True, slots=True)
class Indication:
    """A telegram the dongle heard: L field first, link-layer CRCs removed."""

    data: bytes
    rssi_dbm: float | None
    link_mode: LinkMode


@dataclass(frozen=True, slots=True)
class Response:
    """A reply of the dongle to a command; ``key`` matches what ``_command`` waits for."""

    key: Hashable
    payload: bytes


DongleMessage = Indication | Response


class DongleCodec(Protocol):
    """Turns the byte stream of one dongle into messages; counts garbage and errors in ``stats``."""

    def feed(self, data: bytes) -> list[DongleMessage]: ...


def skip_to_marker(buffer: bytearray, marker: int, stats: SourceStats) -> None:
    """Drop (and count as garbage) the bytes before the next ``marker`` byte, or all of them."""
    skip = buffer.find(marker)
    skip = len(buffer) if skip < 0 else skip
    stats.garbage_bytes += skip
    del buffer[:skip]


def dongle_mode(modes: Sequence[LinkMode], codes: Mapping[frozenset[LinkMode], Code], dongle: str) -> Code:
    """The dongle's code for listening to ``modes`` (one mode or a supported pair)."""
    try:
        return codes[frozenset(modes)]
    except KeyError:
        supported = ", ".join(_mode_names(key) for key in codes)
        raise SourceError(f"{dongle} cannot listen to {_mode_names(modes)} (it can: {supported})") from None


def _mode_names(modes: Iterable[LinkMode]) -> str:
    return "+".join(sorted(mode.value for mode in modes))


class SerialSource(ABC):
    """Base of the dongle sources: the device by path or udev symlink, reconnecting by itself."""

    default_baudrate: ClassVar[int] = 115200
    kind: ClassVar[str] = "serial"

    def __init__(
        self,
        name: str,
        device_path: str,
        *,
        link_modes: Sequence[LinkMode] = (LinkMode.T1,),
        clock: Clock | None = None,
        baudrate: int | None = None,
        backoff: Backoff | None = None,
        reply_timeout_s: float = 2.0,
    ) -> None:
        self.name = name
        self.stats = SourceStats(faults=FaultLog(name, device_path))
        self.link_modes = tuple(link_modes)
        self.baudrate = baudrate or self.default_baudrate
        self.reply_timeout_s = reply_timeout_s
        self._device_path = device_path
        self._clock: Clock = clock or SystemClock()
        self._backoff = backoff or Backoff()
        self._writer: asyncio.StreamWriter | None = None
        self._closing = False
        self._reader_task: asyncio.Task[None] | None = None
        self._queue: asyncio.Queue[ReceivedFrame | None] = asyncio.Queue()
        self._pending: dict[Hashable, asyncio.Future[bytes]] = {}
        self._command_lock = asyncio.Lock()
        self._reopen_requested = False
        self._codec: DongleCodec = self._make_codec()

    @property
    def device_path(self) -> str | None:
        return self._device_path

    @property
    def frame_link_mode(self) -> LinkMode:
        """The link mode to stamp on frames when the dongle does not say (one mode configured)."""
        return self.link_modes[0] if len(self.link_modes) == 1 else LinkMode.UNKNOWN

    @abstractmethod
    def _make_codec(self) -> DongleCodec:
        """A fresh codec for a newly opened port."""

    @abstractmethod
    async def _initialise(self) -> None:
        """Configure the dongle (mode, RSSI) through ``_command``; raise SourceError if it refuses."""

    async def frames(self) -> AsyncIterator[ReceivedFrame]:
        """Yield received frames forever; reopen the port with back-off whenever it fails."""
        opened_before = False
        try:
            while True:
                try:
                    await self._connect()
                except (OSError, SourceError, TimeoutError) as err:
                    reason = ErrorReason.INIT_FAILED if self._writer else ErrorReason.OPEN_FAILED
                    self.stats.count_error(reason, str(err) or type(err).__name__)
                    await self._close()
                    await self._backoff.wait(self._clock)
                    continue
                if opened_before:
                    self.stats.reconnects += 1
                self._backoff.reset()
                self.stats.mark_up("reconnected" if opened_before else "opened and configured")
                opened_before = True
                while (item := await self._queue.get()) is not None:
                    yield item
                self.stats.connected = False
                await self._close()
                if self._reopen_requested:
                    self._reopen_requested = False
                else:
                    await self._backoff.wait(self._clock)
        finally:
            self.stats.connected = False
            await self._close()

    async def reinitialise(self) -> None:
        """Send the configuration again on the open port."""
        if self._writer is None:
            raise SourceError(f"{self.name}: port is not open")
        try:
            await self._initialise()
        except (OSError, TimeoutError, SourceError) as err:
            self.stats.count_error(ErrorReason.INIT_FAILED, str(err) or type(err).__name__)
            raise SourceError(f"{self.name}: reinitialise failed: {err or type(err).__name__}") from err

    async def reopen(self) -> None:
        """Close the port; ``frames()`` opens it again at once."""
        self._reopen_requested = True
        await self._close()

    async def _connect(self) -> None:
        self._codec = self._make_codec()
        self._queue = asyncio.Queue()
        reader, writer = await serial_asyncio_fast.open_serial_connection(
            url=self._device_path, baudrate=self.baudrate
        )
        self._writer = writer
        self._reader_task = asyncio.create_task(self._read_loop(reader), name=f"{self.name}-reader")
        await self._initialise()

    async def _close(self) -> None:
        """Close the port (the device sees the close before any reopen), then stop the reader."""
        task, self._reader_task = self._reader_task, None
        writer, self._writer = self._writer, None
        if writer is not None:
            self._closing = True
            try:
                with contextlib.suppress(OSError, serial.SerialException, TimeoutError):
                    writer.close()
                    # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow our caller's
                    # cancellation when the close completes at the same moment (CPython gh-86296)
                    async with asyncio.timeout(CLOSE_TIMEOUT_S):
                        await writer.wait_closed()
            finally:
                self._closing = False
        if task is not None and not task.done():
            task.cancel()
            # asyncio.wait, not ``await task``: suppressing the reader's CancelledError would also
            # swallow a cancellation of our own caller, and frames() would then retry forever.
            await asyncio.wait((task,))
        self._fail_pending(SourceError("port closed"))

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                data = await reader.read(READ_CHUNK)
                if not data:
                    if not self._closing:  # our own close ends the stream: not a failure
                        self.stats.count_error(ErrorReason.READ_FAILED, "end of file")
                    return
                self._dispatch(self._codec.feed(data))
                self.stats.check_garbage()
        except (OSError, serial.SerialException) as err:
            if not self._closing:
                self.stats.count_error(ErrorReason.READ_FAILED, str(err) or type(err).__name__)
        finally:
            self._fail_pending(SourceError("port closed"))
            self._queue.put_nowait(None)

    def _dispatch(self, messages: list[DongleMessage]) -> None:
        for message in messages:
            if isinstance(message, Indication):
                now = self._clock.now()
                self.stats.count_frame(now)
                self._queue.put_nowait(
                    ReceivedFrame(message.data, message.link_mode, message.rssi_dbm, now, self.name)
                )
                continue
            future = self._pending.pop(message.key, None)
            if future is not None and not future.done():
                future.set_result(message.payload)
            elif not self._unsolicited(message):
                self.stats.count_error(ErrorReason.UNEXPECTED, f"reply {message.key!r} nobody waited for")

    def _unsolicited(self, message: Response) -> bool:
        """A message the dongle sends by itself (a boot notice); True if the dongle module handled it."""
        return False

    def _fail_pending(self, error: Exception) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(error)

    async def _command(self, request: bytes, reply_key: Hashable, timeout_s: float | None = None) -> bytes:
        """Send ``request`` and wait for the reply with ``reply_key``; TimeoutError if none comes."""
        async with self._command_lock:
            writer = self._writer
            if writer is None:
                raise SourceError("port is not open")
            future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
            self._pending[reply_key] = future
            try:
                writer.write(request)
                await writer.drain()
                async with asyncio.timeout(timeout_s or self.reply_timeout_s):
                    return await future
            except TimeoutError:
                raise TimeoutError(f"no reply {reply_key!r} from the dongle") from None
            finally:
                if self._pending.get(reply_key) is future:
                    del self._pending[reply_key]

    async def _send(self, request: bytes) -> None:
        """Send without waiting for a reply (commands the dongle does not answer)."""
        if self._writer is None:
            raise SourceError("port is not open")
        self._writer.write(request)
        await self._writer.drain()
