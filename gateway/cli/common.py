"""Options every subcommand shares (--config, --state-dir) and the one way to load settings from them."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, cast

import typer

from gateway.billing.meters import Provisioning
from gateway.daemon.config import ConfigError, GatewayConfig, load_config

if TYPE_CHECKING:
    from rich.console import Console

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Configuration file (TOML). Default: the embedded simulator setup."),
]
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
    """Print an error on stderr and exit."""
    _rich("errors").print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def settings(config: Path | None, state_dir: Path | None) -> GatewayConfig:
    """The configuration, with --state-dir taking precedence over the file's gateway.state_dir."""
    try:
        loaded = load_config(config)
    except ConfigError as err:
        fail(str(err))
    if state_dir is not None:
        loaded = dataclasses.replace(loaded, state_dir=state_dir)
    return loaded


def provisioning(config: GatewayConfig) -> Provisioning:
    return Provisioning(config.meters_path, config.keys_path)
