"""Options every subcommand shares (--config, --state-dir) and the one way to load settings from them."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, cast

import typer

from gateway.billing.meters import Provisioning
from gateway.cli.logs import LogFormat, LogLevel
from gateway.daemon.config import ConfigError, GatewayConfig, all_problems, load_config

if TYPE_CHECKING:
    from rich.console import Console

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Configuration file (TOML). Default: $WMBUS_GATEWAY_CONFIG, else "
        "/etc/wmbus-gateway/gateway.toml when it exists, else the embedded simulator setup.",
    ),
]
SYSTEM_CONFIG = Path("/etc/wmbus-gateway/gateway.toml")
CONFIG_ENV = "WMBUS_GATEWAY_CONFIG"
StateDirOption = Annotated[
    Path | None,
    typer.Option("--state-dir", help="State folder (database, outbox, meters and keys). Default: ./state"),
]


def __getattr__(name: str) -> Console:
    # ``console`` (stdout) and ``errors`` (stderr) are made on first use: the daemon prints one line,
    # on exit, and rich costs some 4 MB resident.
    if name in ("console", "errors"):
        return _rich(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _rich(name: str) -> Console:
    made = globals().get(name)
    if made is None:
        from rich.console import Console  # noqa: PLC0415

        made = globals()[name] = Console(stderr=name == "errors")
    return cast("Console", made)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print an error on stderr and exit; plain text (``[[radio]]`` stays as written), lines never wrapped."""
    from rich.markup import escape  # noqa: PLC0415

    _rich("errors").print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def config_path(given: Path | None) -> Path | None:
    """--config, else $WMBUS_GATEWAY_CONFIG, else the system file when it exists; None = embedded default."""
    if given is not None:
        return given
    from_env = os.environ.get(CONFIG_ENV, "")
    if from_env:
        return Path(from_env)
    return SYSTEM_CONFIG if SYSTEM_CONFIG.is_file() else None


def config_origin(config: GatewayConfig, given: Path | None) -> str:
    """Where the configuration came from, in words, for the first log line."""
    if config.origin is None:
        return "the embedded default (simulated radio)"
    if given is not None:
        return f"{config.origin} (--config)"
    if os.environ.get(CONFIG_ENV):
        return f"{config.origin} (${CONFIG_ENV})"
    return f"{config.origin} (the system configuration)"


def settings(config: Path | None, state_dir: Path | None) -> GatewayConfig:
    """The configuration (see ``config_path``), with --state-dir taking precedence over gateway.state_dir."""
    try:
        loaded = load_config(config_path(config))
    except ConfigError as err:
        fail(all_problems(err))
    if state_dir is not None:
        loaded = dataclasses.replace(loaded, state_dir=state_dir)
    return loaded


def provisioning(config: GatewayConfig) -> Provisioning:
    return Provisioning(config.meters_path, config.keys_path)


LogLevelOption = Annotated[
    LogLevel | None,
    typer.Option("--log-level", help="Default: the configuration's gateway.log_level, else info."),
]
LogFormatOption = Annotated[
    LogFormat,
    typer.Option(
        "--log-format",
        help="auto: journald's priority prefixes under systemd, local time with its offset elsewhere; "
        "json: one object a line.",
    ),
]
