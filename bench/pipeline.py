"""The daemon's throughput (fast replay -> uplink outbox) and its resident memory with 10,000 meters.

    .venv/bin/python -m bench.pipeline [--telegrams 20000] [--meters 10000]

1. Throughput: a recording of simulated telegrams (real encryption, four formats) is replayed by the
   daemon, in process, as fast as it can: parse, decrypt, dedup, decode, billing state, and every
   publication stored in the durable MQTT outbox (no broker: the queue only fills). Wall and CPU time.
2. Memory: ``wmbus-gateway run --replay`` in a child process with N provisioned meters (keys and all)
   and a recording in which every meter is heard three times; its peak resident set size (VmHWM).
   Target: under 60 MB for 10,000 meters.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.billing.meters import MeterEntry, Provisioning
from gateway.clock import ManualClock
from gateway.daemon.config import GatewayConfig, MqttConfig
from gateway.daemon.runner import Daemon, RunOptions
from gateway.radio.simulator import SimulatedFleet
from gateway.uplink.outbox import Outbox

START = datetime(2026, 9, 1, tzinfo=UTC)  # a month boundary: the simulated registers start there


def rtl_wmbus_line(at: datetime, data: bytes, meter_id: str) -> str:
    stamp = at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return f"T1;1;1;{stamp};97;148;{meter_id};0x{data.hex()}"


def provision(fleet: SimulatedFleet, state: Path) -> None:
    keys = fleet.keys()
    Provisioning(state / "meters.toml", state / "keys.toml").add_many(
        (MeterEntry(meter.meter_id), keys.get(meter.meter_id)) for meter in fleet.meters
    )


def air_recording(fleet: SimulatedFleet, path: Path, telegrams: int) -> int:
    """The fleet's first ``telegrams`` transmissions (copies included) as rtl_wmbus lines."""
    count = 0
    with path.open("w") as out:
        for tx in fleet.transmissions():
            out.write(rtl_wmbus_line(tx.at, tx.data, tx.meter_id) + "\n")
            count += 1
            if count >= telegrams:
                break
    return count


def every_meter_recording(fleet: SimulatedFleet, path: Path, rounds: int) -> int:
    """Each meter heard ``rounds`` times, an hour apart."""
    count = 0
    with path.open("w") as out:
        for round_number in range(rounds):
            for meter in fleet.meters:
                at = START + timedelta(hours=round_number, seconds=meter.index * 0.3)
                data = fleet.telegram(meter, at, round_number, round_number)
                out.write(rtl_wmbus_line(at, data, meter.meter_id) + "\n")
                count += 1
    return count


def throughput(telegrams: int, meters: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        fleet = SimulatedFleet(seed=5, meter_count=meters, clock=ManualClock(START), start=START)
        recording = folder / "air.msg"
        made = time.perf_counter()
        lines = air_recording(fleet, recording, telegrams)
        made = time.perf_counter() - made
        state = folder / "state"
        provision(fleet, state)
        # an unreachable broker: publications stop in the durable outbox, which is what is measured
        config = GatewayConfig(state_dir=state, mqtt=MqttConfig(url="mqtt://127.0.0.1:9"))
        daemon = Daemon(config, RunOptions(replay=recording), printer=lambda line: None)
        wall, cpu = time.perf_counter(), time.process_time()
        asyncio.run(daemon.run())
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        counters = daemon.pipeline.counters
        reopened = Outbox(config.outbox_path)  # the daemon closed its own on the way out
        queued = reopened.stats().to_json()
        reopened.close()
        print(f"recording: {lines} telegrams of {meters} meters (made in {made:.1f} s)")
        print(
            f"replay -> outbox: {counters.frames} frames, {counters.readings} readings, "
            f"{counters.duplicates} duplicates, {counters.publications} publications, "
            f"errors {counters.errors}"
        )
        print(f"  wall {wall:.2f} s: {counters.frames / wall:,.0f} telegrams/s")
        print(f"  CPU  {cpu:.2f} s: {counters.frames / cpu:,.0f} telegrams/s per core")
        print(f"  outbox: {queued}")


# The run command on a bare typer application, without gateway/cli/app.py (which, since it imports only
# the module of the command it runs, should cost the same).
RUN_ONLY = (
    "import sys, typer; from gateway.cli import run; app = typer.Typer(); app.callback()(lambda: None); "
    "run.register(app); app(sys.argv[1:], prog_name='wmbus-gateway')"
)


def peak_rss_mb(command: list[str]) -> tuple[float, float]:
    """Run ``command`` to its end; (peak resident set size in MB, seconds).

    The peak is the child's own VmHWM, polled from /proc while it runs. (ru_maxrss from wait4 would not
    do: Linux starts a child's ru_maxrss at the parent's resident size at fork, so a child of this big
    bench process would report at least the bench's own size.)
    """
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    status_file = Path(f"/proc/{child.pid}/status")
    peak_kb = 0
    while child.poll() is None:
        with contextlib.suppress(OSError):
            for line in status_file.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak_kb = max(peak_kb, int(line.split()[1]))
        time.sleep(0.02)
    elapsed = time.perf_counter() - started
    stderr = child.stderr.read() if child.stderr else ""
    if child.returncode != 0:
        raise SystemExit(f"daemon failed: {stderr[-2000:]}")
    return peak_kb / 1024, elapsed


def memory(meters: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        fleet = SimulatedFleet(seed=9, meter_count=meters, clock=ManualClock(START), start=START)
        recording = folder / "every-meter.msg"
        lines = every_meter_recording(fleet, recording, rounds=3)
        idle = folder / "idle.msg"
        idle.write_text("\n")
        print(f"memory: {meters} provisioned meters (keys and all), {lines} telegrams heard, 3 per meter")
        for label, prefix in (
            ("wmbus-gateway run", [sys.executable, "-m", "gateway"]),
            ("run command alone", [sys.executable, "-c", RUN_ONLY]),
        ):
            for what, replay in (("provisioned, nothing heard", idle), ("every meter heard", recording)):
                state = folder / f"state-{len(label)}-{len(what)}"
                provision(fleet, state)
                command = [*prefix, "run", "--replay", str(replay), "--state-dir", str(state)]
                peak_mb, elapsed = peak_rss_mb(command)
                verdict = "OK" if peak_mb < 60 else "over the 60 MB target"
                print(f"  {label:18} {what:27} peak RSS {peak_mb:6.1f} MB ({elapsed:.0f} s) {verdict}")
        for label, code in (
            ("python alone", "pass"),
            ("imports of wmbus-gateway (all commands)", "from gateway.cli.app import app"),
            ("imports of the run command", "import gateway.cli.run"),
        ):
            peak_mb, _ = peak_rss_mb([sys.executable, "-c", code])
            print(f"  baseline: {label:40} {peak_mb:6.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--telegrams", type=int, default=20_000)
    parser.add_argument("--fleet", type=int, default=500, help="meters in the throughput recording")
    parser.add_argument("--meters", type=int, default=10_000, help="provisioned meters for the memory figure")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # the unreachable broker's retries are expected
    throughput(args.telegrams, args.fleet)
    memory(args.meters)


if __name__ == "__main__":
    main()
