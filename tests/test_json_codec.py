"""The JSON codec: orjson and the stdlib fallback give the same document."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Any

import pytest

from gateway import json_codec

DOCUMENTS: list[Any] = [
    {"meter_id": "12345678", "total_m3": 123.456, "alarms": [], "ok": True, "none": None},
    {"nested": {"list": [1, 2.5, "x"], "tuple": (1, 2)}, "unicode": "Zähler"},
    {"at": datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC), "naive": datetime(2024, 10, 15, 12, 22, 52)},
    {"day": date(2026, 1, 31)},
]


def _default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


@pytest.mark.parametrize("document", DOCUMENTS)
def test_fast_and_fallback_parse_to_the_same(document: Any) -> None:
    fast = json_codec.dumps(document, _default)
    plain = json_codec.stdlib_dumps(document, _default)
    assert json.loads(fast) == json.loads(plain)
    assert json_codec.loads(fast) == json.loads(plain)


def test_not_finite_numbers_become_null() -> None:
    document = {"a": float("nan"), "b": [float("inf"), 1.5]}
    for dumped in (json_codec.dumps(document), json_codec.stdlib_dumps(document)):
        assert json.loads(dumped) == {"a": None, "b": [None, 1.5]}
    assert not json_codec.all_finite(document) and json_codec.all_finite({"a": [1.0]})


def test_all_finite_looks_into_every_nesting() -> None:
    nan, inf = float("nan"), float("-inf")
    for bad in (
        {"a": {"b": [1, {"c": nan}]}},
        [("x", inf)],
        MappingProxyType({"a": [True, None, "s", nan]}),
        nan,
    ):
        assert not json_codec.all_finite(bad), bad
    good_ones = ({"a": {"b": [1, {"c": 1.5}]}, "t": (2, None, False)}, MappingProxyType({"a": 1.0}), 3.0, "x")
    for good in good_ones:
        assert json_codec.all_finite(good), good


def test_integers_beyond_64_bits_and_int_keys_still_encode() -> None:
    assert json.loads(json_codec.dumps({"v": 2**70})) == {"v": 2**70}
    assert json.loads(json_codec.dumps({1: "x"})) == {"1": "x"}


def test_unserialisable_raises_type_error() -> None:
    with pytest.raises(TypeError):
        json_codec.dumps({"x": object()})


def test_loads_refuses_malformed_with_value_error() -> None:
    with pytest.raises(ValueError):
        json_codec.loads(b"{not json")


@pytest.mark.parametrize("fast", [True, False], ids=["orjson", "stdlib"])
def test_loads_takes_utf8_only(fast: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    # The ingester hands payloads over as bytes: UTF-16 (which json.loads would guess) or Latin-1 is
    # malformed, whichever parser is installed.
    if not fast:
        monkeypatch.setattr(json_codec, "orjson", None)
    assert json_codec.loads('{"m":"Zähler"}'.encode()) == {"m": "Zähler"}
    for data in ('{"m":"x"}'.encode("utf-16"), '{"m":"Zähler"}'.encode("latin-1")):
        with pytest.raises(ValueError):
            json_codec.loads(data)
