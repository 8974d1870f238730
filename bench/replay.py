"""A full replay into a local mosquitto: ``wmbus-gateway run --replay`` of a simulated fleet, timed to exit.

    .venv/bin/python -m bench.replay [--meters 50] [--days 62] [--runs 3] [--recording FILE] [--pipeline-only]

Builds the recording (the simulated fleet's telegrams as rtl_wmbus lines, real encryption, four formats,
losses and radio copies; 50 meters over 62 days is about 272,000 telegrams), provisions the meters,
starts mosquitto on a free loopback port and a subscriber (QoS 1, in a process of its own) that counts
what arrives, then runs ``wmbus-gateway run --replay FILE --mqtt URL`` as a child process and times it
from start to exit. The daemon exits once the outbox has drained, so everything counted at the
subscriber was delivered before exit. Prints per run: total time, telegrams/s, messages/s, what the
subscriber received per kind against what the daemon produced, what was left in the outbox; then the
best and the median of the runs. Target (issue 18): under 120 s, everything delivered.

``--pipeline-only``: the daemon's side alone, in this process: the same replay into the durable outbox
with no broker (an unreachable one; the replay's back-pressure lifted so that the whole recording is
queued), wall and CPU time, microseconds of CPU a telegram. The publisher's share of a full run is the
rest.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path

from gateway.clock import ManualClock
from gateway.daemon import runner
from gateway.daemon.config import GatewayConfig, MqttConfig
from gateway.radio.simulator import SimulatedFleet
from tests.servers import MOSQUITTO_CANDIDATES, Mosquitto, require_binary

from .pipeline import provision, rtl_wmbus_line

START = datetime(2026, 9, 1, tzinfo=UTC)
GATEWAY = "gateway"  # the default gateway id
# One telegram about every 20 minutes a meter (the simulator's intervals times 3.6), no 16 s meter:
# 50 meters over 62 days then make the quarter of a million telegrams of the replay.
INTERVAL_SCALE = 3.6
QUIET_S = 2.0  # the subscriber's count is final after this long without a message


def make_fleet(meters: int) -> SimulatedFleet:
    return SimulatedFleet(
        seed=1, meter_count=meters, clock=ManualClock(START), start=START,
        interval_scale=INTERVAL_SCALE, fast_meters=0,
    )


def write_recording(fleet: SimulatedFleet, path: Path, days: float) -> int:
    count = 0
    with path.open("w") as out:
        for tx in fleet.transmissions(START + timedelta(days=days)):
            out.write(rtl_wmbus_line(tx.at, tx.data, tx.meter_id) + "\n")
            count += 1
    return count


def subscriber(host: str, port: int, pipe: Connection) -> None:
    """Count every message under the gateway's topics by kind until told to stop (own process)."""
    from paho.mqtt import client as mqtt  # noqa: PLC0415 - the child's own import
    from paho.mqtt.enums import CallbackAPIVersion  # noqa: PLC0415

    counts: Counter[str] = Counter()
    last = [time.monotonic()]

    def on_message(_client: object, _userdata: object, message: mqtt.MQTTMessage) -> None:
        parts = message.topic.split("/")
        kind = parts[4] if len(parts) >= 5 and parts[2] == "meters" else parts[-1]
        counts[kind] += 1
        last[0] = time.monotonic()

    def on_connect(client: mqtt.Client, *_args: object) -> None:
        client.subscribe(f"wmbus/{GATEWAY}/#", qos=1)

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-replay-counter")
    client.max_inflight_messages_set(1000)
    client.on_message = on_message
    client.on_connect = on_connect
    client.connect(host, port)
    client.loop_start()
    pipe.send("ready")
    pipe.recv()  # the daemon has exited: wait for the last messages to arrive
    while time.monotonic() - last[0] < QUIET_S:
        time.sleep(0.1)
    client.loop_stop()
    pipe.send(dict(counts))


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def daemon_status(state: Path) -> dict[str, object]:
    """The daemon's last status (counters) from its state database."""
    db = sqlite3.connect(state / "state.db")
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'daemon.status'").fetchone()
    finally:
        db.close()
    return dict(json.loads(row[0])) if row else {}


def outbox_left(state: Path) -> int:
    db = sqlite3.connect(state / "outbox.db")
    try:
        return int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
    finally:
        db.close()


def one_run(fleet: SimulatedFleet, recording: Path, telegrams: int, folder: Path, extra: list[str]) -> float:
    broker = Mosquitto(require_binary("mosquitto", MOSQUITTO_CANDIDATES), folder / "mosquitto")
    broker.start()
    state = folder / "state"
    provision(fleet, state)
    ours, theirs = multiprocessing.Pipe()
    counter = multiprocessing.Process(target=subscriber, args=(broker.host, broker.port, theirs))
    try:
        counter.start()
        if not ours.poll(10):
            raise SystemExit("the subscriber did not connect")
        ours.recv()
        command = [
            sys.executable, "-m", "gateway", "run", "--replay", str(recording), "--state-dir", str(state),
            "--mqtt", broker.url, "--log-format", "text", *extra,
        ]
        started = time.perf_counter()
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # only the daemon is reaped meanwhile
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        user, system = used.ru_utime - usage.ru_utime, used.ru_stime - usage.ru_stime
        ours.send("stop")
        counts: dict[str, int] = ours.recv()
        counter.join(10)
    finally:
        if counter.is_alive():
            counter.kill()
        broker.stop()
    if done.returncode != 0:
        raise SystemExit(f"the daemon failed ({done.returncode}): {done.stderr[-3000:]}")
    status = daemon_status(state)
    c = status.get("counters", {})
    assert isinstance(c, dict)
    left = outbox_left(state)
    received = sum(v for k, v in counts.items() if k != "status")
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    print(
        f"  {elapsed:6.1f} s to exit: {telegrams / elapsed:,.0f} telegrams/s, "
        f"{received / elapsed:,.0f} messages/s; the daemon's CPU {user + system:.1f} s (user {user:.1f},"
        f" system {system:.1f}); load average at exit {_load()}"
    )
    print(
        f"    daemon: {c.get('frames')} frames, {c.get('readings')} readings, {c.get('publications')}"
        f" publications, errors {c.get('errors')}; left in the outbox at exit: {left}"
    )
    print(f"    subscriber received: {dict(sorted(counts.items()))} ({received} without status)")
    verdict = "all delivered" if received >= int(c.get("publications", 0) or 0) and left == 0 else "MISSING"
    print(f"    {verdict}; the daemon's last lines: {lines[-2:] if lines else []}")
    return elapsed


def pipeline_only(fleet: SimulatedFleet, recording: Path, telegrams: int, folder: Path) -> float:
    """The replay into the outbox, no broker, in this process; CPU seconds."""
    state = folder / "state"
    provision(fleet, state)
    runner.REPLAY_BACKLOG = 10 * telegrams  # no back-pressure: nobody takes messages out
    config = GatewayConfig(
        state_dir=state, mqtt=MqttConfig(url="mqtt://127.0.0.1:9"), outbox_max_messages=10 * telegrams
    )
    daemon = runner.Daemon(config, runner.RunOptions(replay=recording, wait_for_delivery=False))
    logging.getLogger("gateway.uplink").setLevel(logging.CRITICAL)  # the unreachable broker's retries
    wall, cpu = time.perf_counter(), time.process_time()
    asyncio.run(daemon.run())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    c = daemon.pipeline.counters
    print(
        f"  pipeline only: wall {wall:.1f} s, CPU {cpu:.1f} s: {c.frames / cpu:,.0f} telegrams per CPU"
        f" second, {cpu / c.frames * 1e6:.0f} us a telegram ({c.frames} frames, {c.readings} readings,"
        f" {c.publications} publications into the outbox, errors {c.errors})"
    )
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--meters", type=int, default=50)
    parser.add_argument("--days", type=float, default=62.0)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--recording", type=Path, help="keep the recording here (made if missing)")
    parser.add_argument("--pipeline-only", action="store_true", help="the daemon's side alone: no broker")
    parser.add_argument("daemon_args", nargs="*", help="more arguments for the run command (after --)")
    args = parser.parse_args()
    fleet = make_fleet(args.meters)
    with tempfile.TemporaryDirectory() as tmp:
        recording = args.recording or Path(tmp) / "fleet.msg"
        made = time.perf_counter()
        if recording.exists():
            telegrams = sum(1 for _ in recording.open())
        else:
            telegrams = write_recording(fleet, recording, args.days)
        made = time.perf_counter() - made
        print(
            f"recording: {telegrams:,} telegrams of {args.meters} meters over {args.days:g} days "
            f"({made:.0f} s to make or count); load average {_load()} on {os.cpu_count()} CPUs"
        )
        times = []
        for run in range(args.runs):
            folder = Path(tmp) / f"run{run}"
            if args.pipeline_only:
                times.append(pipeline_only(fleet, recording, telegrams, folder))
            else:
                times.append(one_run(fleet, recording, telegrams, folder, args.daemon_args))
        what = "CPU seconds of the pipeline" if args.pipeline_only else "s (target: under 120 s)"
        if args.runs > 1:
            print(f"best {min(times):.1f}, median {statistics.median(times):.1f} {what} of {args.runs} runs")


if __name__ == "__main__":
    main()
