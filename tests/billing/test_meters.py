"""Provisioning: the meters file, the keys file beside it, and all-or-nothing CSV imports."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from gateway.billing.meters import (
    ImportRejectedError,
    MeterEntry,
    MetersFileError,
    Provisioning,
    load_meters,
    parse_import,
    save_meters,
)
from gateway.keys import KeyFileError

KEY_A = bytes(range(16))
KEY_B = bytes(range(16, 32))


@pytest.fixture
def prov(tmp_path: Path) -> Provisioning:
    return Provisioning(tmp_path / "meters.toml", tmp_path / "keys.toml")


def test_empty_when_nothing_is_provisioned(prov: Provisioning) -> None:
    fleet = prov.load()
    assert dict(fleet.meters) == {}
    assert len(fleet.keys) == 0


def test_add_writes_meter_and_key_separately(prov: Provisioning) -> None:
    assert prov.add(MeterEntry("1234ABCD", "izar", "Cellar", "C-1"), KEY_A) is True
    fleet = prov.load()
    # one canonical form, the telegrams' own: lower case
    assert dict(fleet.meters) == {"1234abcd": MeterEntry("1234abcd", "izar", "Cellar", "C-1")}
    assert fleet.keys.lookup("1234abcd") == fleet.keys.lookup("1234ABCD") == KEY_A
    assert KEY_A.hex() not in prov.meters_path.read_text().lower()
    assert stat.S_IMODE(prov.keys_path.stat().st_mode) == 0o600
    assert prov.add(MeterEntry("1234aBcD", None, "Garden", None), None) is False
    fleet = prov.load()
    assert list(fleet.meters) == ["1234abcd"] and fleet.meters["1234abcd"].name == "Garden"
    assert fleet.keys.lookup("1234abcd") == KEY_A  # a key not given is kept


def test_remove_forgets_meter_and_key(prov: Provisioning) -> None:
    prov.add(MeterEntry("11111111"), KEY_A)
    prov.add(MeterEntry("22222222"), KEY_B)
    assert prov.remove("11111111") is True
    assert prov.remove("11111111") is False
    fleet = prov.load()
    assert list(fleet.meters) == ["22222222"]
    assert list(fleet.keys) == ["22222222"]


def test_readable_keys_file_is_refused(prov: Provisioning) -> None:
    prov.add(MeterEntry("11111111"), KEY_A)
    prov.keys_path.chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        prov.load()


@pytest.mark.parametrize("suffix", [".toml", ".csv"])
def test_meters_file_round_trip(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"meters{suffix}"
    meters = {
        "11111111": MeterEntry("11111111", "multical21", 'Flat "3", 2nd floor', "C-9"),
        "22222222": MeterEntry("22222222"),
    }
    save_meters(path, meters)
    assert load_meters(path) == meters


def test_meters_file_errors_name_the_place(tmp_path: Path) -> None:
    path = tmp_path / "meters.toml"
    path.write_text('[meters."1234"]\nname = "x"\n')
    with pytest.raises(MetersFileError, match=r"meters\.1234: meter id must be 8"):
        load_meters(path)
    path.write_text('[meters."12345678"]\nkey = "00"\n')
    with pytest.raises(MetersFileError, match="keys belong in the keys file"):
        load_meters(path)
    csv_path = tmp_path / "meters.csv"
    csv_path.write_text("id,name\n12345678,a\nnot-an-id,b\n")
    with pytest.raises(MetersFileError, match=r"meters.csv:3:"):
        load_meters(csv_path)


def test_import_is_all_or_nothing_and_reports_every_bad_line(prov: Provisioning) -> None:
    prov.add(MeterEntry("99999999", name="kept"), KEY_B)
    text = (
        "id,key,name\n"
        f"11111111,{KEY_A.hex()},ok\n"
        "2222,00112233445566778899aabbccddeeff,short id\n"
        "33333333,0011,short key\n"
        f"11111111,{KEY_A.hex()},again\n"
        "44444444,zz112233445566778899aabbccddeeff,not hex\n"
        "55555555,\n"
    )
    with pytest.raises(ImportRejectedError) as info:
        prov.import_csv(text)
    assert [(e.line, e.message.split(" ")[0]) for e in info.value.errors] == [
        (3, "meter"),
        (4, "key"),
        (5, "meter"),
        (6, "key"),
        (7, "expected"),
    ]
    assert "already listed on line 2" in info.value.errors[2].message
    for error in info.value.errors:
        assert "00112233" not in error.message and "zz11" not in error.message
    assert list(prov.load().meters) == ["99999999"]  # nothing written


def test_import_adds_and_updates(prov: Provisioning) -> None:
    prov.add(MeterEntry("11111111", name="old"), KEY_B)
    seen: list[int] = []
    added, updated = prov.import_csv(
        f"id,key,decoder,name,customer\n11111111,{KEY_A.hex()},,new,C1\n22222222,,,,\n\n",
        progress=seen.append,
    )
    assert (added, updated) == (1, 1)
    assert sum(seen) == 3
    fleet = prov.load()
    assert fleet.meters["11111111"] == MeterEntry("11111111", None, "new", "C1")
    assert fleet.keys.lookup("11111111") == KEY_A
    assert fleet.keys.lookup("22222222") is None


def test_import_header_is_checked() -> None:
    with pytest.raises(ImportRejectedError) as info:
        parse_import("meter,aes\n1,2\n", None)
    assert info.value.errors[0].line == 1
    assert "missing column(s) id, key" in info.value.errors[0].message
    with pytest.raises(ImportRejectedError):
        parse_import("", None)


def test_import_checks_decoder_names() -> None:
    with pytest.raises(ImportRejectedError) as info:
        parse_import("id,key,decoder\n11111111,,nosuchdecoder\n", frozenset({"izar"}))
    assert info.value.errors[0].line == 2
    assert "unknown decoder" in info.value.errors[0].message
    rows = parse_import("id,key,decoder\n11111111,,izar\n", frozenset({"izar"}))
    assert rows[0][0].decoder == "izar"
