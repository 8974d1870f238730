"""``wmbus-gateway config check``: the configuration, the meters and keys files, and what they name.

Every problem is listed at once, in plain text (a message naming ``[[radio]]`` prints as written).
"""

from __future__ import annotations

import typer
from rich.table import Table
from rich.text import Text

from gateway.billing.meters import MetersFileError
from gateway.cli.common import ConfigOption, StateDirOption, console, fail, provisioning, settings
from gateway.daemon.config import iter_keys
from gateway.daemon.preflight import preflight
from gateway.keys import KeyFileError

config_app = typer.Typer(help="Check the configuration.", no_args_is_help=True)


@config_app.command("check")
def check(config: ConfigOption = None, state_dir: StateDirOption = None) -> None:
    """Validate the configuration (errors name key and line), the meters and keys, devices and files."""
    loaded = settings(config, state_dir)
    problems: list[str] = []
    fleet = None
    try:
        fleet = provisioning(loaded).load()
    except (MetersFileError, KeyFileError) as err:
        problems.append(str(err))
    problems += preflight(loaded)
    table = Table(title=f"configuration: {loaded.origin or 'embedded default'}", show_header=False)
    table.add_column("key", style="cyan")
    table.add_column("value")
    for key, value in iter_keys(loaded):
        table.add_row(Text(key), Text(str(value)))
    console.print(table)
    if problems:
        fail(f"{len(problems)} problems:\n" + "\n".join(problems) if len(problems) > 1 else problems[0])
    assert fleet is not None
    keyless = sum(1 for meter_id in fleet.meters if meter_id not in fleet.keys)
    orphan_keys = sum(1 for meter_id in fleet.keys if meter_id not in fleet.meters)
    console.print(
        f"[green]OK[/]: {len(fleet.meters)} meters provisioned, {len(fleet.keys)} keys"
        f" ({keyless} meters without a key, {orphan_keys} keys of unprovisioned meters)"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
