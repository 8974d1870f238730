"""``wmbus-gateway run``: the daemon; with no configuration, the simulated radio printing readings."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

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
from gateway.daemon.runner import Daemon, RunOptions
from gateway.keys import KeyFileError
from gateway.uplink.metrics_http import MetricsAddressError, parse_listen

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
    )
    daemon = Daemon(loaded, options, printer=_print_line)
    code = 0
    try:
        code = asyncio.run(daemon.run())
    except (KeyFileError, MetersFileError, StateStoreError, ConfigError) as err:
        fail(str(err))
    except KeyboardInterrupt:  # a second Ctrl-C while stopping
        pass
    common.console.print(f"[dim]stopped: {daemon.summary()}[/]", highlight=False)
    if code:
        raise typer.Exit(code)


def _print_line(line: str) -> None:
    print(line, flush=True)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
