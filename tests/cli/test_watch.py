"""``wmbus-gateway watch``: what reaches a real broker, one line a message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gateway.cli.watch import describe
from gateway.json_codec import dumps
from tests.servers import Mosquitto, free_port

PYTHON = [sys.executable, "-m", "gateway"]


def test_each_kind_of_message_reads_as_one_line() -> None:
    reading = describe(
        "wmbus/gw1/meters/12345678/reading",
        dumps({"received_at": "2026-11-20T10:00:00+00:00", "manufacturer": "KAM", "decoder": "kamwater",
               "total_m3": 12.5, "rssi_dbm": -71.2, "alarms": ["leak"]}),
    )
    assert reading == "2026-11-20 10:00:00  12345678 KAM kamwater  12.500 m3  -71 dBm  alarms: leak"
    monthly = describe(
        "wmbus/gw1/meters/12345678/monthly/2026-10",
        dumps({"month": "2026-10", "index_m3": 10.25, "source": "estimated"}),
    )
    assert monthly is not None and "12345678 2026-10" in monthly and "10.250 m3 (estimated)" in monthly
    event = describe(
        "wmbus/gw1/meters/ABCDEF01/event",
        dumps({"at": "2026-11-20T10:05:00+00:00", "event": "leak", "state": "raised"}),
    )
    assert event is not None and "abcdef01 leak raised" in event  # the id in its canonical form
    status = describe("wmbus/gw1/status", dumps({"state": "online", "coverage": {"read_ratio": 0.75}}))
    assert status == "status   gw1 online  75% of the meters read this month"
    assert describe("wmbus/gw1/raw", b"\x01\x02") == "raw      gw1  (not JSON: 2 bytes)"


def test_other_topics_and_cleared_ones_are_not_printed() -> None:
    assert describe("homeassistant/sensor/x/config", dumps({"name": "x"})) is None
    assert describe("wmbus/gw1/meters/12345678/reading", b"") is None  # a cleared retained message
    assert describe("wmbus/gw1/meters/not-an-id/reading", dumps({})) is None
    assert describe("other/gw1/status", dumps({"state": "online"}), prefix="wmbus") is None


def test_watch_prints_what_a_running_gateway_delivered_to_the_broker(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    watcher = subprocess.Popen(
        [*PYTHON, "watch", "--mqtt", mosquitto.url, "--count", "3", "--duration", "120"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        gateway = subprocess.run(
            [*PYTHON, "run", "--mqtt", mosquitto.url, "--state-dir", str(tmp_path / "state"),
             "--speed", "60", "--duration", "8"],
            capture_output=True, text=True, timeout=120, check=False, env={**os.environ},
        )
        assert gateway.returncode == 0, gateway.stderr
        out, err = watcher.communicate(timeout=120)
    finally:
        watcher.kill()
    assert watcher.returncode == 0, err
    lines = [line for line in out.splitlines() if not line.startswith("status")]
    assert len(lines) == 3, out
    assert any(" m3" in line for line in lines), out
    assert out.splitlines()[0].startswith("status   gateway online")  # the retained status comes first


def test_watch_names_a_broker_it_cannot_reach() -> None:
    port = free_port()
    result = subprocess.run(
        [*PYTHON, "watch", "--mqtt", f"mqtt://127.0.0.1:{port}", "--duration", "5"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 1
    assert f"error: broker mqtt://127.0.0.1:{port}:" in result.stderr
