"""What a fault run found in the ingester (issue 16), against real mosquitto and VictoriaMetrics."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

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
