"""``wmbus-gateway listen``: a live survey of meters heard (maker, type, RSSI, encrypted, provisioned?)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from typing import Annotated

import typer
from rich.live import Live
from rich.table import Table

from gateway.billing.meters import MetersFileError
from gateway.cli.common import ConfigOption, StateDirOption, console, fail, provisioning, settings
from gateway.daemon.runner import RunOptions, daemon_clock, effective_config
from gateway.daemon.sources import SourceBuildError, build_source
from gateway.daemon.survey import Survey
from gateway.keys import KeyFileError
from gateway.radio.base import RadioSource, down_reasons, source_settled, source_up

START_WAIT_S = 15.0  # how long the start-up check waits for the sources' first attempt


def survey_table(survey: Survey, limit: int) -> Table:
    """The survey as a table, strongest signal first."""
    rows = sorted(
        survey.meters.values(), key=lambda m: -(m.best_rssi_dbm if m.best_rssi_dbm is not None else -999.0)
    )[:limit]
    provisioned = sum(1 for meter in survey.meters.values() if meter.provisioned)
    table = Table(
        title=f"{len(survey.meters)} meters heard ({provisioned} provisioned), {survey.frames} frames,"
        f" {survey.errors} unreadable"
    )
    for column in (
        "id",
        "maker",
        "type",
        "RSSI dBm",
        "best",
        "encrypted",
        "provisioned",
        "telegrams",
        "last",
    ):
        table.add_column(column)
    for meter in rows:
        rssi = f"{meter.rssi_dbm:.0f}" if meter.rssi_dbm is not None else "-"
        best = f"{meter.best_rssi_dbm:.0f}" if meter.best_rssi_dbm is not None else "-"
        encrypted = {True: "yes", False: "no", None: "?"}[meter.encrypted]
        table.add_row(
            meter.meter_id,
            meter.manufacturer,
            meter.medium,
            rssi,
            best,
            encrypted,
            "[green]yes[/]" if meter.provisioned else "no",
            str(meter.telegrams),
            meter.last_seen.strftime("%H:%M:%S"),
        )
    return table


def listen(
    *,
    config: ConfigOption = None,
    state_dir: StateDirOption = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.", min=0.0)] = None,
    speed: Annotated[
        float | None, typer.Option(help="Simulated radio: simulated seconds per second.")
    ] = None,
    rows: Annotated[int, typer.Option(help="Show at most this many meters.")] = 40,
) -> None:
    """Survey the air: every meter heard, provisioned or not, until Ctrl-C or --duration."""
    loaded = effective_config(settings(config, state_dir), RunOptions(speed=speed))
    try:
        fleet = provisioning(loaded).load()
    except (MetersFileError, KeyFileError) as err:
        fail(str(err))
    survey = Survey(fleet.meters)
    clock = daemon_clock(loaded)
    try:
        sources = [build_source(source, clock, loaded.tz) for source in loaded.sources]
    except SourceBuildError as err:
        fail(str(err))
    with Live(survey_table(survey, rows), console=console, refresh_per_second=2, transient=False) as live:
        down = asyncio.run(
            _listen(sources, survey, duration, lambda: live.update(survey_table(survey, rows)))
        )
    if down:
        fail("no radio source came up: " + "; ".join(down))


async def _listen(
    sources: list[RadioSource], survey: Survey, duration: float | None, refresh: Callable[[], None]
) -> list[str]:
    """Survey until stopped; the reasons of the sources if none of them came up (then it stops at once)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    if duration is not None:
        loop.call_later(duration, stop.set)

    async def consume(source: RadioSource) -> None:
        async for frame in source.frames():
            survey.note(frame)
            await asyncio.sleep(0)

    tasks = [asyncio.create_task(consume(source)) for source in sources]
    done = asyncio.gather(*tasks, return_exceptions=True)
    down: list[str] = []
    checking_until = loop.time() + START_WAIT_S  # until every source is up or failed once
    while not stop.is_set() and not done.done():
        refresh()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1 if checking_until else 0.5)
        if checking_until and (loop.time() > checking_until or all(map(source_settled, sources))):
            checking_until = 0.0
            if not any(map(source_up, sources)):
                down = down_reasons(sources)
                break
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    refresh()
    return down


def register(app: typer.Typer) -> None:
    app.command("listen")(listen)
