"""Compact JSON in and out: orjson where it is installed, the standard library where it is not.

orjson (a C extension, 4-10x the stdlib's speed on our payloads) has wheels for x86-64, arm64 and
32-bit ARMv7; an ARMv6 Raspberry Pi (Zero, 1) has none, so the stdlib stays as the fallback. Both give
the same document: compact separators, UTF-8, a NaN or infinite number as null, dates ISO 8601 (orjson
natively, the stdlib through ``default``), tuples as lists; other types go to ``default``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - exercised with orjson absent (tests force the fallback)
    orjson = None  # type: ignore[assignment]

Default = Callable[[Any], Any]

FAST = orjson is not None


def dumps(value: Any, default: Default | None = None) -> bytes:
    """``value`` as compact UTF-8 JSON; NaN and infinities become null."""
    if orjson is not None:
        try:
            return orjson.dumps(value, default=default)
        except orjson.JSONEncodeError:
            # An integer beyond 64 bits (a long record) or a non-str key: the stdlib writes those
            # (and raises TypeError for what neither can write).
            pass
    return stdlib_dumps(value, default)


def stdlib_dumps(value: Any, default: Default | None = None) -> bytes:
    """What :func:`dumps` gives, by the standard library alone."""
    try:
        text = json.dumps(value, separators=(",", ":"), default=default, allow_nan=False)
    except ValueError:
        text = json.dumps(finite(value), separators=(",", ":"), default=default)
    return text.encode()


def loads(data: bytes | str) -> Any:
    """Parse JSON (bytes are UTF-8); raises ValueError on malformed input."""
    if orjson is not None:
        return orjson.loads(data)  # orjson.JSONDecodeError is a ValueError
    # UTF-8 only, as orjson (json.loads would guess UTF-16 and 32 from bytes); UnicodeDecodeError is one too
    return json.loads(data.decode() if isinstance(data, bytes) else data)


def all_finite(value: Any) -> bool:
    """Whether no float in ``value`` (nested dicts and lists) is a NaN or an infinity.

    Called for every payload holding a null (most readings): the common types are told by ``type() is``
    before any isinstance check, so a flat document costs a few microseconds.
    """
    kind = type(value)
    if kind is dict:
        items: Any = value.values()
    elif kind is list or kind is tuple:
        items = value
    elif kind is float:
        return math.isfinite(value)
    elif isinstance(value, Mapping):
        items = value.values()
    elif isinstance(value, list | tuple):
        items = value
    else:
        return not isinstance(value, float) or math.isfinite(value)
    for item in items:
        kind = type(item)
        if kind is float:
            if not math.isfinite(item):
                return False
        elif kind is str or kind is int or item is None or kind is bool:
            continue
        elif not all_finite(item):
            return False
    return True


def finite(value: Any) -> Any:
    """``value`` with every NaN and infinity (in nested dicts and lists) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value
