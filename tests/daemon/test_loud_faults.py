"""Faults are loud at the daemon and the command line: `run` says at once which sources are down and why,
`listen` fails naming the device, `config check` lists every problem in plain text, `status` in words."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli.app import app
from gateway.daemon.config import parse_config
from gateway.daemon.runner import Daemon

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "250"})
    return result.exit_code, result.output


def missing_stick_config(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(
        f'[gateway]\nstate_dir = "{tmp_path / "state"}"\n\n'
        f'[[radio]]\ntype = "im871a"\nname = "roof"\ndevice = "{tmp_path / "wmbus-im871a"}"\n'
    )
    return path


def test_run_says_at_once_which_source_is_down_and_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = missing_stick_config(tmp_path)
    daemon = Daemon(parse_config(path.read_text(), path), printer=lambda line: None)

    async def scenario() -> float:
        started = time.monotonic()
        run = asyncio.create_task(daemon.run())
        await asyncio.wait_for(daemon.ready.wait(), 10)
        took = time.monotonic() - started
        daemon.stop()
        assert await run == 0
        return took

    took = asyncio.run(scenario())
    assert took < 5.0  # not after the 15 s timeout
    ready = [r for r in caplog.records if r.getMessage().startswith("ready:")]
    assert [r.levelno for r in ready] == [logging.WARNING]
    device = tmp_path / "wmbus-im871a"
    assert (
        ready[0]
        .getMessage()
        .startswith(f"ready: 0/1 radio sources up, 0 meters; roof ({device}): cannot open the device: ")
    )

    code, out = invoke("status", "--config", str(path))
    assert code == 0, out
    assert "down: cannot open the device" in out


def test_listen_fails_naming_the_device_when_no_source_comes_up(tmp_path: Path) -> None:
    path = missing_stick_config(tmp_path)
    started = time.monotonic()
    code, out = invoke("listen", "--config", str(path), "--duration", "60")
    assert time.monotonic() - started < 10
    assert code == 1
    text = " ".join(out.split())
    assert f"no radio source came up: roof ({tmp_path / 'wmbus-im871a'}): cannot open the device" in text


def test_config_check_reports_every_problem_of_the_file_at_once_in_plain_text(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(
        'radio = 3\n\n[gateway]\ntimezone = "Mars/Olympus"\n\n[mqtt]\nurl = "mqtt://broker:70000"\n'
    )
    code, out = invoke("config", "check", "--config", str(path))
    assert code == 1
    text = out.replace("\n", " ")
    assert f"{path}:4: gateway.timezone: unknown time zone 'Mars/Olympus'" in text
    assert f"{path}:1: radio: must be one or more [[radio]] tables" in text  # no markup eats it
    assert f"{path}:7: mqtt.url: port 70000 is out of range (1-65535)" in text


def test_config_check_finds_devices_and_files_the_daemon_could_not_open(tmp_path: Path) -> None:
    state = tmp_path / "state"
    path = tmp_path / "gateway.toml"
    path.write_text(
        f'[gateway]\nstate_dir = "{state}"\n\n'
        f'[[radio]]\ntype = "amb8465"\ndevice = "{tmp_path / "ttyAMB"}"\n\n'
        '[[radio]]\ntype = "rtl_wmbus"\ncommand = "no-such-sdr-program -f 868.95M | rtl_wmbus"\n\n'
        f'[mqtt]\nurl = "mqtts://broker:8883"\npassword_file = "{tmp_path / "secret"}"\n'
        f'ca_file = "{tmp_path}"\n'
    )
    code, out = invoke("config", "check", "--config", str(path))
    assert code == 1
    text = " ".join(out.split())
    assert "4 problems:" in text
    assert f"radio[0] (amb8465).device: {tmp_path / 'ttyAMB'} does not exist" in text
    assert "radio[1] (rtl_wmbus).command: program 'no-such-sdr-program' not found on PATH" in text
    assert f"mqtt.password_file: {tmp_path / 'secret'} does not exist" in text
    assert f"mqtt.ca_file: {tmp_path} is not a file" in text


def test_meters_import_reads_standard_input(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "config" / "meters.example.csv"
    state = tmp_path / "state"
    arguments = ["meters", "import", "-", "--state-dir", str(state)]
    result = runner.invoke(app, arguments, input=example.read_text())
    assert result.exit_code == 0, result.output
    assert "imported -:" in result.output
    code, out = invoke("meters", "list", "--state-dir", str(state))
    assert code == 0 and example.read_text().splitlines()[1].split(",")[0] in out


def test_config_check_lists_every_problem_of_every_section_and_what_the_file_names(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    missing_stick, missing_secret = tmp_path / "ttyMissing", tmp_path / "mqtt-password"
    path.write_text(
        '[gateway]\nid = "has space"\ntimezone = "Mars/Olympus"\n'
        f'state_dir = "{tmp_path / "state"}"\n\n'
        f'[[radio]]\ntype = "im871a"\nname = "roof"\ndevice = "{missing_stick}"\nlink_mode = "N1a"\n\n'
        '[[radio]]\ntype = "amb3665"\nname = "valley"\n\n'
        f'[mqtt]\nurl = "mqtt://broker:70000"\nprefix = "a/"\npassword_file = "{missing_secret}"\n\n'
        '[metrics]\nlisten = "0.0.0.0:99999"\n\n'
        "[dedup]\nwindow_s = -1\ncolour = 1\n\n"
        "[health]\nmin_silence_s = -5\nno_such_knob = 1\n"
    )
    code, out = invoke("config", "check", "--config", str(path))
    assert code == 1
    expected = [
        f"{path}:2: gateway.id: only letters",
        f"{path}:3: gateway.timezone: unknown time zone 'Mars/Olympus'",
        f"{path}:10: radio[0].link_mode: N1a is a 169 MHz N mode",
        f"{path}:12: radio[1]: missing required key 'device'",
        f"{path}:17: mqtt.url: port 70000 is out of range (1-65535)",
        f"{path}:18: mqtt.prefix: must not contain",
        f"{path}:22: metrics.listen: '0.0.0.0:99999': port 99999 is out of range",
        f"{path}:25: dedup.window_s: must be at least",
        f"{path}:26: dedup.colour: unknown key",
        f"{path}:29: health.min_silence_s:",
        f"{path}:30: health.no_such_knob:",
        f"radio[0] (roof).device: {missing_stick} does not exist",  # what the file names, read as far as
        f"mqtt.password_file: {missing_secret} does not exist",  # the file could be read
    ]
    lines = [line.strip() for line in out.splitlines()]
    assert lines[0] == f"error: {len(expected)} problems:"
    for start in expected:  # each on a line of its own, once, unwrapped
        assert sum(line.startswith(start) for line in lines) == 1, start
    assert len(lines) == len(expected) + 1


def test_status_shows_a_recovered_sources_last_error_in_words(tmp_path: Path) -> None:
    from tests.radio.fakes import FakeIm871a  # noqa: PLC0415

    path = tmp_path / "gateway.toml"

    async def scenario() -> None:
        fake = FakeIm871a(tmp_path)
        fake.plug()
        path.write_text(
            f'[gateway]\nstate_dir = "{tmp_path / "state"}"\n\n'
            f'[[radio]]\ntype = "im871a"\nname = "roof"\ndevice = "{fake.path}"\nlink_mode = "T1"\n'
        )
        daemon = Daemon(parse_config(path.read_text(), path), printer=lambda line: None)
        run = asyncio.create_task(daemon.run())
        try:
            await asyncio.wait_for(daemon.ready.wait(), 10)
            (source,) = daemon.sources
            fake.unplug()  # pulled out ...
            async with asyncio.timeout(10):
                while source.stats.connected:
                    await asyncio.sleep(0.01)
            fake.plug()  # ... and back
            async with asyncio.timeout(15):
                while not source.stats.connected:
                    await asyncio.sleep(0.05)
        finally:
            daemon.stop()
            assert await run == 0
            fake.unplug()

    asyncio.run(scenario())
    code, out = invoke("status", "--config", str(path))
    assert code == 0, out
    row = next(line for line in out.splitlines() if "roof" in line)
    assert "the device went away (unplugged?)" in row
    assert "down:" not in row and "read_failed" not in row
