"""``wmbus-gateway decoders list|check|test``, decoder files named by ``meters add``; keys never printed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli.app import app
from gateway.decoders import REGISTRY
from gateway.keys import save_keys
from tests.decoders.test_decoder_files import EXAMPLES, XYZ, XYZ_FILE
from tests.vectors import Vector, all_vectors

runner = CliRunner()
KADEN = EXAMPLES / "kadenwater.toml"
MINOMESS = EXAMPLES / "minomess.toml"


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "250"})
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(autouse=True)
def global_registry() -> Iterator[None]:
    """``meters`` commands add decoder files to the process's registry: leave it as it was found."""
    yield
    REGISTRY.replace_added(())


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A configuration whose decoder folder holds the XYZ decoder file."""
    folder = tmp_path / "decoders.d"
    folder.mkdir()
    (folder / "xyz.toml").write_text(XYZ_FILE)
    path = tmp_path / "gateway.toml"
    path.write_text(f'[gateway]\nstate_dir = "{tmp_path / "state"}"\ndecoders_dir = "decoders.d"\n')
    return path


def kaden_vector() -> Vector:
    """An encrypted Kaden water meter telegram of the shared vectors."""
    return next(v for v in all_vectors() if v.driver == "kadenwater" and v.key is not None)


def test_check_accepts_the_examples_and_says_what_they_claim() -> None:
    code, out, _ = invoke("decoders", "check", str(KADEN), str(MINOMESS))
    assert code == 0, out
    assert f"OK {KADEN}: decoder 'example-kadenwater'; claims KDN v01 t06,07; VIP v01 t06,07" in out
    assert "before the built-in ecomess" in out and "the standard fields + volume_b_m3" in out
    assert "error flags WAS_REMOVED WAS_TAMPERED" in out and "set day from storage 8" in out


def test_check_names_the_file_line_and_key(tmp_path: Path, config: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\n[[match]]\nmanufacturer = "ABC"\n[[field]]\nname = "x"\nquantity = "volum"')
    code, out, err = invoke("decoders", "check", str(KADEN), str(bad))
    assert code == 1
    assert "OK" in out
    assert f"error: {bad}:6: field[0].quantity: unknown quantity 'volum'" in err
    bad.write_text('name = "x"\nmatch = 1\n')
    code, _, err = invoke("decoders", "check", str(bad))
    assert code == 1 and "match: must be [[match]] tables" in err  # rich markup left alone
    # A name already used by a built-in decoder or by another file of the configured folder is refused;
    # the folder's own file is not a clash with itself.
    bad.write_text(XYZ_FILE)
    code, _, err = invoke("decoders", "check", str(bad), "--config", str(config))
    assert code == 1 and f"{bad}:2: name: 'xyz-water' is already the name of another decoder" in err
    own = tmp_path / "decoders.d" / "xyz.toml"
    code, out, _ = invoke("decoders", "check", str(own), "--config", str(config))
    assert code == 0, out


def test_list_shows_builtin_and_file_decoders_and_refused_files(tmp_path: Path, config: Path) -> None:
    (tmp_path / "decoders.d" / "broken.toml").write_text('name = "broken"\nflavour = 1\n')
    code, out, err = invoke("decoders", "list", "--config", str(config))
    assert code == 0, out + err
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") == 5}
    assert "xyz.toml" in rows["xyz-water"] and "XYZ v01 t07" in rows["xyz-water"]
    assert "built-in" in rows["minomess"] and "(any meter nobody claims)" in rows["oms"]
    assert f"refused: {tmp_path / 'decoders.d' / 'broken.toml'}:2: flavour: unknown key" in err
    assert REGISTRY.added == ()  # the command used a registry of its own


def test_test_prints_the_reading_of_a_decoder_file() -> None:
    telegram = "".join(f"{len(bytes.fromhex(XYZ)):02X}" + XYZ)
    code, out, err = invoke("decoders", "test", str(KADEN), telegram)
    assert code == 0, err
    reading = json.loads(out)
    assert reading["decoder"] == "example-kadenwater" and reading["total_m3"] == pytest.approx(12.345)
    assert "does not claim this telegram (XYZ version 0x01 device type 0x07, CI 0x7A)" in err
    assert "unless the meter names 'example-kadenwater'" in err


def test_test_opens_an_encrypted_telegram_with_a_key_never_printed(tmp_path: Path) -> None:
    vector = kaden_vector()
    assert vector.key is not None
    key = vector.key.hex().upper()
    code, out, err = invoke("decoders", "test", str(KADEN), vector.telegram.hex())
    assert code == 1 and "no key" in err
    bare, keys = tmp_path / "meter.key", tmp_path / "keys.toml"
    bare.write_text(key + "\n")
    bare.chmod(0o600)
    save_keys(keys, {vector.meter_id: vector.key})
    for options in (["--key", key.lower()], ["--key-file", str(bare)], ["--key-file", str(keys)]):
        code, out, err = invoke("decoders", "test", str(KADEN), vector.telegram.hex(), *options)
        assert code == 0, err
        reading = json.loads(out)
        assert reading["decoder"] == "example-kadenwater" and reading["meter_id"] == vector.meter_id
        assert reading["total_m3"] == pytest.approx(vector.expected["total_m3"])
        assert "does not claim" not in err
        for text in (out, err):
            assert key not in text.upper()
    bare.chmod(0o644)
    code, out, err = invoke("decoders", "test", str(KADEN), vector.telegram.hex(), "--key-file", str(bare))
    assert code == 2 and "chmod 600" in err and key not in (out + err).upper()
    code, out, err = invoke("decoders", "test", str(KADEN), vector.telegram.hex(), "--key", key[:-1] + "Z")
    assert code == 2 and "32 hex digits" in err and key[:-1] not in (out + err).upper()
    code, out, _ = invoke("decoders", "test", "--help")
    assert code == 0 and key not in out.upper()


def test_a_meter_may_name_a_decoder_file(config: Path) -> None:
    add = ("meters", "add", "12345678", "--no-key", "--config", str(config), "--decoder")
    code, out, err = invoke(*add, "xyz-water")
    assert code == 0, out + err
    code, out, _ = invoke("meters", "decoders", "--config", str(config))
    assert "xyz-water" in out.split()
    code, _, err = invoke(*add, "xyz-waterr")
    assert code == 1 and "unknown decoder 'xyz-waterr'" in err
