"""What a fault run found in the gateway daemon (issue 16): a full disk, against a real mosquitto."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import pytest

from gateway.billing.meters import MeterEntry, Provisioning
from gateway.billing.state import StateStore
from gateway.daemon.config import GatewayConfig
from gateway.daemon.runner import Daemon, RunOptions
from gateway.frame import LinkMode, ReceivedFrame
from gateway.publication import Publication
from gateway.radio.base import SourceStats
from gateway.uplink.messages import OutboundMessage
from gateway.uplink.outbox import Outbox
from gateway.uplink.topics import MessageKind
from tests.daemon.test_e2e import hourly_recording, rtl_wmbus_line
from tests.daemon.test_pipeline import encrypted_water_vectors
from tests.servers import Mosquitto


class QueuedRadio:
    """A live radio source: the frames the test puts, until it puts None."""

    name = "radio"
    device_path = None

    def __init__(self) -> None:
        self.stats = SourceStats()
        self.queue: asyncio.Queue[ReceivedFrame | None] = asyncio.Queue()

    async def frames(self) -> AsyncIterator[ReceivedFrame]:
        self.stats.connected = True
        while (frame := await self.queue.get()) is not None:
            yield frame

    async def reinitialise(self) -> None:
        """Nothing to do."""

    async def reopen(self) -> None:
        """Nothing to do."""


async def _collect(
    broker: Mosquitto, topic: str, into: list[dict[str, object]], ready: asyncio.Event
) -> None:
    async with aiomqtt.Client(broker.host, broker.port, identifier="collector") as client:
        await client.subscribe(topic, qos=1)
        ready.set()
        async for message in client.messages:
            assert isinstance(message.payload, bytes)
            into.append(json.loads(message.payload))


async def _until(condition: object, timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.02)


def _fill(outbox: Outbox | None) -> None:
    # SQLite's own limit on the file's size: inserts then fail with SQLITE_FULL ("database or disk is
    # full") exactly as on a full disk, without needing one.
    assert outbox is not None
    pages = outbox._db.execute("PRAGMA page_count").fetchone()[0]
    outbox._db.execute(f"PRAGMA max_page_count={pages}")


def _unfill(outbox: Outbox | None) -> None:
    assert outbox is not None
    outbox._db.execute("PRAGMA max_page_count=1073741823")


async def test_disk_full_keeps_every_reading_logs_once_and_commits_no_state_ahead(
    tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    vectors = encrypted_water_vectors()[:3]
    state = tmp_path / "state"
    Provisioning(state / "meters.toml", state / "keys.toml").add_many(
        (MeterEntry(v.meter_id), v.key) for v in vectors
    )
    radio = QueuedRadio()
    daemon = Daemon(  # a status saved every second: it must not commit the state either
        GatewayConfig(gateway_id="full", state_dir=state, status_interval_s=1.0),
        RunOptions(mqtt_url=mosquitto.url),
        sources=[radio],
        printer=lambda line: None,
    )
    caplog.set_level(logging.INFO, "gateway")
    received: list[dict[str, object]] = []
    ready = asyncio.Event()
    collector = asyncio.create_task(_collect(mosquitto, "wmbus/full/meters/+/reading", received, ready))
    await asyncio.wait_for(ready.wait(), 10)
    run = asyncio.create_task(daemon.run())
    await asyncio.wait_for(daemon.ready.wait(), 20)
    start = datetime.now(UTC) - timedelta(hours=40)

    def send(hours: range) -> None:
        for hour in hours:
            for vector in vectors:
                at = start + timedelta(hours=hour)
                radio.queue.put_nowait(ReceivedFrame(vector.telegram, LinkMode.T1, -70.0, at, "radio"))

    send(range(0, 5))
    await _until(lambda: len(received) == 15)
    _fill(daemon.outbox)
    send(range(5, 20))  # the radio keeps going while the disk is full: 45 readings
    await _until(lambda: daemon.pipeline.counters.readings == 60)
    await asyncio.sleep(1.5)  # several flushes fail meanwhile, and a status is saved
    # The state is not committed ahead of its publications: on disk it is still at hour 4.
    check = StateStore(state / "state.db")
    try:
        last = check.last_reading(vectors[0].meter_id)
        assert last is not None and last["received_at"] == (start + timedelta(hours=4)).isoformat()
    finally:
        check.close()
    assert daemon.pipeline.counters.errors.get("outbox_write", 0) >= 2  # counted on every failed flush
    _unfill(daemon.outbox)
    send(range(20, 22))
    await _until(lambda: len(received) == 66)
    daemon.stop()
    assert await run == 0
    collector.cancel()
    # Every reading reached the broker once, in order per meter.
    for vector in vectors:
        times = [m["received_at"] for m in received if m["meter_id"] == vector.meter_id]
        assert times == [(start + timedelta(hours=h)).isoformat() for h in range(22)]
    faults = [r for r in caplog.records if r.levelno >= logging.WARNING and "cannot store" in r.getMessage()]
    assert len(faults) == 1 and "full" in faults[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info]  # no traceback per flush
    assert sum("stored again" in r.getMessage() for r in caplog.records) == 1


async def test_a_stop_while_the_outbox_cannot_store_commits_no_state_ahead(
    tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    """Stopped with publications it could not store: the state on disk stays where its publications are
    (a replay resumes before them), and one ERROR line says how many were not stored."""
    vectors = encrypted_water_vectors()[:3]
    state = tmp_path / "state"
    Provisioning(state / "meters.toml", state / "keys.toml").add_many(
        (MeterEntry(v.meter_id), v.key) for v in vectors
    )
    radio = QueuedRadio()
    daemon = Daemon(
        GatewayConfig(gateway_id="stop", state_dir=state),
        RunOptions(mqtt_url=mosquitto.url),
        sources=[radio],
        printer=lambda line: None,
    )
    caplog.set_level(logging.INFO, "gateway")
    run = asyncio.create_task(daemon.run())
    await asyncio.wait_for(daemon.ready.wait(), 20)
    start = datetime.now(UTC) - timedelta(hours=30)
    for hour in range(20):
        if hour == 3:
            await _until(lambda: daemon.pipeline.counters.readings == 9)
            await asyncio.sleep(0.5)  # flushed: hours 0-2 are in the outbox and the state
            _fill(daemon.outbox)
        for vector in vectors:
            at = start + timedelta(hours=hour)
            radio.queue.put_nowait(ReceivedFrame(vector.telegram, LinkMode.T1, -70.0, at, "radio"))
    await _until(lambda: daemon.pipeline.counters.readings == 60)
    await _until(lambda: daemon.pipeline.counters.errors.get("outbox_write", 0) >= 1)
    daemon.stop()
    assert await run == 0
    check = StateStore(state / "state.db")
    try:
        last = check.last_reading(vectors[0].meter_id)
        assert last is not None and last["received_at"] == (start + timedelta(hours=2)).isoformat()
    finally:
        check.close()
    lost = [r for r in caplog.records if r.levelno == logging.ERROR and "not stored" in r.getMessage()]
    assert len(lost) == 1 and "51 publications" in lost[0].getMessage()


def _reading(n: int, size: int = 0) -> OutboundMessage:
    meter = f"{n:08d}"
    return OutboundMessage(f"wmbus/gw/meters/{meter}/reading", b"x" * size, False, MessageKind.READING, meter)


def test_a_failed_commit_leaves_the_count_right(tmp_path: Path) -> None:
    # SQLite rolls back by itself when a statement fails on a full disk; the outbox's ROLLBACK then
    # failed ("no transaction is active") and its count stayed inflated, dropping readings needlessly.
    outbox = Outbox(tmp_path / "outbox.db", max_messages=50)
    try:
        outbox.put_many([_reading(n) for n in range(10)])
        _fill(outbox)
        with pytest.raises(sqlite3.OperationalError, match="full"):
            outbox.put_many([_reading(n, size=4000) for n in range(10, 40)])
        assert len(outbox) == 10
        _unfill(outbox)
        outbox.put_many([_reading(n) for n in range(40, 80)])
        assert len(outbox) == 50
        assert sum(outbox.stats().dropped.values()) == 0
    finally:
        outbox.close()


# --------------------------------------------------------------------------------------------------
# Item 2: a time stamp of year 9999 once closed every month up to it and bricked the state


def test_a_year_9999_line_is_refused_and_the_state_stays_usable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    vector, recording, config = hourly_recording(tmp_path, hours=54)
    lines = recording.read_text().splitlines()
    far = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
    early = datetime(1999, 12, 31, tzinfo=UTC)
    lines[10:10] = [rtl_wmbus_line(at, vector.telegram, vector.meter_id) for at in (far, early)]
    recording.write_text("\n".join(lines) + "\n")
    published: list[Publication] = []
    caplog.set_level(logging.INFO, "gateway")
    daemon = Daemon(
        config, RunOptions(replay=recording), printer=lambda line: None, on_publication=published.append
    )
    assert asyncio.run(daemon.run()) == 0
    assert daemon.pipeline.counters.errors.get("implausible_time") == 2
    assert daemon.pipeline.counters.readings == 54
    assert {p.month for p in published if p.kind == "monthly"} == {"2026-09"}
    warnings = [r.getMessage() for r in caplog.records if "implausible" in r.getMessage()]
    assert len(warnings) == 1 and "9999-12-31" in warnings[0]  # rate-limited: one line, with the reason
    # The next start works and carries on.
    again = Daemon(config, RunOptions(replay=recording), printer=lambda line: None)
    assert asyncio.run(again.run()) == 0


def _poison(state_db: Path, meter_id: str) -> None:
    """What the year-9999 line left in a state before the fix: a cut-off and clocks in year 9999."""
    store = StateStore(state_db)
    try:
        far_s = datetime(9999, 12, 31, 23, tzinfo=UTC).timestamp()
        store.set_meta("processor.last_cutoff", "9999-11")
        store.set_meta("processor.clock_s", repr(far_s))
        data = store.meter_state(meter_id)
        assert data is not None
        data["last_seen_s"] = far_s
        data["last"] = [far_s, data["last"][1]]
        assert data["drafts"], "the first run passed a cut-off"
        data["drafts"].append({**data["drafts"][-1], "month": "9999-11", "cutoff_s": far_s - 86400})
        store.save_meter_state(meter_id, data)
        store.commit()
    finally:
        store.close()


def test_a_poisoned_state_still_starts_and_state_repair_mends_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    vector, recording, config = hourly_recording(tmp_path, hours=48)  # 29 Sep to 1 Oct
    assert asyncio.run(Daemon(config, RunOptions(replay=recording), printer=lambda line: None).run()) == 0
    _poison(config.state_db_path, vector.meter_id)
    # Later telegrams (into October): the daemon starts (it exited 1 on "year 10000 is out of range").
    later = tmp_path / "later.msg"
    start = datetime(2026, 10, 1, 1, tzinfo=UTC)
    later.write_text(
        "\n".join(
            rtl_wmbus_line(start + timedelta(hours=h), vector.telegram, vector.meter_id) for h in range(60)
        )
    )
    caplog.set_level(logging.INFO, "gateway")
    published: list[Publication] = []
    daemon = Daemon(
        config, RunOptions(replay=later), printer=lambda line: None, on_publication=published.append
    )
    assert asyncio.run(daemon.run()) == 0
    assert [r for r in caplog.records if r.levelno == logging.ERROR and "state repair" in r.getMessage()]
    code, out = invoke_repair(config.state_dir)
    assert code == 0, out
    assert "9999" in out
    store = StateStore(config.state_db_path)
    try:
        assert store.get_meta("processor.last_cutoff") in (None, "2026-09")
        data = store.meter_state(vector.meter_id)
        assert data is not None and (data["last_seen_s"] or 0) < datetime(2027, 1, 1, tzinfo=UTC).timestamp()
        assert all(draft["month"] < "2027" for draft in data["drafts"])
    finally:
        store.close()
    code, out = invoke_repair(config.state_dir)
    assert code == 0 and "nothing to repair" in out
    # Repaired: the month closes again by the recorded time.
    later.write_text(
        "\n".join(
            rtl_wmbus_line(
                datetime(2026, 10, 30, tzinfo=UTC) + timedelta(hours=h), vector.telegram, vector.meter_id
            )
            for h in range(60)
        )
    )
    published.clear()
    daemon = Daemon(
        config, RunOptions(replay=later), printer=lambda line: None, on_publication=published.append
    )
    assert asyncio.run(daemon.run()) == 0
    assert "2026-10" in {p.month for p in published if p.kind == "monthly"}


def invoke_repair(state_dir: Path) -> tuple[int, str]:
    from typer.testing import CliRunner  # noqa: PLC0415

    from gateway.cli.app import app  # noqa: PLC0415

    result = CliRunner().invoke(
        app, ["state", "repair", "--state-dir", str(state_dir)], env={"COLUMNS": "200"}
    )
    return result.exit_code, result.output
