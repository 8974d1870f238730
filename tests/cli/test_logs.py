"""Log lines: journald priority prefixes under systemd, local time with offset on a terminal, JSON."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.cli.logs import (
    JournalFormatter,
    JsonFormatter,
    LogFormat,
    TextFormatter,
    configure_logging,
    syslog_priority,
    under_journald,
)

REPO = Path(__file__).resolve().parents[2]


def _record(level: int, message: str, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("gateway.radio", level, __file__, 1, message, (), exc_info)


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


@pytest.mark.parametrize(
    ("level", "priority"),
    [
        (logging.DEBUG, 7),
        (logging.INFO, 6),
        (logging.WARNING, 4),
        (logging.ERROR, 3),
        (logging.CRITICAL, 2),
    ],
)
def test_syslog_priorities(level: int, priority: int) -> None:
    assert syslog_priority(level) == priority


def test_journal_line_has_priority_prefix_and_no_timestamp() -> None:
    line = JournalFormatter().format(_record(logging.ERROR, "im871a /dev/ttyUSB0: cannot open"))
    assert line == "<3>gateway.radio: im871a /dev/ttyUSB0: cannot open"


def test_journal_traceback_lines_keep_the_priority() -> None:
    text = JournalFormatter().format(_record(logging.WARNING, "failed", exc=True))
    lines = text.split("\n")
    assert len(lines) > 2
    assert all(line.startswith("<4>") for line in lines)
    assert "ValueError: boom" in lines[-1]


def test_text_line_starts_with_local_time_and_offset() -> None:
    line = TextFormatter().format(_record(logging.WARNING, "radio source down"))
    assert re.match(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d WARNING gateway.radio: radio source down$",
        line,
    ), line


def test_json_line() -> None:
    document = json.loads(JsonFormatter().format(_record(logging.INFO, "ready: 1/1 radio sources up")))
    assert document["level"] == "info"
    assert document["priority"] == 6
    assert document["logger"] == "gateway.radio"
    assert document["message"] == "ready: 1/1 radio sources up"
    assert re.match(r"\d{4}-\d\d-\d\dT.*[+-]\d\d:\d\d$", document["time"])


def test_journal_stream_must_name_our_stderr() -> None:
    with tempfile.TemporaryFile("w") as file:
        status = os.fstat(file.fileno())
        assert under_journald(file, {"JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino}"})
        assert not under_journald(file, {"JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino + 1}"})
        assert not under_journald(file, {})
        assert not under_journald(io.StringIO(), {"JOURNAL_STREAM": "1:2"})


@pytest.mark.usefixtures("restore_root")
def test_configure_logging_puts_every_logger_through_one_format() -> None:
    stream = io.StringIO()
    configure_logging("warning", LogFormat.JOURNAL, stream)
    logging.getLogger("paho.mqtt.client").warning("failed to receive on socket")
    logging.getLogger("gateway.daemon").info("not shown at warning")
    logging.getLogger("gateway.daemon").error("disk full")
    assert stream.getvalue().splitlines() == [
        "<4>paho.mqtt.client: failed to receive on socket",
        "<3>gateway.daemon: disk full",
    ]


def _run_cli(
    args: list[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=timeout,
        cwd=REPO,
        check=False,
    )


def test_run_under_systemd_logs_with_priorities(tmp_path: Path) -> None:
    # systemd's JOURNAL_STREAM names the stream it gave the service: make stderr that file and say so
    stderr_path = tmp_path / "stderr"
    with stderr_path.open("w") as stderr:
        status = os.fstat(stderr.fileno())
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "gateway",
                "run",
                "--state-dir",
                str(tmp_path / "state"),
                "--duration",
                "1",
            ],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={
                **os.environ,
                "JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino}",
                "TZ": "Europe/Rome",
            },
            timeout=120,
            cwd=REPO,
            check=False,
        )
    assert result.returncode == 0
    lines = [line for line in stderr_path.read_text().splitlines() if line]
    assert lines, "the daemon logged nothing"
    assert all(re.match(r"<[0-7]>", line) for line in lines), lines
    # the first line names the version, where the configuration came from and the billing zone
    assert re.match(
        r"<6>gateway.run: wmbus-gateway \S+: configuration the embedded default .*, "
        r"billing zone Europe/Rome \(the machine's\)",
        lines[0],
    ), lines[0]


def test_run_log_format_json_and_level(tmp_path: Path) -> None:
    result = _run_cli(
        [
            "run",
            "--state-dir",
            str(tmp_path),
            "--duration",
            "1",
            "--log-format",
            "json",
            "--log-level",
            "debug",
        ],
        {},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("{")]
    documents = [json.loads(line) for line in lines]
    assert documents and documents[0]["logger"] == "gateway.run"
    assert {document["level"] for document in documents} >= {"info"}


def test_config_from_environment_is_named_in_the_first_line(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'[gateway]\nstate_dir = "{tmp_path / "state"}"\ntimezone = "Europe/Berlin"\n'
        '[[radio]]\ntype = "simulator"\n'
    )
    result = _run_cli(
        ["run", "--duration", "1", "--log-format", "text"],
        {"WMBUS_GATEWAY_CONFIG": str(config)},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    first = result.stderr.splitlines()[0]
    assert f"configuration {config} ($WMBUS_GATEWAY_CONFIG)" in first
    assert "billing zone Europe/Berlin (configured)" in first


def test_version() -> None:
    result = _run_cli(["--version"], {})
    assert result.returncode == 0
    from gateway import __version__  # noqa: PLC0415

    assert result.stdout.strip() == f"wmbus-gateway {__version__}"


def test_shell_completion_is_offered() -> None:
    result = _run_cli(["--help"], {"COLUMNS": "200"})
    assert "--install-completion" in result.stdout
