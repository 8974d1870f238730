"""``wmbus-gateway config check``: the configuration, the meters and keys files, and what they name.

Every problem is listed at once, one a line, in plain text (a message naming ``[[radio]]`` prints as
written): the file's own (each wrong value of each table), then the devices, programs and files it names,
as far as the file could be read, then the meters and keys files.
"""

from __future__ import annotations

import dataclasses

import typer
from rich.table import Table
from rich.text import Text

from gateway.billing.meters import MetersFileError
from gateway.cli.common import ConfigOption, StateDirOption, config_path, console, provisioning
from gateway.daemon.config import ConfigError, GatewayConfig, iter_keys, load_config
from gateway.daemon.preflight import preflight
from gateway.keys import KeyFileError

config_app = typer.Typer(help="Check the configuration.", no_args_is_help=True)


@config_app.command("check")
def check(config: ConfigOption = None, state_dir: StateDirOption = None) -> None:
    """Validate the configuration (errors name key and line), the meters and keys, devices and files."""
    problems: list[str] = []
    loaded: GatewayConfig | None
    try:
        loaded = load_config(config_path(config))
    except ConfigError as err:
        problems += [str(problem) for problem in (err, *err.more)]
        loaded = err.partial  # what could be read is checked further
    if loaded is not None and state_dir is not None:
        loaded = dataclasses.replace(loaded, state_dir=state_dir)
    fleet = None
    if loaded is not None:
        problems += preflight(loaded)
        try:
            fleet = provisioning(loaded).load()
        except (MetersFileError, KeyFileError) as err:
            problems.append(str(err))
    if not problems and loaded is not None:
        _print_settings(loaded)
    if problems:
        # plain lines on stderr, never wrapped nor read as markup: each can be grepped and pasted
        heading = "1 problem:" if len(problems) == 1 else f"{len(problems)} problems:"
        typer.echo(f"error: {heading}", err=True)
        for problem in problems:
            typer.echo(f"  {problem}", err=True)
        raise typer.Exit(1)
    assert fleet is not None
    keyless = sum(1 for meter_id in fleet.meters if meter_id not in fleet.keys)
    orphan_keys = sum(1 for meter_id in fleet.keys if meter_id not in fleet.meters)
    console.print(
        f"[green]OK[/]: {len(fleet.meters)} meters provisioned, {len(fleet.keys)} keys"
        f" ({keyless} meters without a key, {orphan_keys} keys of unprovisioned meters)"
    )


def _print_settings(loaded: GatewayConfig) -> None:
    table = Table(title=f"configuration: {loaded.origin or 'embedded default'}", show_header=False)
    table.add_column("key", style="cyan")
    table.add_column("value")
    for key, value in iter_keys(loaded):
        table.add_row(Text(key), Text(str(value)))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
