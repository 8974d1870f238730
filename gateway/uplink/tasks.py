"""Small asyncio helpers the publisher and the ingester share."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


async def first_error(*coros: Coroutine[Any, Any, None]) -> None:
    """Run coroutines together until the first one fails (or all are cancelled); cancel the rest."""
    tasks = [asyncio.ensure_future(coro) for coro in coros]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
