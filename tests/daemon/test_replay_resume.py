"""A replay stopped by SIGKILL resumes where the state stopped (issue 16 item 7), against a real mosquitto.

Before: a restarted replay began again at line 1 and re-published every reading before the kill (7.2x
the messages in the fault run). Now the replay's position is committed in the state's transaction;
the next ``run --replay`` of the same file continues there (re-reading the dedup window before it only
to teach the dedup), and ``--from-start`` replays it all.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt

from gateway.billing.meters import MeterEntry, Provisioning
from gateway.clock import ManualClock
from gateway.radio.simulator import SimulatedFleet
from tests.daemon.test_e2e import rtl_wmbus_line
from tests.servers import Mosquitto

START = datetime(2026, 9, 20, tzinfo=UTC)  # the replay crosses the September cut-off
TELEGRAMS = 6000
Key = tuple[str, ...]


def _recording(folder: Path, state: Path) -> Path:
    """A fleet's telegrams as heard (repeated copies among them), its meters and keys provisioned."""
    fleet = SimulatedFleet(seed=16, meter_count=24, clock=ManualClock(START), start=START, duplicate_rate=0.1)
    keys = fleet.keys()
    Provisioning(state / "meters.toml", state / "keys.toml").add_many(
        (MeterEntry(meter.meter_id), keys.get(meter.meter_id)) for meter in fleet.meters
    )
    path = folder / "air.msg"
    with path.open("w") as out:
        for count, tx in enumerate(fleet.transmissions(), start=1):
            out.write(rtl_wmbus_line(tx.at, tx.data, tx.meter_id) + "\n")
            if count >= TELEGRAMS:
                break
    return path


def _config(folder: Path, gateway_id: str, state: Path, url: str) -> Path:
    path = folder / f"{gateway_id}.toml"
    path.write_text(f'[gateway]\nid = "{gateway_id}"\nstate_dir = "{state}"\n\n[mqtt]\nurl = "{url}"\n')
    return path


def _key(topic: str, payload: bytes) -> Key:
    """What makes a message the same message: its meter and kind, and when (or which month) it is of."""
    parts = topic.split("/")  # wmbus/<gateway>/meters/<meter>/<kind>[/<month>]
    document = json.loads(payload)
    kind = parts[4]
    if kind == "reading":
        return (parts[3], kind, str(document["received_at"]))
    if kind == "monthly":
        return (parts[3], kind, parts[5], str(document.get("revision")))
    document.pop("gateway", None)
    return (parts[3], kind, json.dumps(document, sort_keys=True))


async def _collect(broker: Mosquitto, gateway_id: str, into: list[Key], ready: asyncio.Event) -> None:
    async with aiomqtt.Client(broker.host, broker.port, identifier=f"collector-{gateway_id}") as client:
        await client.subscribe(f"wmbus/{gateway_id}/meters/#", qos=1)
        ready.set()
        async for message in client.messages:
            assert isinstance(message.payload, bytes)
            if not message.retain:
                into.append(_key(str(message.topic), message.payload))


async def _run(config: Path, recording: Path, *extra: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "run",
        "--config",
        str(config),
        "--replay",
        str(recording),
        *extra,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def _finish(process: asyncio.subprocess.Process, timeout_s: float = 240.0) -> str:
    """Wait for the run to exit 0; its log (standard error). A run that hangs is killed, its log shown."""
    assert process.stderr is not None
    chunks: list[bytes] = []

    async def read() -> None:
        assert process.stderr is not None
        while chunk := await process.stderr.read(65536):
            chunks.append(chunk)

    reader = asyncio.create_task(read())
    try:
        code = await asyncio.wait_for(process.wait(), timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        code = None
    await reader
    log = b"".join(chunks).decode()
    assert code == 0, f"exit {code}:\n{log}"
    return log


async def _settle(received: list[Key], quiet_s: float = 1.5) -> None:
    """Until no message has arrived for ``quiet_s``."""
    seen = -1
    while seen != len(received):
        seen = len(received)
        await asyncio.sleep(quiet_s)


def _saved_offset(state: Path) -> int:
    """Where the state says the replay stands (0 before its first commit)."""
    try:
        db = sqlite3.connect(f"file:{state / 'state.db'}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'replay.replay'").fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return 0
    return int(json.loads(row[0])["at"]["offset"]) if row else 0


def _pending(outbox: Path) -> list[Key]:
    db = sqlite3.connect(outbox)
    try:
        rows = db.execute("SELECT topic, payload FROM outbox WHERE kind != 'status'").fetchall()
    finally:
        db.close()
    return [_key(topic, payload) for topic, payload in rows if "/meters/" in topic]


async def _whole_run(tmp_path: Path, mosquitto: Mosquitto, recording: Path, state: Path) -> list[Key]:
    """The uninterrupted replay: what every later run must add up to."""
    received: list[Key] = []
    ready = asyncio.Event()
    collector = asyncio.create_task(_collect(mosquitto, "whole", received, ready))
    await asyncio.wait_for(ready.wait(), 10)
    process = await _run(_config(tmp_path, "whole", state, mosquitto.url), recording)
    await _finish(process)
    await _settle(received)
    collector.cancel()
    return received


async def test_a_replay_killed_midway_resumes_without_loss_or_republishing(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    whole_state, state = tmp_path / "whole", tmp_path / "state"
    _recording(tmp_path, whole_state)
    recording = _recording(tmp_path, state)  # the same telegrams, the same meters provisioned
    expected = await _whole_run(tmp_path, mosquitto, recording, whole_state)
    assert len(expected) == len(set(expected)) > 1000  # each message once

    received: list[Key] = []
    ready = asyncio.Event()
    collector = asyncio.create_task(_collect(mosquitto, "killed", received, ready))
    await asyncio.wait_for(ready.wait(), 10)
    config = _config(tmp_path, "killed", state, mosquitto.url)
    process = await _run(config, recording)
    size = recording.stat().st_size
    async with asyncio.timeout(120):
        while _saved_offset(state) < size // 3:  # a third of the file read and committed
            await asyncio.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    await process.wait()
    in_flight = _pending(state / "outbox.db")  # stored, perhaps sent, not known to be acknowledged
    at_kill = len(received)

    again = await _run(config, recording)
    log = await _finish(again)
    await _settle(received)
    collector.cancel()

    assert "resuming at line" in log, log
    got = Counter(received)
    # A run may exit with messages still in its outbox (they go out at its next start): those count
    # as delivered, on both sides.
    left, whole_left = _pending(state / "outbox.db"), _pending(whole_state / "outbox.db")
    assert set(got) | set(left) == set(expected) | set(whole_left), "lost or invented"
    repeated = {key: count for key, count in got.items() if count > 1}
    # QoS 1 is at least once: only what was in the outbox at the kill may come twice.
    assert set(repeated) <= set(in_flight) and all(count == 2 for count in repeated.values())
    print(
        f"\n{len(expected)} messages in the whole replay; killed after {at_kill}; after the restart "
        f"{len(received)} received, {len(repeated)} twice ({len(in_flight)} in the outbox at the kill),"
        f" {len(left)} left in the outbox at exit ({len(whole_left)} by the whole replay)"
    )


async def test_the_same_recording_again_publishes_nothing_and_from_start_everything(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    state = tmp_path / "state"
    recording = _recording(tmp_path, state)
    first = await _whole_run(tmp_path, mosquitto, recording, state)
    config = _config(tmp_path, "whole", state, mosquitto.url)
    for extra in ((), ("--from-start",)):
        left = set(_pending(state / "outbox.db"))  # what the last run had not sent: it goes out now
        received: list[Key] = []
        ready = asyncio.Event()
        collector = asyncio.create_task(_collect(mosquitto, "whole", received, ready))
        await asyncio.wait_for(ready.wait(), 10)
        process = await _run(config, recording, *extra)
        log = await _finish(process, 60)
        await _settle(received)
        collector.cancel()
        new = [key for key in received if key not in left]
        if not extra:
            assert "nothing new: replayed to its end before" in log, log
            assert new == []
        else:
            assert "from the start (--from-start)" in log, log
            again = {key for key in received + _pending(state / "outbox.db") if key[1] == "reading"}
            assert again >= {key for key in first if key[1] == "reading"}
