"""The command line: config check, meters add/import/list/show/remove (keys never printed back)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli.app import app
from gateway.daemon.meters import Provisioning

KEY = "000102030405060708090A0B0C0D0E0F"
runner = CliRunner()


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), input=stdin)
    return result.exit_code, result.output


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


def test_help_lists_the_commands() -> None:
    code, out = invoke("--help")
    assert code == 0
    for command in ("meters", "config"):
        assert command in out


def test_add_with_key_option_never_prints_it(state: Path) -> None:
    state_dir = ("--state-dir", str(state))
    code, out = invoke("meters", "add", "12345678", "--key", KEY, "--name", "Cellar", *state_dir)
    assert code == 0, out
    assert "added meter 12345678 with its key" in out
    assert KEY not in out and KEY.lower() not in out
    assert stat.S_IMODE((state / "keys.toml").stat().st_mode) == 0o600
    code, out = invoke("meters", "list", "--state-dir", str(state))
    assert code == 0 and "12345678" in out and "Cellar" in out and "yes" in out
    assert KEY not in out
    code, out = invoke("meters", "show", "12345678", "--state-dir", str(state))
    assert code == 0 and "set (in the keys file)" in out and KEY not in out


def test_add_prompts_for_the_key_without_echo(state: Path) -> None:
    code, out = invoke("meters", "add", "12345678", "--state-dir", str(state), stdin=KEY + "\n")
    assert code == 0, out
    assert "AES key of meter 12345678" in out
    assert KEY not in out  # hide_input: the typed key is not echoed
    fleet = Provisioning(state / "meters.toml", state / "keys.toml").load()
    assert fleet.keys.lookup("12345678") == bytes.fromhex(KEY)


def test_key_option_shows_no_default_in_help() -> None:
    code, out = invoke("meters", "add", "--help")
    assert code == 0
    key_help = next(line for line in out.splitlines() if "--key" in line)
    assert "default" not in key_help.lower()


def test_bad_key_and_id_are_refused_without_echo(state: Path) -> None:
    code, out = invoke("meters", "add", "12345678", "--key", "00112233zz", "--state-dir", str(state))
    assert code == 1
    assert "00112233zz" not in out
    assert "32 hex digits" in out.replace("\n", " ")
    code, out = invoke("meters", "add", "123", "--no-key", "--state-dir", str(state))
    assert code == 1 and "8 digits" in out
    assert not (state / "meters.toml").exists()


def test_import_reports_lines_and_writes_nothing(state: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(f"id,key,name\n11111111,{KEY},a\n2222,{KEY},b\n33333333,abc,c\n")
    code, out = invoke("meters", "import", str(bad), "--state-dir", str(state))
    assert code == 1
    assert "2 invalid row(s); nothing imported" in out
    assert " 3 " in out and " 4 " in out
    assert KEY not in out
    assert not (state / "meters.toml").exists()
    good = tmp_path / "good.csv"
    good.write_text(f"id,key,name\n11111111,{KEY},a\n22222222,,b\n")
    code, out = invoke("meters", "import", str(good), "--state-dir", str(state))
    assert code == 0, out
    assert "2 added, 0 updated" in out
    code, out = invoke("meters", "remove", "11111111", "--state-dir", str(state))
    assert code == 0
    code, out = invoke("meters", "remove", "11111111", "--state-dir", str(state))
    assert code == 1 and "not provisioned" in out


def test_example_csv_imports(state: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "config" / "meters.example.csv"
    code, out = invoke("meters", "import", str(example), "--state-dir", str(state))
    assert code == 0, out


def test_config_check_reports_key_and_line(tmp_path: Path, state: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text('[gateway]\nid = "gw"\n\n[mqtt]\nurl = "tcp://broker"\n')
    code, out = invoke("config", "check", "--config", str(path), "--state-dir", str(state))
    assert code == 1
    assert f"{path}:5: mqtt.url:" in out.replace("\n", "")
    path.write_text('[gateway]\nid = "gw"\n\n[mqtt]\nurl = "mqtt://broker:1883"\n')
    code, out = invoke("config", "check", "--config", str(path), "--state-dir", str(state))
    assert code == 0, out
    assert "OK" in out and "0 meters provisioned" in out


def test_config_check_refuses_a_readable_keys_file(state: Path) -> None:
    invoke("meters", "add", "12345678", "--key", KEY, "--state-dir", str(state))
    (state / "keys.toml").chmod(0o640)
    code, out = invoke("config", "check", "--state-dir", str(state))
    assert code == 1 and "chmod 600" in out.replace("\n", "")
