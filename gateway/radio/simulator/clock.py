"""A clock that runs ``speed`` times faster than the wall clock, for demos of the simulated fleet."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta


class AcceleratedClock:
    """Starts at ``start`` and advances ``speed`` simulated seconds per real second."""

    def __init__(self, start: datetime, speed: float) -> None:
        if start.tzinfo is None:
            raise ValueError("AcceleratedClock needs a timezone-aware start")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start = start
        self.speed = speed
        self._origin = time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self._origin) * self.speed)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0) / self.speed)
