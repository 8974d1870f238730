"""A simulated fleet provisioned and run through the gateway daemon on its virtual clock, as several
end-to-end tests need it."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from gateway.billing.meters import MeterEntry, Provisioning
from gateway.clock import ManualClock
from gateway.daemon.config import GatewayConfig
from gateway.daemon.runner import Daemon
from gateway.publication import Publication
from gateway.radio.simulator import SimulatedFleet, SimulatorSource


def provision(state: Path, fleet: SimulatedFleet) -> None:
    """Every meter of the fleet in the state folder's meters and keys files."""
    Provisioning(state / "meters.toml", state / "keys.toml").add_many(
        (MeterEntry(m.meter_id), fleet.keys().get(m.meter_id)) for m in fleet.meters
    )


def run_fleet(
    fleet: SimulatedFleet,
    state: Path,
    clock: ManualClock,
    until: datetime,
    config: GatewayConfig | None = None,
) -> tuple[Daemon, list[Publication]]:
    """Provision the fleet, run the daemon on it until ``until``; the daemon and what it published."""
    provision(state, fleet)
    published: list[Publication] = []
    daemon = Daemon(
        config or GatewayConfig(state_dir=state),
        sources=[SimulatorSource(fleet, until=until)],
        clock=clock,
        printer=lambda line: None,
        on_publication=published.append,
    )
    assert asyncio.run(daemon.run()) == 0
    return daemon, published
