"""Cancelling a radio source's consumer ends its frames() loop, whatever the loop is doing.

Regression: closing the port awaited the cancelled reader task under ``suppress(CancelledError)``,
which also swallowed a cancellation of the consumer arriving at that moment; frames() then went on
retrying a refused stick forever and the daemon's shutdown (and one CI run) hung.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

from gateway.frame import LinkMode
from gateway.radio.base import Backoff, RadioSource
from gateway.radio.im170a import Im170aSource
from gateway.radio.rtlwmbus import RtlWmbusSource
from tests.radio.nmode_fakes import FakeIm170a

WAIT_S = 10.0


class SlowClosingIm170a(Im170aSource):
    """An iM170A source whose reader task takes its time to finish once cancelled (a slow port)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.reader_closing = asyncio.Event()
        self.reader_may_finish = asyncio.Event()

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        try:
            await super()._read_loop(reader)
        finally:
            self.reader_closing.set()
            while not self.reader_may_finish.is_set():  # a port whose close takes a while
                with contextlib.suppress(asyncio.CancelledError):
                    await self.reader_may_finish.wait()


async def test_consumer_cancelled_while_the_port_closes_stops_the_source(tmp_path: Path) -> None:
    wrong_stick = FakeIm170a(tmp_path, module_type=0x33)  # an iM871A: the start-up is refused
    wrong_stick.plug()
    source = SlowClosingIm170a(
        "n",
        str(wrong_stick.path),
        link_modes=(LinkMode.N1A,),
        backoff=Backoff(initial_s=0.02, maximum_s=0.1),
        reply_timeout_s=2.0,
    )

    consumer = asyncio.create_task(_consume(source))
    try:
        await asyncio.wait_for(source.reader_closing.wait(), WAIT_S)  # frames() is inside _close()
        consumer.cancel()
        source.reader_may_finish.set()
        done, _ = await asyncio.wait((consumer,), timeout=WAIT_S)
        assert consumer in done, "frames() swallowed its consumer's cancellation and kept retrying"
        assert consumer.cancelled()
        assert not source.stats.connected
    finally:
        consumer.cancel()
        source.reader_may_finish.set()
        await asyncio.wait((consumer,), timeout=WAIT_S)
        wrong_stick.unplug()


class WatchedRtlWmbus(RtlWmbusSource):
    """An rtl_wmbus source that says when it starts stopping its ended program."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.stopping = asyncio.Event()
        self.group: int | None = None

    async def _stop_process(self) -> int | None:
        if self._process is not None:
            self.group = self._process.pid
            self.stopping.set()
        return await super()._stop_process()


async def test_consumer_cancelled_while_a_pipeline_waits_for_its_last_words_stops_the_source() -> None:
    # The program ends at once, but a child it left (deaf to SIGTERM) keeps standard error open, so
    # stopping it waits up to a second for the program's last words: the consumer is cancelled then.
    source = WatchedRtlWmbus(
        "sdr",
        "(trap '' TERM; exec sleep 5) >/dev/null & exit 3",
        backoff=Backoff(initial_s=0.02, maximum_s=0.1),
    )

    consumer = asyncio.create_task(_consume(source))
    try:
        await asyncio.wait_for(source.stopping.wait(), WAIT_S)
        await asyncio.sleep(0.2)
        consumer.cancel()
        done, _ = await asyncio.wait((consumer,), timeout=WAIT_S)
        assert consumer in done, "frames() swallowed its consumer's cancellation"
        assert consumer.cancelled()
        assert source.stats.reconnects == 0  # the program was not started again
    finally:
        consumer.cancel()
        await asyncio.wait((consumer,), timeout=WAIT_S)
        if source.group is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(source.group, signal.SIGKILL)
        await asyncio.sleep(0.2)  # the pipes' end reaches the loop before it closes


async def test_stopping_a_pipeline_also_stops_what_its_program_left_running(tmp_path: Path) -> None:
    # The shell ends but leaves a child (an rtl_sdr still holding the stick, in the field): a restart
    # would find the device busy. Stopping the source ends the child too.
    pid_file = tmp_path / "child.pid"
    source = WatchedRtlWmbus(
        "sdr", f"sleep 30 >/dev/null 2>&1 & echo $! > {pid_file}; exit 3", backoff=Backoff(initial_s=5.0)
    )

    consumer = asyncio.create_task(_consume(source))
    try:
        await asyncio.wait_for(source.stopping.wait(), WAIT_S)
        child = int(pid_file.read_text())
        for _ in range(100):
            if not _alive(child):
                break
            await asyncio.sleep(0.05)
        assert not _alive(child), "the program's child outlived the pipeline's stop"
    finally:
        consumer.cancel()
        await asyncio.wait((consumer,), timeout=WAIT_S)


def _alive(pid: int) -> bool:
    """Whether the process runs (a zombie waiting for its parent counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


async def _consume(source: RadioSource) -> None:
    """A consumer of the source's frames, as the daemon is one."""
    async for _frame in source.frames():
        pass
