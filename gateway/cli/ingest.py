"""``wmbus-gateway ingest``: the backend side, from MQTT into InfluxDB or VictoriaMetrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from gateway import __version__
from gateway.cli.common import LogFormatOption, console, fail
from gateway.cli.logs import LogFormat, LogLevel, configure_logging
from gateway.clock import machine_timezone
from gateway.ingest.deadletters import DeadLetters
from gateway.ingest.ingester import Ingester, IngestSettings, RawHandler, default_client_id
from gateway.ingest.metrics import ingest_registry
from gateway.ingest.sink import InfluxSink, read_token
from gateway.uplink.broker import BrokerError, BrokerSettings, Protocol
from gateway.uplink.metrics_http import MetricsAddressError, MetricsServer, parse_listen
from gateway.uplink.topics import DEFAULT_PREFIX

log = logging.getLogger("gateway.ingest")


def ingest(
    *,
    mqtt: Annotated[str, typer.Option("--mqtt", help="Broker: mqtt://host:1883 or mqtts://host:8883.")],
    influx_url: Annotated[
        str,
        typer.Option("--influx-url", help="InfluxDB 2/3 or VictoriaMetrics URL, e.g. http://localhost:8428."),
    ],
    bucket: Annotated[str, typer.Option(help="Bucket (InfluxDB); VictoriaMetrics ignores it.")],
    org: Annotated[str, typer.Option(help="Organisation (InfluxDB 2).")] = "",
    token_file: Annotated[
        Path | None, typer.Option("--token-file", help="File holding the store's API token.")
    ] = None,
    keys: Annotated[
        Path | None,
        typer.Option(
            help="Head-end mode: AES keys file (TOML); decrypt raw telegrams from keyless gateways."
        ),
    ] = None,
    meters: Annotated[
        Path | None,
        typer.Option(help="Head-end mode: the meters file (each meter's decoder), as on a gateway."),
    ] = None,
    state: Annotated[
        Path, typer.Option(help="Head-end mode: billing state database (monthly indexes, alarms).")
    ] = Path("headend-state.db"),
    dead_letters: Annotated[
        Path | None,
        typer.Option(
            "--dead-letters",
            help="SQLite file keeping messages the store refuses for good (default: beside --state).",
        ),
    ] = None,
    max_payload: Annotated[
        int,
        typer.Option("--max-payload", help="Refuse (dead-letter) payloads over this many bytes.", min=1024),
    ] = 64 * 1024,
    timezone: Annotated[
        str | None,
        typer.Option(
            help="Billing time zone (head-end cut-offs) and zone of meter clocks. Default: the machine's."
        ),
    ] = None,
    prefix: Annotated[str, typer.Option(help="Topic prefix the gateways publish under.")] = DEFAULT_PREFIX,
    group: Annotated[
        str, typer.Option(help="Shared-subscription group: ingesters in one group split the load.")
    ] = ("wmbus-ingest"),
    client_id: Annotated[
        str | None,
        typer.Option("--client-id", help="Stable MQTT client id (default: wmbus-ingest-HOSTNAME)."),
    ] = None,
    username: Annotated[str | None, typer.Option(help="MQTT user name.")] = None,
    password_file: Annotated[
        Path | None, typer.Option("--password-file", help="File holding the MQTT password.")
    ] = (None),
    ca_file: Annotated[
        Path | None, typer.Option("--ca-file", help="CA certificate for the broker (TLS).")
    ] = None,
    cert_file: Annotated[Path | None, typer.Option("--cert-file", help="Client certificate (TLS).")] = None,
    key_file: Annotated[
        Path | None, typer.Option("--key-file", help="Client certificate's key (TLS).")
    ] = None,
    protocol: Annotated[
        Protocol, typer.Option(help="MQTT version: auto tries 5, then 3.1.1.")
    ] = Protocol.AUTO,
    shared: Annotated[
        bool,
        typer.Option(
            help="Split the load with the other ingesters of --group (MQTT 5 shared subscription); "
            "see docs/timeseries.md for what a broker restart costs then."
        ),
    ] = False,
    batch_lines: Annotated[int, typer.Option(help="Write at most this many points per batch.", min=1)] = 5000,
    batch_delay: Annotated[
        float, typer.Option(help="Write a batch at the latest after this many seconds.")
    ] = 0.2,
    log_level: Annotated[LogLevel, typer.Option(help="debug, info, warning or error.")] = LogLevel.INFO,
    log_format: LogFormatOption = LogFormat.AUTO,
    metrics: Annotated[
        str | None,
        typer.Option("--metrics", help="Serve Prometheus /metrics on HOST:PORT (e.g. 127.0.0.1:9465)."),
    ] = None,
) -> None:
    """Store readings, monthly indexes and events of every gateway; acknowledge MQTT after the write."""
    configure_logging(log_level, log_format)
    metrics_address = None
    if metrics is not None:
        try:
            metrics_address = parse_listen(metrics)
        except MetricsAddressError as err:
            fail(f"--metrics {err}")
    zone_name = timezone or machine_timezone()
    try:
        tz = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        fail(f"--timezone {zone_name!r} is not a known time zone")
    log.info(
        "wmbus-gateway %s ingest: zone %s (%s)",
        __version__,
        zone_name,
        "--timezone" if timezone else "the machine's",
    )
    try:
        broker = BrokerSettings(
            mqtt,
            username=username,
            password_file=password_file,
            ca_file=ca_file,
            cert_file=cert_file,
            key_file=key_file,
            protocol=protocol,
        )
        token = read_token(token_file)
    except BrokerError as err:
        fail(str(err))
    except OSError as err:
        fail(f"--token-file: {err}")
    raw_handler: RawHandler | None = None
    if keys is not None:
        from gateway.ingest.headend import HeadEnd, HeadEndError  # noqa: PLC0415 (only head-end mode needs it)

        try:
            raw_handler = HeadEnd.open(keys, state, tz, meters_path=meters).lines_for_raw
        except HeadEndError as err:
            fail(str(err))
    settings = IngestSettings(
        prefix=prefix,
        group=group,
        shared=shared,
        client_id=client_id or default_client_id(),
        batch_max_lines=batch_lines,
        batch_max_delay_s=batch_delay,
        meter_tz=tz,
        max_payload_bytes=max_payload,
    )
    dead_path = dead_letters or state.parent / "dead-letters.db"
    try:
        dead = DeadLetters(dead_path)
    except sqlite3.Error as err:
        fail(f"--dead-letters {dead_path}: {err}")
    sink = InfluxSink(influx_url, bucket, org=org, token=token)
    ingester = Ingester(broker, sink, settings, raw_handler=raw_handler, dead_letters=dead)
    how = f"shared in group {group}" if shared else "plain subscription"
    console.print(
        f"[dim]ingesting {prefix}/+/meters/# from {broker.host}:{broker.port} into {influx_url}"
        f" ({how}, client id {settings.client_id})[/]",
        highlight=False,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(ingester, metrics_address))
    sink.close()
    dead.close()
    stats = ingester.stats
    console.print(
        f"[dim]stopped: {stats.messages} messages, {stats.points} points, {stats.malformed} malformed,"
        f" {stats.dead_letters} dead letters[/]"
    )


async def _serve(ingester: Ingester, metrics_address: tuple[str, int] | None) -> None:
    """Run the ingester, with /metrics beside it when asked (a port that cannot be had: one ERROR line)."""
    server = None
    if metrics_address is not None:
        candidate = MetricsServer(ingest_registry(lambda: ingester.stats), *metrics_address)
        try:
            await candidate.start()
            server = candidate
        except OSError as err:
            log.error("metrics: cannot listen on %s:%d: %s", *metrics_address, err.strerror or err)
    try:
        await ingester.run()
    finally:
        if server is not None:
            await server.stop()


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
