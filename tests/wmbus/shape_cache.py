"""The records module's payload-shape cache set aside, for tests that need a payload walked afresh."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from gateway.wmbus import records as records_module


@contextlib.contextmanager
def no_known_shapes() -> Iterator[None]:
    """No shape known: payloads are walked as on first sight (the cache is put back afterwards)."""
    saved = records_module._shapes, records_module._shape_count
    records_module._shapes, records_module._shape_count = {}, 0
    try:
        yield
    finally:
        records_module._shapes, records_module._shape_count = saved
