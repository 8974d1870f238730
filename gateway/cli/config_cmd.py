"""``wmbus-gateway config check``: validate the configuration, the meters file and the keys file."""

from __future__ import annotations

import typer
from rich.table import Table

from gateway.billing.meters import MetersFileError
from gateway.cli.common import ConfigOption, StateDirOption, console, fail, provisioning, settings
from gateway.daemon.config import iter_keys
from gateway.keys import KeyFileError

config_app = typer.Typer(help="Check the configuration.", no_args_is_help=True)


@config_app.command("check")
def check(config: ConfigOption = None, state_dir: StateDirOption = None) -> None:
    """Validate the configuration file (errors name the key and the line), the meters and the keys."""
    loaded = settings(config, state_dir)
    try:
        fleet = provisioning(loaded).load()
    except (MetersFileError, KeyFileError) as err:
        fail(str(err))
    table = Table(title=f"configuration: {loaded.origin or 'embedded default'}", show_header=False)
    table.add_column("key", style="cyan")
    table.add_column("value")
    for key, value in iter_keys(loaded):
        table.add_row(key, str(value))
    console.print(table)
    keyless = sum(1 for meter_id in fleet.meters if meter_id not in fleet.keys)
    orphan_keys = sum(1 for meter_id in fleet.keys if meter_id not in fleet.meters)
    console.print(
        f"[green]OK[/]: {len(fleet.meters)} meters provisioned, {len(fleet.keys)} keys"
        f" ({keyless} meters without a key, {orphan_keys} keys of unprovisioned meters)"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
