"""One form of a meter id: the protocol core's (lower-case hex), whatever case it was typed in."""

from __future__ import annotations

import pytest

from gateway.keys import KeyStore
from gateway.meter_id import is_canonical, normalise_meter_id
from gateway.wmbus.dll import meter_id_from_bytes
from tests.vectors import radio_vectors


@pytest.mark.parametrize(("typed", "canonical"), [
    ("0014A807", "0014a807"), ("0014a807", "0014a807"), (" 2124589C\n", "2124589c"), ("12345678", "12345678"),
])
def test_typed_ids_become_the_telegrams_form(typed: str, canonical: str) -> None:
    assert normalise_meter_id(typed) == canonical
    assert is_canonical(canonical) and is_canonical(typed) == (typed == canonical)


@pytest.mark.parametrize("bad", ["", "1234567", "123456789", "0014a80g", "0014-807", "ＡＢＣＤ1234"])
def test_what_is_no_meter_id_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="meter id must be 8 digits"):
        normalise_meter_id(bad)
    assert not is_canonical(bad)


def test_the_core_prints_ids_in_the_canonical_form() -> None:
    assert meter_id_from_bytes(bytes.fromhex("07a81400")) == "0014a807"
    for vector in radio_vectors():  # and so does the reference decoder
        assert normalise_meter_id(vector.meter_id) == vector.meter_id, vector.name


def test_a_key_store_finds_a_key_in_either_case() -> None:
    key = bytes(range(16))
    store = KeyStore({"1234ABCD": key})
    assert list(store) == ["1234abcd"]
    assert store.lookup("1234abcd") == store.lookup("1234ABCD") == store["1234AbCd"] == key
    assert store.lookup("1234abce") is None
    with pytest.raises(KeyError):
        store["1234abce"]
