"""Cancelling a serial source's consumer ends its frames() loop, whatever the loop is doing.

Regression: closing the port awaited the cancelled reader task under ``suppress(CancelledError)``,
which also swallowed a cancellation of the consumer arriving at that moment; frames() then went on
retrying a refused stick forever and the daemon's shutdown (and one CI run) hung.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from gateway.frame import LinkMode
from gateway.radio.base import Backoff
from gateway.radio.im170a import Im170aSource
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

    async def consume() -> None:
        async for _frame in source.frames():
            pass

    consumer = asyncio.create_task(consume())
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
