"""The command line: config check, meters add/import/list/show/remove (keys never printed back)."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.billing.meters import Provisioning
from gateway.cli.app import app
from tests.daemon.test_e2e import rtl_wmbus_line
from tests.daemon.test_pipeline import encrypted_water_vectors
from tests.vectors import Vector

KEY = "000102030405060708090A0B0C0D0E0F"
runner = CliRunner()


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), input=stdin, env={"COLUMNS": "200"})
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


def replay_file(tmp_path: Path, vectors: list[Vector], hours: int = 54) -> Path:
    """Hourly telegrams from 29 September 00:00 UTC: 54 hours cross the 1 October cut-off (Rome)."""
    start = datetime(2026, 9, 29, tzinfo=UTC)
    lines = [
        rtl_wmbus_line(start + timedelta(hours=h), v.telegram, v.meter_id)
        for h in range(hours)
        for v in vectors
    ]
    path = tmp_path / "air.msg"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_run_replay_then_status_and_show(tmp_path: Path, state: Path) -> None:
    known, stranger = encrypted_water_vectors()[:2]
    assert known.key is not None
    code, out = invoke("meters", "add", known.meter_id, "--key", known.key.hex(), "--state-dir", str(state))
    assert code == 0, out
    recording = replay_file(tmp_path, [known, stranger])
    code, out = invoke("run", "--replay", str(recording), "--state-dir", str(state))
    assert code == 0, out
    reading_lines = [line for line in out.splitlines() if known.meter_id in line and " m3" in line]
    assert len([line for line in reading_lines if "monthly" not in line]) == 54  # one line per reading
    assert stranger.meter_id not in out  # not provisioned: never printed
    assert any(line.startswith("monthly") and "2026-09" in line for line in out.splitlines())
    code, out = invoke("status", "--state-dir", str(state))
    assert code == 0, out
    assert "coverage" in out and "read in 2026-10" in out
    assert known.meter_id in out and stranger.meter_id in out  # last seen; heard but not provisioned
    code, out = invoke("meters", "show", known.meter_id, "--state-dir", str(state))
    assert code == 0 and "total_m3" in out and str(known.expected["total_m3"]) in out
    assert known.key.hex() not in out.lower()


def test_status_without_state_says_so(state: Path) -> None:
    code, out = invoke("status", "--state-dir", str(state))
    assert code == 1 and "no state database" in out


def test_listen_surveys_the_air(tmp_path: Path, state: Path) -> None:
    known, stranger = encrypted_water_vectors()[:2]
    invoke("meters", "add", known.meter_id, "--no-key", "--state-dir", str(state))
    config = tmp_path / "gateway.toml"
    config.write_text(f'[[radio]]\ntype = "replay"\npath = "{replay_file(tmp_path, [known, stranger], 2)}"\n')
    code, out = invoke("listen", "--config", str(config), "--state-dir", str(state), "--duration", "5")
    assert code == 0, out
    assert "2 meters heard (1 provisioned), 4 frames" in out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 5}
    assert set(rows) == {known.meter_id, stranger.meter_id}
    for row in rows.values():
        cells = [cell.strip() for cell in row.split("│")]
        assert cells[6] == "yes"  # encrypted
    assert [c.strip() for c in rows[known.meter_id].split("│")][7] == "yes"
    assert [c.strip() for c in rows[stranger.meter_id].split("│")][7] == "no"


def test_run_refuses_a_bad_mqtt_url(state: Path) -> None:
    code, out = invoke("run", "--mqtt", "http://broker", "--state-dir", str(state), "--duration", "1")
    assert code == 1 and "mqtt://" in out


@pytest.mark.parametrize(
    "command",
    [
        "run",
        "status",
        "listen",
        "config check",
        "meters add",
        "meters import",
        "meters list",
        "meters show",
        "meters remove",
        "meters decoders",
        "decoders list",
        "decoders check",
    ],
)
def test_every_subcommand_takes_config_and_state_dir(command: str) -> None:
    code, out = invoke(*command.split(), "--help")
    assert code == 0
    assert "--config" in out and "--state-dir" in out


def test_latin1_csv_is_refused_with_the_place_then_read_with_encoding(state: Path, tmp_path: Path) -> None:
    # A list saved by a spreadsheet in Latin-1: once a UnicodeDecodeError traceback.
    latin1 = tmp_path / "installer.csv"
    latin1.write_bytes(f"id,key,name\n11111111,{KEY},Müller Straße 3\n".encode("latin-1"))
    code, out = invoke("meters", "import", str(latin1), "--state-dir", str(state))
    assert code == 1
    assert "Traceback" not in out
    assert "not UTF-8" in out and "line 2" in out and "--encoding" in out
    assert not (state / "meters.toml").exists()
    code, out = invoke("meters", "import", str(latin1), "--encoding", "latin-1", "--state-dir", str(state))
    assert code == 0, out
    assert "Müller Straße 3" in (state / "meters.toml").read_text(encoding="utf-8")
    code, out = invoke("meters", "import", str(latin1), "--encoding", "klingon", "--state-dir", str(state))
    assert code == 1 and "klingon" in out


@pytest.mark.parametrize(
    "url", ["mqtt://user:secret@broker", "mqtt://user:secret@", "mqtts://user:secret@h:99999"]
)
@pytest.mark.parametrize("command", ["run", "ingest"])
def test_a_password_in_the_broker_url_is_never_repeated(command: str, url: str, state: Path) -> None:
    extra = ["--influx-url", "http://127.0.0.1:1", "--bucket", "b"] if command == "ingest" else []
    extra += ["--state-dir", str(state)] if command == "run" else []
    code, out = invoke(command, "--mqtt", url, *extra)
    assert code != 0
    assert "secret" not in out
    assert "password" in out or "mqtt://host" in out


def test_keys_from_a_file_or_the_prompt_stay_out_of_ps(state: Path, tmp_path: Path) -> None:
    code, out = invoke("meters", "add", "--help")
    assert code == 0 and "--key-file" in out and "ps" in out
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o600)
    code, out = invoke("meters", "add", "12345678", "--key-file", str(key_file), "--state-dir", str(state))
    assert code == 0, out
    assert KEY not in out
    assert Provisioning(state / "meters.toml", state / "keys.toml").load().keys.lookup(
        "12345678"
    ) == bytes.fromhex(KEY)
    code, out = invoke("decode", "--help")
    assert code == 0 and "--key-file" in out and "ps" in out
