"""Head-end mode: a keyless gateway's raw telegrams, billed at the head-end, give the same billing output."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.billing.dedup import Deduplicator
from gateway.billing.meters import Fleet, MeterEntry
from gateway.billing.processor import ReadingProcessor
from gateway.billing.settings import BillingSettings
from gateway.billing.state import StateStore
from gateway.clock import ManualClock
from gateway.daemon.pipeline import Pipeline
from gateway.frame import ReceivedFrame
from gateway.ingest.headend import HeadEnd
from gateway.ingest.ingester import Ingester, IngestSettings
from gateway.ingest.lineproto import MONTHLY, RECEPTION, PayloadError, lines_for
from gateway.ingest.sink import InfluxSink
from gateway.keys import KeyStore
from gateway.publication import Publication
from gateway.radio.simulator.fleet import SimulatedFleet
from gateway.uplink.broker import BrokerSettings
from gateway.uplink.messages import OutboundMessage, publication_message, raw_message
from gateway.uplink.topics import MessageKind, Topics, parse_topic
from tests.ingest.test_ingester import publish_raw
from tests.servers import Mosquitto, VictoriaMetrics

TZ = ZoneInfo("Europe/Rome")
START = datetime(2026, 9, 28, tzinfo=UTC)  # six days across the 1 October cut-off
TOPICS = Topics("gw1")


def fleet_and_frames() -> tuple[SimulatedFleet, list[ReceivedFrame]]:
    fleet = SimulatedFleet(
        seed=5, meter_count=6, clock=ManualClock(START), start=START, tz=TZ, interval_scale=30, fast_meters=0
    )
    frames = [
        ReceivedFrame(tx.data, tx.link_mode, tx.rssi_dbm, tx.at, "sim")
        for tx in fleet.transmissions(START + timedelta(days=6))
    ]
    return fleet, frames


def processor(path: Path) -> ReadingProcessor:
    return ReadingProcessor(StateStore(path), BillingSettings(), TZ)


def keyed_gateway_points(fleet: SimulatedFleet, frames: list[ReceivedFrame], tmp: Path) -> list[str]:
    """The normal mode: the gateway holds the keys and publishes readings, indexes and events."""
    published: list[Publication] = []
    meters = {m.meter_id: MeterEntry(m.meter_id, m.decoder) for m in fleet.meters}
    pipeline = Pipeline(
        Fleet(meters, KeyStore(fleet.keys())), Deduplicator(120), processor(tmp / "a.db"), published.append
    )
    for frame in frames:
        pipeline.handle(frame)
    points: list[str] = []
    for publication in published:
        message = publication_message(TOPICS, publication)
        points += lines_for(parse_topic(message.topic), json.loads(message.payload))
    return points


def keyless_gateway_raw(frames: list[ReceivedFrame], tmp: Path) -> list[OutboundMessage]:
    """Head-end mode on the gateway: no meters, no keys; every telegram heard goes out raw."""
    raws: list[OutboundMessage] = []

    def publish_raw(frame: ReceivedFrame, meter_id: str, manufacturer: str) -> None:
        raws.append(raw_message(TOPICS, frame, meter_id=meter_id, manufacturer=manufacturer))

    pipeline = Pipeline(
        Fleet({}, KeyStore()),
        Deduplicator(120),
        processor(tmp / "b.db"),
        lambda _: None,
        publish_raw=publish_raw,
    )
    for frame in frames:
        pipeline.handle(frame)
    return raws


def billing_points(points: list[str]) -> list[str]:
    return sorted(point for point in points if not point.startswith(RECEPTION))


def test_billing_output_is_the_same_in_both_modes(tmp_path: Path) -> None:
    fleet, frames = fleet_and_frames()
    keyed = keyed_gateway_points(fleet, frames, tmp_path)
    raws = keyless_gateway_raw(frames, tmp_path)
    assert all(b"telegram" in raw.payload and raw.kind is MessageKind.RAW for raw in raws)
    meters = {m.meter_id: m.decoder for m in fleet.meters}
    headend = HeadEnd(KeyStore(fleet.keys()), processor(tmp_path / "h.db"), decoders=meters)
    headend_points: list[str] = []
    for raw in raws:
        headend_points += headend.lines_for_raw(parse_topic(raw.topic), json.loads(raw.payload))
    assert billing_points(keyed) == billing_points(headend_points)
    # Not trivially equal: readings of every meter and the September index of each were produced.
    assert sum(point.startswith(MONTHLY) for point in keyed) >= len(fleet.meters)
    assert len(billing_points(keyed)) > 250
    assert not any(key.hex() in raw.payload.decode().lower() for raw in raws for key in fleet.keys().values())


async def test_headend_ingester_stores_what_the_keyed_gateway_would(
    mosquitto: Mosquitto, victoria_metrics: VictoriaMetrics, tmp_path: Path
) -> None:
    fleet, frames = fleet_and_frames()
    keyed = keyed_gateway_points(fleet, frames, tmp_path)
    expected_index = sorted(point.split(" ")[1] for point in keyed if point.startswith(MONTHLY))
    raws = keyless_gateway_raw(frames, tmp_path)
    headend = HeadEnd(
        KeyStore(fleet.keys()),
        processor(tmp_path / "h.db"),
        decoders={m.meter_id: m.decoder for m in fleet.meters},
    )
    sink = InfluxSink(victoria_metrics.url, "wmbus")
    ingester = Ingester(
        BrokerSettings(mosquitto.url),
        sink,
        IngestSettings(client_id="headend", batch_max_delay_s=0.05),
        raw_handler=headend.lines_for_raw,
    )
    task = asyncio.create_task(ingester.run())
    try:
        await asyncio.wait_for(ingester.subscribed.wait(), 10)
        await publish_raw(mosquitto, [(raw.topic, raw.payload) for raw in raws])
        async with asyncio.timeout(20):
            while ingester.stats.messages < len(raws):
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sink.close()
    assert ingester.stats.malformed == 0
    stored = victoria_metrics.samples("wmbus_monthly_index_m3")
    keyed_index = sorted(
        float(field.split("=")[1])
        for fields in expected_index
        for field in fields.split(",")
        if field.startswith("index_m3=")
    )
    assert sorted(value for _, value, _ in stored) == keyed_index


def test_a_raw_message_from_year_9999_is_refused_and_bills_nothing(tmp_path: Path) -> None:
    # One /raw message stamped 9999-12-31 once closed every month up to year 9999 and bricked the state.
    fleet, frames = fleet_and_frames()
    raws = keyless_gateway_raw(frames, tmp_path)
    meters = {m.meter_id: m.decoder for m in fleet.meters}
    headend = HeadEnd(KeyStore(fleet.keys()), processor(tmp_path / "h.db"), decoders=meters)
    first = json.loads(raws[0].payload)
    for stamp in ("9999-12-31T23:00:00+00:00", "1999-12-31T00:00:00+00:00"):
        with pytest.raises(PayloadError, match="implausible received_at"):
            headend.lines_for_raw(parse_topic(raws[0].topic), {**first, "received_at": stamp})
    assert headend.implausible_times == 2
    points: list[str] = []
    for raw in raws:
        points += headend.lines_for_raw(parse_topic(raw.topic), json.loads(raw.payload))
    months = {point.split(" ")[0] for point in points if point.startswith(MONTHLY)}
    assert months and headend.processor.store.get_meta("processor.last_cutoff") == "2026-09"
    headend.processor.commit()
    assert processor(tmp_path / "h.db") is not None  # a restart opens the state
