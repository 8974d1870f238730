"""End to end: the daemon on a replayed recording (clock = recorded time) and on the simulator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.billing.meters import MeterEntry, Provisioning
from gateway.billing.state import StateStore
from gateway.clock import ManualClock, SystemClock
from gateway.daemon.config import GatewayConfig
from gateway.daemon.runner import DRAIN_TIMEOUT_S, HEALTH_META_KEY, STATUS_META_KEY, Daemon, RunOptions
from gateway.frame import LinkMode, ReceivedFrame
from gateway.publication import Publication
from gateway.radio.base import SourceStats
from gateway.radio.simulator import FORMATS, SimulatedFleet
from gateway.reading import Alarm
from gateway.uplink.outbox import Outbox
from tests.daemon.test_pipeline import encrypted_water_vectors
from tests.servers import Mosquitto, free_port
from tests.simulated_run import run_fleet
from tests.uplink.helpers import retained
from tests.vectors import Vector


def rtl_wmbus_line(at: datetime, data: bytes, meter_id: str) -> str:
    return f"T1;1;1;{at.strftime('%Y-%m-%d %H:%M:%S')}.000;97;148;{meter_id};0x{data.hex()}"


def test_replay_drives_the_clock_and_closes_months_by_recorded_time(tmp_path: Path) -> None:
    vectors = encrypted_water_vectors()[:3]
    stranger = encrypted_water_vectors()[3]
    start = datetime(2026, 8, 25, 0, 0, tzinfo=UTC)
    lines: list[str] = []
    expected_readings = 0
    at = start
    while at < datetime(2026, 10, 4, tzinfo=UTC):
        for vector in vectors:
            lines.append(rtl_wmbus_line(at, vector.telegram, vector.meter_id))
            expected_readings += 1
        # a repeater's copy of the first meter's telegram two seconds later: a duplicate
        lines.append(rtl_wmbus_line(at + timedelta(seconds=2), vectors[0].telegram, vectors[0].meter_id))
        lines.append(rtl_wmbus_line(at, stranger.telegram, stranger.meter_id))
        at += timedelta(hours=6)
    lines.append("this line is not a telegram")
    recording = tmp_path / "recording.msg"
    recording.write_text("\n".join(lines) + "\n")

    state = tmp_path / "state"
    provisioning = Provisioning(state / "meters.toml", state / "keys.toml")
    provisioning.add_many((MeterEntry(v.meter_id), v.key) for v in vectors)
    published: list[Publication] = []
    printed: list[str] = []
    daemon = Daemon(
        GatewayConfig(state_dir=state),
        RunOptions(replay=recording),
        printer=printed.append,
        on_publication=published.append,
    )
    assert asyncio.run(daemon.run()) == 0

    readings = [p for p in published if p.kind == "reading"]
    assert len(readings) == expected_readings
    assert len(printed) == len(published)  # no MQTT: every publication printed, one line each
    counters = daemon.pipeline.counters
    assert counters.duplicates == expected_readings // 3
    assert counters.unknown_meter == expected_readings // 3
    monthly = {(p.meter_id, p.month): p.payload for p in published if p.kind == "monthly"}
    for vector in vectors:
        for month in ("2026-08", "2026-09"):
            payload = monthly[(vector.meter_id, month)]
            assert payload["index_m3"] == pytest.approx(vector.expected["total_m3"])
            assert payload["source"] in ("interpolated", "actual")
    # the months were closed by recorded time, not by the wall clock of this test run
    store = StateStore(state / "state.db")
    try:
        assert {i.month for i in store.monthly_indexes()} == {"2026-08", "2026-09"}
        assert [u.meter_id for u in store.unknown_meters()] == [stranger.meter_id]
        assert store.get_meta("daemon.status") is not None
    finally:
        store.close()


# --------------------------------------------------------------------------------------------------
# Two simulated months on a virtual clock, against the simulator's ground truth

SIM_START = datetime(2026, 8, 25, tzinfo=UTC)
SIM_END = datetime(2026, 10, 3, tzinfo=UTC)
ROME = ZoneInfo("Europe/Rome")
ALARM_EVENTS = {Alarm.LEAK: "leak", Alarm.BACKFLOW: "backflow"}


@dataclass
class SimulatedRun:
    fleet: SimulatedFleet
    daemon: Daemon
    published: list[Publication]


@pytest.fixture(scope="module")
def two_months(tmp_path_factory: pytest.TempPathFactory) -> SimulatedRun:
    clock = ManualClock(SIM_START)
    fleet = SimulatedFleet(
        seed=11,
        meter_count=8,
        clock=clock,
        start=SIM_START,
        tz=ROME,
        loss_rate=0.0,  # every original arrives, so that every injected copy must be caught as one
        duplicate_rate=0.03,
        repeat_rate=0.02,
        alarm_rate_per_year=40.0,
        interval_scale=100.0,  # a telegram every ~1.5 h per meter: two months in a few thousand telegrams
    )
    state = tmp_path_factory.mktemp("sim") / "state"
    daemon, published = run_fleet(fleet, state, clock, SIM_END)
    return SimulatedRun(fleet, daemon, published)


def cutoff_of(month: str) -> datetime:
    year, number = (int(part) for part in month.split("-"))
    year, number = (year + 1, 1) if number == 12 else (year, number + 1)
    return datetime(year, number, 1, tzinfo=ROME)


def test_every_monthly_index_matches_ground_truth(two_months: SimulatedRun) -> None:
    fleet = two_months.fleet
    monthly: dict[tuple[str, str], dict[str, object]] = {}
    for publication in two_months.published:
        if publication.kind == "monthly":
            assert publication.month is not None
            monthly[(publication.meter_id, publication.month)] = publication.payload  # the latest revision
    errors: list[float] = []
    for meter in fleet.meters:
        resolution = FORMATS[meter.format].resolution_m3
        for month in ("2026-08", "2026-09"):
            payload = monthly[(meter.meter_id, month)]
            cutoff = cutoff_of(month)
            assert payload["cutoff"] == cutoff.isoformat()
            truth = fleet.true_index_m3(meter.meter_id, cutoff)
            index = payload["index_m3"]
            assert isinstance(index, float)
            if payload["source"] == "actual":
                # the meter's own register: exact up to the meter's resolution (it rounds down)
                assert truth - resolution - 1e-9 <= index <= truth + 1e-9, (meter.meter_id, month, payload)
            else:
                assert payload["source"] == "interpolated", (meter.meter_id, month, payload)
                errors.append(abs(index - truth))
                assert abs(index - truth) <= max(0.05, 0.02 * truth), (meter.meter_id, month, index, truth)
    sources = [payload["source"] for payload in monthly.values()]
    print(
        f"monthly indexes: {sources.count('actual')} actual, {sources.count('interpolated')} interpolated;"
        f" interpolation error max {max(errors, default=0.0):.4f} m3"
    )


def _at(value: object) -> datetime:
    return datetime.fromisoformat(str(value))


def test_alarm_events_follow_the_injected_alarms(two_months: SimulatedRun) -> None:
    fleet = two_months.fleet
    expected: list[tuple[str, str, str, datetime]] = []
    active: dict[str, frozenset[Alarm]] = {}
    for publication in two_months.published:
        if publication.kind != "reading":
            continue
        meter_id = publication.meter_id
        at = datetime.fromisoformat(str(publication.payload["received_at"]))
        now = fleet.active_alarms(meter_id, at)
        before = active.get(meter_id, frozenset())
        for alarm, name in ALARM_EVENTS.items():
            if alarm in now and alarm not in before:
                expected.append((meter_id, name, "raised", at))
            elif alarm in before and alarm not in now:
                expected.append((meter_id, name, "cleared", at))
        active[meter_id] = now
    events = [
        (
            p.meter_id,
            str(p.payload["event"]),
            str(p.payload["state"]),
            datetime.fromisoformat(str(p.payload["at"])),
        )
        for p in two_months.published
        if p.kind == "event" and p.payload["event"] in ALARM_EVENTS.values()
    ]
    assert any(state == "raised" for _, _, state, _ in expected), "the fleet should inject some alarms"
    assert events == expected


def test_injected_duplicates_are_published_once(two_months: SimulatedRun) -> None:
    fleet = two_months.fleet
    counters = two_months.daemon.pipeline.counters
    assert fleet.injected_duplicates
    assert counters.duplicates == len(fleet.injected_duplicates)
    readings = [p for p in two_months.published if p.kind == "reading"]
    assert len(readings) == fleet.counters.sent
    assert counters.errors == {}
    assert counters.unknown_meter == 0


def test_health_watches_the_simulated_radio_without_false_alarms(two_months: SimulatedRun) -> None:
    store = StateStore(two_months.daemon.config.state_db_path)
    try:
        saved = json.loads(store.get_meta(STATUS_META_KEY) or "{}")  # written on the way out
        assert store.get_meta(HEALTH_META_KEY)  # what health learned survives a restart
    finally:
        store.close()
    source = saved["sources"]["simulator"]
    assert source["state"] == "healthy"
    assert source["frames"] == two_months.daemon.pipeline.counters.frames
    health_events = [p for p in two_months.published if p.kind == "event" and p.meter_id == "simulator"]
    assert health_events == []  # a steady fleet for two months: never silent


def hourly_recording(tmp_path: Path, hours: int) -> tuple[Vector, Path, GatewayConfig]:
    """One provisioned meter's telegram recorded every hour from 29 September on, and its config."""
    vector = encrypted_water_vectors()[0]
    start = datetime(2026, 9, 29, tzinfo=UTC)
    recording = tmp_path / "air.msg"
    instants = [start + timedelta(hours=h) for h in range(hours)]
    recording.write_text("\n".join(rtl_wmbus_line(at, vector.telegram, vector.meter_id) for at in instants))
    state = tmp_path / "state"
    Provisioning(state / "meters.toml", state / "keys.toml").add(MeterEntry(vector.meter_id), vector.key)
    return vector, recording, GatewayConfig(gateway_id="e2e", state_dir=state)


def test_replay_publishes_through_the_outbox_to_a_real_broker(tmp_path: Path, mosquitto: Mosquitto) -> None:
    vector, recording, config = hourly_recording(tmp_path, hours=54)
    daemon = Daemon(config, RunOptions(replay=recording, mqtt_url=mosquitto.url), printer=lambda line: None)
    assert asyncio.run(daemon.run()) == 0
    messages = dict(asyncio.run(retained(mosquitto.host, mosquitto.port, "wmbus/e2e/#")))
    reading = messages[f"wmbus/e2e/meters/{vector.meter_id}/reading"]
    assert reading["schema"] == "wmbus-gateway/reading/1"
    assert reading["total_m3"] == pytest.approx(vector.expected["total_m3"])
    monthly = messages[f"wmbus/e2e/meters/{vector.meter_id}/monthly/2026-09"]
    assert monthly["index_m3"] == pytest.approx(vector.expected["total_m3"])
    assert messages["wmbus/e2e/status"]["state"] == "offline"  # a clean stop leaves the last will's state
    assert vector.key is not None and vector.key.hex() not in json.dumps(messages).lower()


def test_a_replay_with_the_broker_unreachable_stops_at_once_and_keeps_the_backlog(tmp_path: Path) -> None:
    _, recording, config = hourly_recording(tmp_path, hours=10)
    url = f"mqtt://127.0.0.1:{free_port()}"  # nothing listens there: every connect is refused
    daemon = Daemon(config, RunOptions(replay=recording, mqtt_url=url), printer=lambda line: None)
    took_s = asyncio.run(_timed(daemon.run()))
    assert took_s < DRAIN_TIMEOUT_S  # no waiting for a broker that refused us
    outbox = Outbox(config.outbox_path)
    try:
        assert len(outbox) == daemon.pipeline.counters.publications > 0  # all kept for the next start
    finally:
        outbox.close()


async def _timed(run: Coroutine[Any, Any, int]) -> float:
    loop = asyncio.get_running_loop()
    began = loop.time()
    assert await run == 0
    return loop.time() - began


class OneFrameThenQuiet:
    """A live radio source: one telegram, then nothing until the test ends it."""

    name = "quiet"
    device_path = None

    def __init__(self, frame: ReceivedFrame) -> None:
        self.stats = SourceStats()
        self.frame = frame
        self.end = asyncio.Event()

    async def frames(self) -> AsyncIterator[ReceivedFrame]:
        yield self.frame
        await self.end.wait()

    async def reinitialise(self) -> None:
        """Nothing to do."""

    async def reopen(self) -> None:
        """Nothing to do."""


def test_a_live_frame_is_published_as_soon_as_the_radio_is_idle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gateway.daemon.runner.FLUSH_INTERVAL_S", 3600.0)  # no periodic flush to wait for
    vector = encrypted_water_vectors()[0]
    state = tmp_path / "state"
    Provisioning(state / "meters.toml", state / "keys.toml").add(MeterEntry(vector.meter_id), vector.key)
    frame = ReceivedFrame(vector.telegram, LinkMode.T1, -70.0, datetime.now(UTC), "quiet")
    source = OneFrameThenQuiet(frame)
    published: list[Publication] = []

    async def scenario() -> None:
        daemon = Daemon(
            GatewayConfig(state_dir=state),
            sources=[source],
            clock=SystemClock(),
            printer=lambda line: None,
            on_publication=published.append,
        )
        run = asyncio.create_task(daemon.run())
        async with asyncio.timeout(10):
            while not published:
                await asyncio.sleep(0.01)
        daemon.stop()
        source.end.set()
        assert await run == 0

    asyncio.run(scenario())
    assert [p.kind for p in published][:1] == ["reading"]
    assert published[0].meter_id == vector.meter_id
