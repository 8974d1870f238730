"""The ``wmbus-gateway`` typer application; each subcommand lives in its own module."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="wmbus-gateway",
    help="Wireless M-Bus gateway for water utilities: decode, deduplicate, bill, publish.",
    no_args_is_help=True,
    add_completion=False,
)

# Each module defines ``register(app: typer.Typer) -> None``.
COMMAND_MODULES: tuple[str, ...] = ("config_cmd", "meters", "run", "decode", "status", "ingest", "listen")


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"gateway.cli.{name}").register(app)


_register_commands()


def main() -> None:
    """Console-script entry point."""
    app()
