"""The keys file: refused when others can read it; keys never shown."""

from pathlib import Path

import pytest

from gateway.keys import KeyFileError, load_keys, save_keys

KEY = bytes(range(16))


def test_round_trip_and_repr_hides_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    save_keys(path, {"12345678": KEY})
    assert path.stat().st_mode & 0o777 == 0o600
    store = load_keys(path)
    assert store.lookup("12345678") == KEY
    assert store.lookup("87654321") is None
    assert KEY.hex() not in repr(store).lower()


def test_world_readable_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    save_keys(path, {"12345678": KEY})
    path.chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_keys(path)


def test_bad_key_error_names_meter_not_key(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    path.write_text('[keys]\n"12345678" = "00112233"\n')
    path.chmod(0o600)
    with pytest.raises(KeyFileError) as err:
        load_keys(path)
    assert "12345678" in str(err.value)
    assert "00112233" not in str(err.value)
