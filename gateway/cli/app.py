"""The ``wmbus-gateway`` typer application; each subcommand lives in its own module.

The console script imports only the module of the command it runs (``run`` needs neither rich tables
nor the ingester): ``main`` builds the application from ``sys.argv``. ``app``, the whole application,
is built on first use (tests, documentation).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable
from typing import Annotated

import typer

from gateway import __version__

HELP = "Wireless M-Bus gateway for water utilities: decode, deduplicate, bill, publish."

# Command name -> the module that defines ``register(app: typer.Typer) -> None``, in help order.
COMMANDS: dict[str, str] = {
    "config": "config_cmd",
    "meters": "meters",
    "run": "run",
    "decode": "decode",
    "decoders": "decoders_cmd",
    "status": "status",
    "state": "state_cmd",
    "ingest": "ingest",
    "listen": "listen",
    "watch": "watch",
}
COMMAND_MODULES: tuple[str, ...] = tuple(COMMANDS.values())


def build_app(commands: Iterable[str] = COMMANDS) -> typer.Typer:
    """The application with the given commands (all by default)."""
    application = typer.Typer(name="wmbus-gateway", help=HELP, no_args_is_help=True)
    names = list(commands)
    # the callback takes --version, and keeps `wmbus-gateway NAME ...` when typer would run a lone
    # command as the application itself
    application.callback()(_application_options)
    for name in names:
        importlib.import_module(f"gateway.cli.{COMMANDS[name]}").register(application)
    return application


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"wmbus-gateway {__version__}")
        raise typer.Exit()


def _application_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Wireless M-Bus gateway for water utilities: decode, deduplicate, bill, publish."""


def command_in(argv: list[str]) -> str | None:
    """The command that ``argv`` (without the program name) runs, when it names one first."""
    return argv[0] if argv and argv[0] in COMMANDS else None


def __getattr__(name: str) -> typer.Typer:
    if name == "app":
        application = globals()["app"] = build_app()
        return application
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Console-script entry point."""
    command = command_in(sys.argv[1:])
    build_app([command] if command is not None else COMMANDS)(prog_name="wmbus-gateway")
