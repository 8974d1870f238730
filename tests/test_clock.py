"""The manual clock (replays, simulations): sleepers wake when the clock passes their deadline, not before."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from gateway.clock import ManualClock

START = datetime(2026, 9, 1, tzinfo=UTC)


async def test_sleepers_wake_once_the_clock_passes_their_deadline_each_in_turn() -> None:
    clock = ManualClock(START)
    woke: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    tasks = [asyncio.create_task(sleeper("late", 120)), asyncio.create_task(sleeper("early", 60))]
    await asyncio.sleep(0)
    for seconds, expected in ((59, []), (60, ["early"]), (119.5, ["early"]), (121, ["early", "late"])):
        clock.set(START + timedelta(seconds=seconds))
        await asyncio.sleep(0)
        assert woke == expected, seconds
    clock.set(START)  # never backwards
    assert clock.now() == START + timedelta(seconds=121)
    await asyncio.gather(*tasks)
    # a sleeper added after the others woke is woken by its own deadline
    later = asyncio.create_task(sleeper("again", 10))
    await asyncio.sleep(0)
    clock.advance(9)
    await asyncio.sleep(0)
    assert woke[-1] == "late"
    clock.advance(1)
    await later
    assert woke[-1] == "again"
