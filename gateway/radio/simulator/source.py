"""The simulator as a radio source: the fleet's telegrams, paced by the fleet's clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

from gateway.clock import ManualClock
from gateway.frame import ReceivedFrame
from gateway.radio.base import ErrorReason, SourceStats
from gateway.radio.simulator.fleet import SimulatedFleet
from gateway.wmbus.errors import FrameError
from gateway.wmbus.phl import strip_format_b

YIELD_EVERY = 64  # on a virtual clock, let other tasks run this often


class SimulatorSource:
    """Yields the fleet's telegrams: on a ManualClock as fast as possible (moving the clock to each
    telegram's instant), on any other clock at the clock's pace."""

    kind = "simulator"

    def __init__(
        self, fleet: SimulatedFleet, name: str = "simulator", *, until: datetime | None = None
    ) -> None:
        self.name = name
        self.fleet = fleet
        self.until = until
        self.stats = SourceStats()

    @property
    def device_path(self) -> str | None:
        return None

    async def frames(self) -> AsyncIterator[ReceivedFrame]:
        """The fleet's telegrams from its start; ends at ``until`` when given, else runs forever."""
        clock = self.fleet.clock
        virtual = isinstance(clock, ManualClock)
        self.stats.connected = True
        try:
            for count, tx in enumerate(self.fleet.transmissions(self.until)):
                if isinstance(clock, ManualClock):
                    clock.set(tx.at)
                    if count % YIELD_EVERY == 0:
                        await asyncio.sleep(0)
                else:
                    delay = (tx.at - clock.now()).total_seconds()
                    if delay > 0:
                        await clock.sleep(delay)
                received_at = tx.at if virtual else clock.now()
                data = tx.data
                if tx.frame_format_b:
                    # An N-mode meter sends format B: the simulated receiver checks and removes its CRCs
                    # with the stack's own code, as a 169 MHz stick does in its firmware.
                    try:
                        data = strip_format_b(tx.on_air)
                    except FrameError as err:
                        self.stats.count_error(ErrorReason.LINK_CRC, str(err))
                        continue
                self.stats.count_frame(received_at)
                yield ReceivedFrame(data, tx.link_mode, tx.rssi_dbm, received_at, self.name)
        finally:
            self.stats.connected = False

    async def reinitialise(self) -> None:
        """Nothing to configure."""

    async def reopen(self) -> None:
        """Nothing to reopen."""
