"""Prometheus /metrics of a running gateway: the simulated fleet through a real mosquitto, over HTTP."""

from __future__ import annotations

import asyncio
import logging
import socket
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from gateway.daemon.config import ConfigError, GatewayConfig, parse_config
from gateway.daemon.runner import Daemon, RunOptions
from gateway.uplink.metrics_http import MetricsAddressError, parse_listen
from tests.servers import Mosquitto, free_port


def _scrape(port: int, path: str = "/metrics") -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, "", ""


def _samples(text: str) -> dict[str, list[Sample]]:
    found: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append(sample)
    return found


def _value(samples: dict[str, list[Sample]], name: str, **labels: str) -> float:
    matching = [s.value for s in samples[name] if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(matching) == 1, (name, labels, samples.get(name))
    return matching[0]


def test_a_running_gateway_serves_its_metrics(tmp_path: Path, mosquitto: Mosquitto) -> None:
    port = free_port()
    config = GatewayConfig(state_dir=tmp_path)
    options = RunOptions(mqtt_url=mosquitto.url, speed=120, metrics_listen=f"127.0.0.1:{port}")
    daemon = Daemon(config, options, printer=lambda line: None)

    async def scenario() -> tuple[tuple[int, str, str], tuple[int, str, str]]:
        task = asyncio.create_task(daemon.run())
        await asyncio.wait_for(daemon.ready.wait(), 30)
        for _ in range(200):  # until readings have gone through the broker
            await asyncio.sleep(0.1)
            if daemon.publisher is not None and daemon.publisher.stats.acked >= 10:
                break
        scraped = await asyncio.to_thread(_scrape, port)
        missing = await asyncio.to_thread(_scrape, port, "/nothing")
        daemon.stop()
        assert await task == 0
        return scraped, missing

    (status, content_type, text), (missing_status, _, _) = asyncio.run(scenario())
    assert status == 200
    assert content_type.startswith("text/plain")
    assert missing_status == 404
    samples = _samples(text)
    frames = _value(samples, "wmbus_source_frames_total", source="simulator")
    assert frames > 0
    assert _value(samples, "wmbus_readings_total") > 0
    assert _value(samples, "wmbus_readings_total") + _value(samples, "wmbus_duplicates_total") <= frames
    assert _value(samples, "wmbus_source_health_state", source="simulator", state="learning") + _value(
        samples, "wmbus_source_health_state", source="simulator", state="healthy"
    ) == 1.0
    provisioned = _value(samples, "wmbus_meters_provisioned")
    assert provisioned > 0
    # every provisioned meter is in the histogram's +Inf bucket, those heard within the smallest bound too
    assert _value(samples, "wmbus_meter_last_heard_age_seconds_bucket", le="+Inf") == provisioned
    heard = provisioned - _value(samples, "wmbus_meters_never_heard")
    assert 0 < _value(samples, "wmbus_meter_last_heard_age_seconds_bucket", le="2678400") <= heard
    assert 0.0 <= _value(samples, "wmbus_coverage_ratio", kind="read") <= 1.0
    assert _value(samples, "wmbus_mqtt_connected") == 1.0
    acked = _value(samples, "wmbus_mqtt_acked_messages_total")
    assert acked >= 10
    assert _value(samples, "wmbus_publish_latency_seconds_count") == acked
    assert _value(samples, "wmbus_outbox_max_messages") == config.outbox_max_messages
    assert "wmbus_outbox_messages" in samples


def test_a_taken_port_is_one_error_line_and_the_gateway_runs_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        options = RunOptions(speed=3600, duration_s=1.0, metrics_listen=f"127.0.0.1:{port}")
        daemon = Daemon(GatewayConfig(state_dir=tmp_path), options, printer=lambda line: None)
        with caplog.at_level(logging.WARNING):
            assert asyncio.run(daemon.run()) == 0
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and "metrics" in r.getMessage()]
    assert len(errors) == 1
    assert f"127.0.0.1:{port}" in errors[0].getMessage()
    assert daemon.pipeline.counters.frames > 0


@pytest.mark.parametrize("text", ["9464", "localhost", "127.0.0.1:0x10", "127.0.0.1:70000", ":9464"])
def test_bad_listen_addresses_are_refused(text: str) -> None:
    with pytest.raises(MetricsAddressError):
        parse_listen(text)
    with pytest.raises(ConfigError, match=r"metrics\.listen"):
        parse_config(f'[metrics]\nlisten = "{text}"\n')


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert parse_listen("[::1]:9464") == ("::1", 9464)
    assert parse_config('[metrics]\nlisten = "127.0.0.1:9464"\n').metrics_listen == "127.0.0.1:9464"
    assert parse_config("").metrics_listen is None
