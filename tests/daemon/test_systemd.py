"""The systemd unit (sandboxing score, notify, watchdog), the udev rule, and the notify datagrams."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.billing.meters import MeterEntry, Provisioning
from gateway.billing.state import StateStore
from gateway.daemon.sdnotify import SystemdNotifier
from tests.daemon.test_e2e import rtl_wmbus_line
from tests.daemon.test_pipeline import encrypted_water_vectors

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "wmbus-gateway.service"
RULES = REPO / "systemd" / "99-wmbus-dongles.rules"
SDR_DROP_IN = REPO / "systemd" / "wmbus-gateway.service.d" / "sdr.conf"
MAX_EXPOSURE = 1.5


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def security(unit: Path) -> tuple[float, str]:
    """``systemd-analyze security --offline``: the overall exposure and the report."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("systemd-analyze is missing (scripts/bootstrap.sh --test installs it)")
        pytest.skip("systemd-analyze not installed")
    result = subprocess.run(
        [tool, "security", "--offline=true", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    report = result.stdout + result.stderr
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", report)
    assert match is not None, report
    return float(match.group(1)), report


def test_exposure_score_at_most_one_and_a_half() -> None:
    score, _report = security(UNIT)
    assert score <= MAX_EXPOSURE
    assert "AF_NETLINK" not in " ".join(unit_settings()["RestrictAddressFamilies"])  # only SDR users need it


def test_sdr_drop_in_allows_netlink_for_libusb_and_keeps_the_score(tmp_path: Path) -> None:
    """The drop-in's [Service] lines merged into the unit, as systemd merges a drop-in."""
    drop_in = [
        line
        for line in SDR_DROP_IN.read_text().splitlines()
        if line.strip() and not line.startswith(("#", "["))
    ]
    assert drop_in == ["RestrictAddressFamilies=AF_NETLINK"]  # an allow-list adds to the unit's
    merged = tmp_path / "wmbus-gateway.service"
    merged.write_text(UNIT.read_text().replace("[Install]", "\n".join(drop_in) + "\n\n[Install]"))
    score, report = security(merged)
    assert score <= MAX_EXPOSURE
    assert "Service cannot allocate packet sockets" in report and "cannot allocate exotic sockets" in report


def test_unit_lifecycle_settings() -> None:
    settings = unit_settings()
    assert settings["Type"] == ["notify"]
    assert float(settings["WatchdogSec"][0]) > 0
    assert settings["Restart"] == ["on-failure"]
    assert settings["KillSignal"] == ["SIGTERM"]
    assert settings["StateDirectory"] == ["wmbus-gateway"]
    assert settings.get("DynamicUser") == ["yes"] or settings["User"] == ["wmbus-gateway"]
    assert "-HUP" in settings["ExecReload"][0]
    exec_start = settings["ExecStart"][0]
    assert " run " in exec_start and "--state-dir /var/lib/wmbus-gateway" in exec_start
    # the dongles' group, and the device classes of USB serial dongles and USB device nodes (reset)
    assert settings["SupplementaryGroups"] == ["wmbus"]
    assert {"char-ttyUSB rw", "char-ttyACM rw", "char-usb_device rw"} <= set(settings["DeviceAllow"])


def test_udev_rule_gives_each_dongle_a_stable_link_and_the_group() -> None:
    rules = [line for line in RULES.read_text().splitlines() if line.strip() and not line.startswith("#")]
    by_id: dict[tuple[str, str], list[str]] = {}
    for rule in rules:
        vendor = re.search(r'ATTRS?\{idVendor\}=="([0-9a-f]{4})"', rule)
        product = re.search(r'ATTRS?\{idProduct\}=="([0-9a-f]{4})"', rule)
        assert vendor and product, rule
        assert 'GROUP="wmbus"' in rule and 'MODE="0660"' in rule, rule
        # every clause is KEY op "value", separated by commas
        for clause in rule.split(", "):
            assert re.fullmatch(r'[A-Z_]+(\{[^}]+\})?(==|!=|=|\+=|:=)"[^"]*"', clause.strip()), clause
        by_id.setdefault((vendor.group(1), product.group(1)), []).append(rule)
    links = {
        ("10c4", "87ed"): "wmbus-im871a",
        ("04b4", "0003"): "wmbus-iu891a",
        ("0403", "6001"): "wmbus-amb8465",
        ("03eb", "204b"): "wmbus-cul",
    }
    for usb_id, link in links.items():
        tty = [r for r in by_id[usb_id] if 'SUBSYSTEM=="tty"' in r]
        usb = [r for r in by_id[usb_id] if 'SUBSYSTEM=="usb"' in r]
        assert len(tty) == 1 and f'SYMLINK+="{link}"' in tty[0]
        assert len(usb) == 1  # the USB node too, for the health monitor's reset
    # the AMB8465 (FTDI) and the iU891A (Cypress) have generic ids: the product string narrows them down
    for generic in (("0403", "6001"), ("04b4", "0003")):
        assert all("{product}" in rule for rule in by_id[generic])


def receive(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def test_notifier_sends_datagrams(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(path))
    server.settimeout(2)
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "30000000"})
    try:
        assert notifier.enabled and notifier.watchdog_s == 30.0
        assert notifier.ready("3 sources up")
        assert receive(server) == "READY=1\nSTATUS=3 sources up"
        assert notifier.watchdog()
        assert receive(server) == "WATCHDOG=1"
        assert notifier.stopping()
        assert receive(server) == "STOPPING=1"
    finally:
        notifier.close()
        server.close()


def test_notifier_abstract_socket() -> None:
    name = f"wmbus-test-{os.getpid()}"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind("\0" + name)
    server.settimeout(2)
    notifier = SystemdNotifier({"NOTIFY_SOCKET": "@" + name})
    try:
        assert notifier.ready()
        assert receive(server) == "READY=1"
    finally:
        notifier.close()
        server.close()


def test_notifier_is_silent_outside_systemd() -> None:
    notifier = SystemdNotifier({})
    assert not notifier.enabled
    assert notifier.watchdog_s is None
    assert notifier.ready() is False
    other_pid = SystemdNotifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"})
    assert other_pid.watchdog_s is None  # the watchdog is meant for another process


def test_daemon_lifecycle_ready_watchdog_reload_and_graceful_stop(tmp_path: Path) -> None:
    """The real daemon process: READY=1 once the radio is up, WATCHDOG=1, SIGHUP reload, SIGTERM flush."""
    known, later = encrypted_water_vectors()[:2]
    at = datetime(2026, 9, 1, 12, tzinfo=UTC)
    recording = tmp_path / "air.msg"
    recording.write_text(
        rtl_wmbus_line(at, known.telegram, known.meter_id)
        + "\n"
        + rtl_wmbus_line(at, later.telegram, later.meter_id)
        + "\n"
    )
    state = tmp_path / "state"
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'[gateway]\nid = "lifecycle"\nstate_dir = "{state}"\n\n'
        f'[[radio]]\ntype = "rtl_wmbus"\ncommand = "cat {recording}; exec sleep 600"\n'
    )
    assert known.key is not None and later.key is not None
    Provisioning(state / "meters.toml", state / "keys.toml").add(MeterEntry(known.meter_id), known.key)

    notify_path = tmp_path / "notify"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(notify_path))
    server.settimeout(10)
    env = {**os.environ, "NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "300000"}
    env.pop("WATCHDOG_PID", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "run", "--config", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        messages: list[str] = []

        def wait_for(field: str) -> None:
            while not any(field in message.split("\n") for message in messages):
                messages.append(server.recv(4096).decode())

        wait_for("READY=1")
        wait_for("WATCHDOG=1")
        # provision the second meter while running, then reload
        Provisioning(state / "meters.toml", state / "keys.toml").add(MeterEntry(later.meter_id), later.key)
        process.send_signal(signal.SIGHUP)
        wait_for("RELOADING=1")
        messages.clear()
        wait_for("READY=1")
        process.send_signal(signal.SIGTERM)
        wait_for("STOPPING=1")
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        server.close()
    assert process.returncode == 0, err
    assert "reloaded: 2 meters, 2 keys" in err
    assert known.meter_id in out  # the reading was printed (no MQTT configured)
    store = StateStore(state / "state.db")
    try:
        assert store.meter_ids() == {known.meter_id, later.meter_id}
        assert store.last_reading(known.meter_id) is not None  # flushed on stop
    finally:
        store.close()
