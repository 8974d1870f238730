"""The Grafana dashboards in dashboards/: every panel's query against a real VictoriaMetrics.

The time-series dashboard runs on what the ingester wrote from a simulated fleet (through a real
mosquitto); the /metrics dashboard on scrapes of a running gateway and ingester, imported into
VictoriaMetrics as Prometheus text. The README's and docs' example queries run on the same store.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.clock import ManualClock
from gateway.daemon.config import GatewayConfig
from gateway.daemon.runner import Daemon, RunOptions
from gateway.ingest.metrics import ingest_registry
from gateway.publication import Publication
from gateway.radio.simulator import SimulatedFleet
from gateway.uplink.metrics_http import MetricsServer
from tests.ingest.test_ingester import ingesting, messages_of, publish_raw
from tests.servers import Mosquitto, VictoriaMetrics, free_port
from tests.simulated_run import run_fleet

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "dashboards"
SIM_START = datetime(2026, 8, 25, tzinfo=UTC)
SIM_END = datetime(2026, 10, 3, tzinfo=UTC)
GATEWAY = "gwsim"

# Panels that must show data on the simulated fleet (the others must be accepted, and may be empty:
# no flow meter, no open alarm or receiver event need be in a short simulation).
MAIN_TIMESERIES = {
    "Register per meter",
    "Consumption per meter",
    "Monthly index (latest revision)",
    "Coverage: meters read",
    "Meters heard per gateway",
    "Alarm and anomaly events",
}
MAIN_METRICS = {
    "Frames per source",
    "Source connected",
    "Receiver health state",
    "Pipeline",
    "Coverage",
    "Fleet",
    "Last heard age p95",
    "Outbox",
    "MQTT",
    "Ingester throughput",
    "Ingester lag",
}


def load(name: str) -> dict[str, Any]:
    document = json.loads((DASHBOARDS / name).read_text())
    assert isinstance(document, dict)
    return document


def panel_queries(dashboard: Mapping[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """(panel title, expression, instant) of every target of every panel."""
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            yield panel["title"], target["expr"], bool(target.get("instant"))


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """Grafana's variables replaced by concrete values, as Grafana does before it sends a query."""
    out = re.sub(r"\$(__\w+|\w+)", lambda m: values[m.group(1)], expr)
    assert "$" not in out, out
    return out


def query(
    vm: VictoriaMetrics,
    expr: str,
    at: datetime,
    *,
    instant: bool,
    step: str,
    window: timedelta = timedelta(days=30),
) -> list[Any]:
    """The result of an instant or a range query; an HTTP error (a refused query) fails the test."""
    params = {"query": expr}
    if instant:
        params["time"] = f"{at.timestamp():.3f}"
        path = "query"
    else:
        params |= {"start": f"{(at - window).timestamp():.3f}", "end": f"{at.timestamp():.3f}"}
        params["step"] = step
        path = "query_range"
    body = urllib.parse.urlencode(params).encode()
    try:
        with urllib.request.urlopen(f"{vm.url}/api/v1/{path}", body, timeout=30) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as err:
        raise AssertionError(f"{expr!r} refused: {err.code} {err.read().decode()[:300]}") from err
    assert answer["status"] == "success", (expr, answer)
    result = answer["data"]["result"]
    assert isinstance(result, list)
    return result


def label_values(vm: VictoriaMetrics, definition: str) -> list[str]:
    """A Grafana ``label_values(metric, label)`` variable, through the label values API."""
    match = re.fullmatch(r"label_values\((.+), (\w+)\)", definition)
    assert match, definition
    query_string = urllib.parse.urlencode({"match[]": match.group(1), "start": "0"})
    with urllib.request.urlopen(f"{vm.url}/api/v1/label/{match.group(2)}/values?{query_string}") as response:
        values = json.loads(response.read())["data"]
    assert isinstance(values, list)
    return values


def test_dashboards_are_grafana_json() -> None:
    for name in ("wmbus-timeseries.json", "wmbus-metrics.json"):
        dashboard = load(name)
        assert dashboard["uid"] and dashboard["title"] and dashboard["panels"]
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids)), name
        for panel in dashboard["panels"]:
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            refs = [target["refId"] for target in panel["targets"]]
            assert refs and len(refs) == len(set(refs)), panel["title"]
    titles = {panel["title"] for panel in load("wmbus-timeseries.json")["panels"]}
    assert titles >= MAIN_TIMESERIES
    titles = {panel["title"] for panel in load("wmbus-metrics.json")["panels"]}
    assert titles >= MAIN_METRICS


# --------------------------------------------------------------------------------------------------
# The time-series store, filled by the ingester from a simulated fleet


@dataclass
class Filled:
    vm: VictoriaMetrics
    publications: list[Publication]
    at: datetime  # just after the last reading


def simulate(state: Path) -> list[Publication]:
    """Five simulated weeks of eight meters (two month-ends, alarms) on a virtual clock."""
    clock = ManualClock(SIM_START)
    fleet = SimulatedFleet(
        seed=11,
        meter_count=8,
        clock=clock,
        start=SIM_START,
        tz=ZoneInfo("Europe/Rome"),
        alarm_rate_per_year=40.0,
        interval_scale=100.0,  # a telegram every ~1.5 h per meter
    )
    _, published = run_fleet(fleet, state, clock, SIM_END)
    return [p for p in published if p.kind in ("reading", "monthly", "event")]


async def ingest(mosquitto: Mosquitto, vm: VictoriaMetrics, publications: list[Publication]) -> None:
    messages = messages_of(GATEWAY, publications)
    async with ingesting(mosquitto, vm) as ingester:
        await publish_raw(mosquitto, messages)
        async with asyncio.timeout(60):
            while ingester.stats.messages < len(messages):
                await asyncio.sleep(0.05)
            points = -1
            while points != ingester.stats.points:  # the last batch written
                points = ingester.stats.points
                await asyncio.sleep(0.5)
        assert ingester.stats.malformed == 0 and ingester.stats.dead_letters == 0


@pytest.fixture
def filled(tmp_path: Path, mosquitto: Mosquitto, victoria_metrics: VictoriaMetrics) -> Filled:
    publications = simulate(tmp_path / "state")
    asyncio.run(ingest(mosquitto, victoria_metrics, publications))
    victoria_metrics.flush()
    last = max(
        datetime.fromisoformat(str(p.payload["received_at"])) for p in publications if p.kind == "reading"
    )
    return Filled(victoria_metrics, publications, last + timedelta(minutes=1))


def test_every_timeseries_panel_runs_and_the_main_ones_show_data(filled: Filled) -> None:
    dashboard = load("wmbus-timeseries.json")
    events = [
        p
        for p in filled.publications
        if p.kind == "event" and not str(p.payload["event"]).startswith("source_")
    ]
    assert events, "the simulation raised no alarm"
    meter = events[0].meter_id  # a meter with readings, monthly indexes and events
    variables = {
        "meter": meter,
        "gateway": GATEWAY,
        "datasource": "",
        "__interval": "6h",
        "__rate_interval": "6h",
        "__range": "30d",
    }
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            values = label_values(filled.vm, variable["definition"])
            assert variables[variable["name"]] in values, (variable["name"], values)
    titles, shown = set(), set()  # a panel shows data when one of its queries returns some
    for title, expr, instant in panel_queries(dashboard):
        titles.add(title)
        if query(filled.vm, substitute(expr, variables), filled.at, instant=instant, step="6h"):
            shown.add(title)
    empty = titles - shown
    assert not empty & MAIN_TIMESERIES, f"main panels without data: {sorted(empty & MAIN_TIMESERIES)}"
    print(f"time-series dashboard: panels without data on the simulation: {sorted(empty)}")


def test_the_monthly_index_panel_shows_the_latest_revision(filled: Filled) -> None:
    latest: dict[str, float] = {}
    for publication in filled.publications:  # in publication order: the last revision wins
        if publication.kind == "monthly" and publication.payload["month"] == "2026-09":
            latest[publication.meter_id] = float(str(publication.payload["index_m3"]))
    expr = next(e for t, e, _ in panel_queries(load("wmbus-timeseries.json")) if "monthly_index" in e)
    result = query(filled.vm, substitute(expr, {"meter": ".*"}), filled.at, instant=True, step="6h")
    shown = {series["metric"]["meter"]: float(series["value"][1]) for series in result}
    assert shown == pytest.approx(latest)


def doc_queries(path: Path) -> list[str]:
    """The ``/api/v1/query -d 'query=...'`` examples of a document."""
    found = re.findall(r"/api/v1/query -d 'query=([^']+)'", path.read_text())
    assert found, path
    return found


def test_readme_and_docs_example_queries_return_data(filled: Filled) -> None:
    for path in (ROOT / "README.md", ROOT / "docs" / "timeseries.md", ROOT / "docs" / "dashboards.md"):
        for expr in doc_queries(path):
            result = query(filled.vm, expr, filled.at, instant=True, step="6h")
            assert result, f"{path.name}: {expr} returns nothing"
            if "monthly" in expr:  # every meter has last month's index (readings here come ~1.5 h apart)
                meters = {series["metric"]["meter"] for series in result}
                assert len(meters) == 8, (path.name, expr, meters)


# --------------------------------------------------------------------------------------------------
# /metrics of a running gateway and ingester, scraped into VictoriaMetrics


def scrape_into(vm: VictoriaMetrics, port: int, instance: str) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read()
    label = urllib.parse.urlencode({"extra_label": f"instance={instance}"})
    request = urllib.request.Request(f"{vm.url}/api/v1/import/prometheus?{label}", text, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 204


def test_every_metrics_panel_runs_on_scraped_metrics(
    tmp_path: Path, mosquitto: Mosquitto, victoria_metrics: VictoriaMetrics
) -> None:
    gateway_port = free_port()
    options = RunOptions(mqtt_url=mosquitto.url, speed=120, metrics_listen=f"127.0.0.1:{gateway_port}")
    daemon = Daemon(GatewayConfig(state_dir=tmp_path), options, printer=lambda line: None)

    async def scenario() -> None:
        async with ingesting(mosquitto, victoria_metrics, client_id="ingest-dash") as ingester:
            server = MetricsServer(ingest_registry(lambda: ingester.stats), "127.0.0.1", 0)
            await server.start()
            task = asyncio.create_task(daemon.run())
            try:
                await asyncio.wait_for(daemon.ready.wait(), 30)
                async with asyncio.timeout(30):
                    while (
                        daemon.publisher is None
                        or daemon.publisher.stats.acked < 10
                        or not ingester.stats.points
                    ):
                        await asyncio.sleep(0.1)
                for _ in range(3):  # three scrapes, so that rate() has samples to work on
                    await asyncio.to_thread(scrape_into, victoria_metrics, gateway_port, "gw1:9464")
                    await asyncio.to_thread(scrape_into, victoria_metrics, server.port, "ingest1:9465")
                    await asyncio.sleep(2)
            finally:
                daemon.stop()
                assert await task == 0
                await server.stop()

    asyncio.run(scenario())
    victoria_metrics.flush()
    dashboard = load("wmbus-metrics.json")
    variables = {
        "instance": "gw1:9464",
        "ingester": "ingest1:9465",
        "datasource": "",
        "__rate_interval": "1m",
        "__interval": "15s",
    }
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            assert variables[variable["name"]] in label_values(victoria_metrics, variable["definition"])
    # A range query's end is rounded down to its step: end a minute ahead, past the last scrape.
    at = datetime.fromtimestamp(time.time() + 60, UTC)
    window = timedelta(minutes=5)
    titles, shown = set(), set()
    for title, expr, instant in panel_queries(dashboard):
        titles.add(title)
        if query(
            victoria_metrics, substitute(expr, variables), at, instant=instant, step="15s", window=window
        ):
            shown.add(title)
    empty = titles - shown
    assert not empty & MAIN_METRICS, f"main panels without data: {sorted(empty & MAIN_METRICS)}"
    print(f"metrics dashboard: panels without data: {sorted(empty)}")
