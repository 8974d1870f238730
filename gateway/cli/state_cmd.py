"""``wmbus-gateway state``: look after the billing state database (repair times from the far future)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from gateway.billing.repair import repair
from gateway.cli.common import ConfigOption, StateDirOption, console, fail, settings
from gateway.cli.status import open_state

state_app = typer.Typer(help="Look after the billing state database.", no_args_is_help=True)


@state_app.command("repair")
def repair_(
    config: ConfigOption = None,
    state_dir: StateDirOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be removed; change nothing.")
    ] = False,
) -> None:
    """Remove times before 2000 or ahead of the system clock (gateway.max_clock_ahead_s) from the state.

    Stop the daemon first: it holds the state open.
    """
    loaded = settings(config, state_dir)
    store = open_state(loaded)
    if store is None:
        fail(f"no state database at {loaded.state_db_path}")
    try:
        latest = datetime.now(UTC) + timedelta(seconds=loaded.max_clock_ahead_s)
        report = repair(store, latest, dry_run=dry_run)
    finally:
        store.close()
    if not report.removed:
        console.print(f"{loaded.state_db_path}: nothing to repair")
        return
    verb = "would remove" if dry_run else "removed"
    console.print(
        f"{loaded.state_db_path}: {verb} {len(report.removed)} implausible time(s):", highlight=False
    )
    for line in report.removed:
        console.print(f"  {line}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(state_app, name="state")
