"""``wmbus-gateway run``: the daemon; with no configuration, the simulated radio printing readings."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gateway import __version__
from gateway.billing.meters import MetersFileError
from gateway.billing.state import StateStoreError
from gateway.cli import common
from gateway.cli.common import (
    ConfigOption,
    LogFormatOption,
    LogLevelOption,
    StateDirOption,
    config_origin,
    fail,
    settings,
)
from gateway.cli.logs import LogFormat, configure_logging
from gateway.daemon.config import ConfigError, check_mqtt_url
from gateway.daemon.runner import Daemon, DeliveryProgress, RunOptions
from gateway.keys import KeyFileError
from gateway.uplink.metrics_http import MetricsAddressError, parse_listen

if TYPE_CHECKING:
    from rich.progress import Progress

log = logging.getLogger("gateway.run")


def run(
    *,
    config: ConfigOption = None,
    state_dir: StateDirOption = None,
    mqtt: Annotated[
        str | None,
        typer.Option("--mqtt", help="Publish to this broker: mqtt://host:1883 or mqtts://host:8883."),
    ] = None,
    speed: Annotated[
        float | None, typer.Option(help="Simulated radio: simulated seconds per real second.", min=0.001)
    ] = None,
    replay: Annotated[
        Path | None,
        typer.Option(
            help="Process a recording (rtl_wmbus lines with times) as fast as possible, then stop; "
            "a recording replayed before continues where the state stopped."
        ),
    ] = None,
    from_start: Annotated[
        bool,
        typer.Option(
            "--from-start",
            help="With --replay: replay the whole recording, not only what follows where the state stopped.",
        ),
    ] = False,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.", min=0.0)] = None,
    metrics: Annotated[
        str | None,
        typer.Option(
            "--metrics",
            help="Serve Prometheus /metrics on HOST:PORT (e.g. 127.0.0.1:9464); "
            "default: the configuration's [metrics] listen, else off.",
        ),
    ] = None,
    ha_discovery: Annotated[
        bool | None,
        typer.Option(
            "--ha-discovery/--no-ha-discovery",
            help="Publish Home Assistant MQTT discovery configs (default: [homeassistant] discovery).",
        ),
    ] = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait/--no-wait",
            help="With --replay: exit only once the broker has every message of the outbox (default), "
            "showing progress; --no-wait leaves what is not sent in the outbox for the next start.",
        ),
    ] = True,
    log_level: LogLevelOption = None,
    log_format: LogFormatOption = LogFormat.AUTO,
) -> None:
    """Run the gateway until Ctrl-C / SIGTERM (SIGHUP reloads meters, keys and configuration)."""
    if mqtt is not None:
        try:
            check_mqtt_url(mqtt)
        except ConfigError as err:
            fail(f"--mqtt {err.message}")
    if replay is not None and not replay.is_file():
        fail(f"--replay {replay}: no such file")
    loaded = settings(config, state_dir)
    configure_logging(log_level or loaded.log_level, log_format)
    log.info(
        "wmbus-gateway %s: configuration %s, billing zone %s",
        __version__,
        config_origin(loaded, config),
        loaded.timezone_label,
    )
    if metrics is not None:
        try:
            parse_listen(metrics)
        except MetricsAddressError as err:
            fail(f"--metrics {err}")
    options = RunOptions(
        mqtt_url=mqtt, speed=speed, replay=replay, duration_s=duration,
        metrics_listen=metrics,
        ha_discovery=ha_discovery,
        from_start=from_start,
        wait_for_delivery=wait,
    )
    bar = DeliveryBar() if replay is not None and sys.stderr.isatty() else None
    daemon = Daemon(loaded, options, printer=_print_line, on_delivery=bar)
    code = 0
    try:
        code = asyncio.run(daemon.run())
    except (KeyFileError, MetersFileError, StateStoreError, ConfigError) as err:
        fail(str(err))
    except KeyboardInterrupt:  # a second Ctrl-C while stopping
        pass
    finally:
        if bar is not None:
            bar.close()
    common.console.print(f"[dim]stopped: {daemon.summary()}[/]", highlight=False)
    if code:
        raise typer.Exit(code)


class DeliveryBar:
    """A progress bar on the terminal while a replay's outbox drains to the broker."""

    def __init__(self) -> None:
        self._progress: Progress | None = None
        self._task: Any = None

    def __call__(self, progress: DeliveryProgress) -> None:
        total = progress.delivered + progress.pending
        if self._progress is None:
            # rich's progress module only when a bar is shown (the daemon's memory stays small)
            from rich.console import Console  # noqa: PLC0415
            from rich.progress import (  # noqa: PLC0415
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("delivering the replay"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("deliver", total=total, rate="")
        assert self._task is not None
        rate = f"{progress.delivered / max(progress.elapsed_s, 1e-6):,.0f} messages/s"
        self._progress.update(self._task, completed=progress.delivered, total=total, rate=rate)
        if progress.finished:
            self.close()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def _print_line(line: str) -> None:
    print(line, flush=True)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
