"""169 MHz end to end: N-mode meters' format B telegrams become readings, from the simulator and from
AMB3665 and iM170A sticks (fakes on pseudo-terminals) configured in the gateway's TOML file."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

import pytest

from gateway.clock import ManualClock, SystemClock
from gateway.daemon.config import GatewayConfig, parse_config
from gateway.daemon.runner import Daemon
from gateway.frame import LinkMode
from gateway.publication import Publication
from gateway.radio.simulator import SimulatedFleet
from tests.radio.nmode_fakes import FakeAmb3665, FakeIm170a
from tests.simulated_run import provision, run_fleet

START = datetime(2026, 9, 30, 18, 0, tzinfo=UTC)


def _fleet(clock: ManualClock, mode: LinkMode) -> SimulatedFleet:
    return SimulatedFleet(
        21, 6, clock, start=START, n_mode=mode, loss_rate=0.0, duplicate_rate=0.0, repeat_rate=0.0
    )


def test_the_simulators_n_mode_meters_reach_readings_and_month_ends(tmp_path: Path) -> None:
    clock = ManualClock(START)
    fleet = _fleet(clock, LinkMode.N1C)
    state = tmp_path / "state"
    _, published = run_fleet(
        fleet, state, clock, START + timedelta(hours=12), GatewayConfig(state_dir=state, timezone="UTC")
    )
    readings = [p for p in published if p.kind == "reading"]
    assert {p.meter_id for p in readings} == {m.meter_id for m in fleet.meters}
    assert len(readings) == fleet.counters.sent
    assert {p.payload["decoder"] for p in readings} == {"maddalena", "diehl"}
    monthly = {p.meter_id: p.payload for p in published if p.kind == "monthly" and p.month == "2026-09"}
    assert set(monthly) == {m.meter_id for m in fleet.meters}
    month_end = datetime(2026, 10, 1, tzinfo=UTC)
    for meter_id, payload in monthly.items():
        assert payload["index_m3"] == pytest.approx(fleet.reported_index_m3(meter_id, month_end), abs=0.01)


async def test_amb3665_and_im170a_sticks_from_the_config_file_give_readings(tmp_path: Path) -> None:
    amb = FakeAmb3665(tmp_path, uart_cmd_out=False, rssi_enabled=False)  # as it leaves the factory
    im = FakeIm170a(tmp_path, device_mode=0x01, link_mode=0x12)  # a meter, on channel 3a
    amb.plug()
    im.plug()
    state = tmp_path / "state"
    config = parse_config(
        f"""
[gateway]
state_dir = "{state}"

[[radio]]
type = "amb3665"
device = "{amb.path}"
link_mode = "N1a"

[[radio]]
type = "im170a"
device = "{im.path}"
link_mode = "N1a"
"""
    )
    fleet = _fleet(ManualClock(START), LinkMode.N1A)
    provision(state, fleet)
    sent = list(islice(fleet.transmissions(), 12))
    published: list[Publication] = []
    daemon = Daemon(config, clock=SystemClock(), printer=lambda line: None, on_publication=published.append)
    run = asyncio.create_task(daemon.run())
    try:
        async with asyncio.timeout(30):
            await amb.configured.wait()
            await im.configured.wait()
            for number, tx in enumerate(sent):
                # a third reach both sticks, a third only the AMB3665, a third only the iM170A
                if number % 3 != 1:
                    assert amb.hear(tx.on_air, tx.link_mode, rssi_raw=0xF0)
                if number % 3 != 2:
                    assert im.hear(tx.on_air, tx.link_mode, rssi_raw=0xB0)
                await asyncio.sleep(0.05)
            while len([p for p in published if p.kind == "reading"]) < len(sent):
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)  # a late second copy would show up as a second reading
    finally:
        daemon.stop()
        assert await run == 0
    readings = [p for p in published if p.kind == "reading"]
    assert len(readings) == len(sent)  # the copy from the other stick is a duplicate, published once
    assert daemon.pipeline.counters.duplicates == len(sent) // 3
    for tx, reading in zip(sent, readings, strict=True):
        assert reading.meter_id == tx.meter_id
        assert reading.payload["total_m3"] == pytest.approx(fleet.reported_index_m3(tx.meter_id, tx.at))
    assert {p.payload["source"] for p in readings} == {"amb3665", "im170a"}
    assert sorted(amb.nvm_writes) == [(0x05, b"\x01"), (0x45, b"\x01")]
    assert (im.device_mode, im.link_mode) == (0x00, 0x0A)
