"""``wmbus-gateway watch``: what reaches the broker, one readable line a message.

A technician's (and ``./run``'s) view from the broker's side: readings, monthly indexes, events and the
gateways' status as the billing backend receives them, not as the gateway meant to send them.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Annotated, Any

import aiomqtt
import typer

from gateway import json_codec
from gateway.cli.common import fail
from gateway.daemon.pipeline import format_publication
from gateway.publication import Publication
from gateway.uplink.broker import BrokerError, BrokerSettings, redacted
from gateway.uplink.topics import DEFAULT_PREFIX, MessageKind, TopicError, parse_topic

METER_KINDS = {MessageKind.READING, MessageKind.MONTHLY, MessageKind.EVENT}


def describe(topic: str, payload: bytes, prefix: str = DEFAULT_PREFIX) -> str | None:
    """One line for a message on one of the gateway's topics; None for another topic or a cleared one."""
    try:
        parsed = parse_topic(topic, prefix)
    except TopicError:
        return None
    if not payload:
        return None  # an empty retained message clears a topic
    try:
        body: Any = json_codec.loads(payload)
    except ValueError:
        return f"{parsed.kind.value:<8} {parsed.gateway}  (not JSON: {len(payload)} bytes)"
    if not isinstance(body, dict):
        return f"{parsed.kind.value:<8} {parsed.gateway}  (not a JSON object)"
    if parsed.kind in METER_KINDS and parsed.meter_id is not None:
        return format_publication(Publication(parsed.kind.value, parsed.meter_id, body, parsed.month))
    if parsed.kind is MessageKind.STATUS:
        coverage = body.get("coverage") or {}
        share = coverage.get("read_ratio") if isinstance(coverage, dict) else None
        text = f"status   {parsed.gateway} {body.get('state')}"
        if isinstance(share, int | float):
            text += f"  {share:.0%} of the meters read this month"
        return text
    return f"{parsed.kind.value:<8} {parsed.gateway}  {len(payload)} bytes"


async def watch_broker(
    settings: BrokerSettings, prefix: str, gateway: str, count: int | None, duration: float | None
) -> int:
    """Print the gateway messages the broker delivers; how many meter messages were printed."""
    printed = 0
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(
            aiomqtt.Client(
                settings.host,
                settings.port,
                username=settings.user,
                password=settings.password(),
                tls_context=settings.tls_context(),
                protocol=aiomqtt.ProtocolVersion.V311,
                timeout=10,
            )
        )
        await client.subscribe(f"{prefix}/{gateway}/#", qos=1)
        async with asyncio.timeout(duration):
            async for message in client.messages:
                payload = message.payload if isinstance(message.payload, bytes) else b""
                line = describe(str(message.topic), payload, prefix)
                if line is None:
                    continue
                print(line, flush=True)
                if not str(message.topic).endswith("/status"):
                    printed += 1
                if count is not None and printed >= count:
                    break
    return printed


def watch(
    *,
    mqtt: Annotated[str, typer.Option("--mqtt", help="Broker: mqtt://host:1883 or mqtts://host:8883.")],
    username: Annotated[str | None, typer.Option(help="MQTT user name.")] = None,
    password_file: Annotated[
        Path | None, typer.Option("--password-file", help="File holding the MQTT password.")
    ] = None,
    ca_file: Annotated[Path | None, typer.Option("--ca-file", help="CA certificate for mqtts.")] = None,
    prefix: Annotated[str, typer.Option(help="Topic prefix the gateways publish under.")] = DEFAULT_PREFIX,
    gateway: Annotated[str, typer.Option(help="Only this gateway id (default: every gateway).")] = "+",
    count: Annotated[
        int | None, typer.Option(help="Stop after this many readings, indexes and events.", min=1)
    ] = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.", min=0.0)] = None,
) -> None:
    """Print what reaches the broker from the gateways: readings, monthly indexes, events, status."""
    try:
        settings = BrokerSettings(mqtt, username=username, password_file=password_file, ca_file=ca_file)
        asyncio.run(watch_broker(settings, prefix, gateway, count, duration))
    except BrokerError as err:
        fail(str(err))
    except aiomqtt.MqttError as err:
        fail(f"broker {redacted(mqtt)}: {err}")
    except TimeoutError:
        pass  # --duration ended it
    except KeyboardInterrupt:
        sys.exit(130)


def register(app: typer.Typer) -> None:
    app.command("watch")(watch)
