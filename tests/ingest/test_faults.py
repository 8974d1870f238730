"""What a fault run found in the ingester (issue 16), against real mosquitto and VictoriaMetrics."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from gateway.ingest.deadletters import DeadLetters
from tests.ingest.test_ingester import _with, ingesting, messages_of, publish_raw, wait_points
from tests.servers import Mosquitto, VictoriaMetrics
from tests.uplink.helpers import reading_publication


async def test_line_protocol_injection_is_refused_not_stored(
    mosquitto: Mosquitto, victoria_metrics: VictoriaMetrics, caplog: pytest.LogCaptureFixture
) -> None:
    # A newline in a tag value once ended the line and started a series of the sender's choosing.
    good = messages_of("gwA", [reading_publication("44444444", 1)])
    topic, payload = good[0]
    evil = [
        (topic, _with(payload, manufacturer="KAM\ninjected_total value=1 1700000000000")),
        (topic, _with(payload, medium="water\rinjected_cr value=1")),
        (topic, _with(payload, **{"flow\ninjected_key value=1": 1.0})),
        (topic, _with(payload, medium="water\tinjected_tab=1")),
        # Meter ids from the topic and the document follow the documented pattern (8 hex digits).
        ("wmbus/gwA/meters/4444 4444,x=1/reading", _with(payload, meter_id=None)),
        (topic, _with(payload, meter_id="4" * 5000)),
        # (mosquitto itself refuses control characters in topics: the gateway level is safe that way.)
        ("wmbus/gw A,x=1/meters/44444444/reading", _with(payload, gateway=None)),
    ]
    caplog.set_level(logging.WARNING, "gateway.ingest.ingester")
    async with ingesting(mosquitto, victoria_metrics) as ingester:
        await publish_raw(mosquitto, evil + good)
        await wait_points(ingester, 2)
        async with asyncio.timeout(5):
            while ingester.stats.messages < len(evil) + 1:
                await asyncio.sleep(0.02)
    assert ingester.stats.malformed == len(evil)
    names = {series["metric"]["__name__"] for series in victoria_metrics.export()}  # type: ignore[index]
    assert not [name for name in names if "injected" in name]
    labels = [series["metric"] for series in victoria_metrics.export('{meter=~".+"}')]
    assert all(label["meter"] == "44444444" for label in labels)  # type: ignore[index]
    assert all("\n" not in json.dumps(label) for label in labels)
    assert len(victoria_metrics.samples('wmbus_reading_total_m3{meter="44444444"}')) == 1


def _huge_reading(payload: bytes, fields: int) -> bytes:
    return _with(payload, **{f"extra_{n}": float(n) for n in range(fields)})


async def test_a_message_the_store_refuses_is_dead_lettered_and_the_rest_flow(
    mosquitto: Mosquitto, victoria_metrics: VictoriaMetrics, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # 60,000 fields make a line over VictoriaMetrics' 256 KiB: HTTP 400 for the whole batch, which the
    # ingester once retried for ever, acknowledging nothing after it (across restarts too).
    before = messages_of("gwA", [reading_publication("71000001", n) for n in range(20)])
    after = messages_of("gwA", [reading_publication("71000002", n) for n in range(20)])
    topic, payload = before[0]
    huge = (topic.replace("71000001", "71000003"), _huge_reading(_with(payload, meter_id="71000003"), 60_000))
    dead = DeadLetters(tmp_path / "dead-letters.db")
    caplog.set_level(logging.WARNING, "gateway.ingest.ingester")
    # The size limit raised so that the store itself refuses (the split is what is tested here).
    async with ingesting(
        mosquitto, victoria_metrics, dead_letters=dead, max_payload_bytes=10_000_000, batch_max_delay_s=0.5
    ) as ingester:
        await publish_raw(mosquitto, [*before, huge, *after])
        await wait_points(ingester, 2 * 40, timeout_s=30)
        async with asyncio.timeout(10):
            while ingester.stats.messages < 41:
                await asyncio.sleep(0.02)
    assert ingester.stats.dead_letters == 1
    assert [(t, reason.startswith("store refused")) for t, _, reason in dead.entries()] == [(huge[0], True)]
    assert dead.entries()[0][1] == huge[1]
    assert len(victoria_metrics.samples('wmbus_reading_total_m3{meter=~"7100000[12]"}')) == 40
    assert not victoria_metrics.samples('wmbus_reading_total_m3{meter="71000003"}')
    assert sum("dead letter" in record.message for record in caplog.records) == 1
    # Everything was acknowledged: the broker gives the same session nothing again.
    async with ingesting(mosquitto, victoria_metrics, dead_letters=dead) as again:
        await asyncio.sleep(1.0)
    assert again.stats.messages == 0


async def test_a_payload_over_the_limit_is_refused_up_front(
    mosquitto: Mosquitto, victoria_metrics: VictoriaMetrics, tmp_path: Path
) -> None:
    good = messages_of("gwA", [reading_publication("72000001", n) for n in range(3)])
    topic, payload = good[0]
    huge = (topic, _huge_reading(payload, 60_000))
    dead = DeadLetters(tmp_path / "dead-letters.db")
    async with ingesting(mosquitto, victoria_metrics, dead_letters=dead) as ingester:
        await publish_raw(mosquitto, [huge, *good])
        await wait_points(ingester, 6)
    assert ingester.stats.write_failures == 0  # never sent to the store
    assert ingester.stats.dead_letters == 1
    assert "over the limit" in dead.entries()[0][2]


async def test_store_down_is_retried_not_dead_lettered(
    mosquitto: Mosquitto, victoria_metrics: VictoriaMetrics, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    items = messages_of("gwA", [reading_publication("73000001", n) for n in range(5)])
    dead = DeadLetters(tmp_path / "dead-letters.db")
    caplog.set_level(logging.INFO, "gateway.ingest.ingester")
    victoria_metrics.stop()
    async with ingesting(mosquitto, victoria_metrics, dead_letters=dead, retry_max_s=0.5) as ingester:
        await publish_raw(mosquitto, items)
        async with asyncio.timeout(10):
            while ingester.stats.write_failures < 3:
                await asyncio.sleep(0.05)
        victoria_metrics.start()
        await wait_points(ingester, 10, timeout_s=20)
    assert ingester.stats.dead_letters == 0 and len(dead) == 0
    assert len(victoria_metrics.samples('wmbus_reading_total_m3{meter="73000001"}')) == 5
    refused = [r for r in caplog.records if "store write failed" in r.message]
    assert len(refused) == 1 and refused[0].levelno == logging.ERROR  # once, not once per retry
    assert sum("store accepts writes again" in r.message for r in caplog.records) == 1


async def test_broker_outage_is_one_error_and_one_recovery_line(
    mosquitto: Mosquitto, victoria_metrics: VictoriaMetrics, caplog: pytest.LogCaptureFixture
) -> None:
    # The ingester said nothing when it reconnected, while paho repeated "failed to receive on socket".
    caplog.set_level(logging.DEBUG)
    async with ingesting(mosquitto, victoria_metrics, retry_max_s=0.3) as ingester:
        mosquitto.stop()
        async with asyncio.timeout(10):
            while ingester.stats.last_error is None:
                await asyncio.sleep(0.05)
        await asyncio.sleep(3.0)  # ten or so attempts to reconnect
        mosquitto.start()
        async with asyncio.timeout(15):
            while ingester.stats.connects < 2:
                await asyncio.sleep(0.05)
        await publish_raw(mosquitto, messages_of("gwA", [reading_publication("74000001", 1)]))
        await wait_points(ingester, 2)
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(loud) == 1, [r.getMessage() for r in loud]
    assert "broker" in loud[0].getMessage() and loud[0].name == "gateway.ingest.ingester"
    back = [r.getMessage() for r in caplog.records if "connected again" in r.getMessage()]
    assert len(back) == 1 and "after" in back[0]
