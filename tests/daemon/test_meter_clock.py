"""Meter clocks around the daylight-saving changes in Europe/Rome (issue 16 item 8).

A meter's date-time (type F, EN 13757-3 Annex A) has no zone. Before, it was published as it came and
the ingester read it in its default zone, UTC: in the repeated autumn hour two readings got the same
time stamp (02:30 and, an hour later, 02:30 again) and the store kept one. Now the gateway reads it as
wall time in the billing zone, the occurrence nearest the receive time (docs/records.md), and
publishes it with its offset; the ingester reads an old gateway's offset-less time the same way.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from gateway.billing.meters import MeterEntry, Provisioning
from gateway.clock import ManualClock, meter_clock_instant
from gateway.daemon.config import GatewayConfig
from gateway.daemon.runner import Daemon, RunOptions
from gateway.ingest.lineproto import reading_lines
from gateway.publication import Publication
from gateway.radio.simulator import SimulatedFleet, encoder
from gateway.radio.simulator.fleet import MeterFormat
from gateway.uplink.topics import parse_topic
from tests.daemon.test_e2e import rtl_wmbus_line

ROME = ZoneInfo("Europe/Rome")
AUTUMN = datetime(2026, 10, 24, 23, 0, tzinfo=UTC)  # 01:00 CEST; at 01:00 UTC 03:00 CEST becomes 02:00 CET
SPRING = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)  # 00:00 CET; at 01:00 UTC 02:00 CET becomes 03:00 CEST


def type_f(wall: datetime, *, summer: bool) -> bytes:
    """A date-time record, type F: minute | IV, hour | SU (bit 7), day | year low 3, month | year high 4."""
    year = wall.year % 100
    data = bytes(
        [
            wall.minute,
            wall.hour | (0x80 if summer else 0),
            wall.day | (year & 0x07) << 5,
            wall.month | (year >> 3) << 4,
        ]
    )
    return b"\x04\x6d" + data


def _replay(tmp_path: Path, lines: list[str], meters: list[tuple[str, bytes | None]]) -> list[Publication]:
    state = tmp_path / "state"
    Provisioning(state / "meters.toml", state / "keys.toml").add_many(
        (MeterEntry(meter_id), key) for meter_id, key in meters
    )
    recording = tmp_path / "air.msg"
    recording.write_text("\n".join(lines) + "\n")
    published: list[Publication] = []
    config = GatewayConfig(gateway_id="clock", state_dir=state, timezone="Europe/Rome")
    daemon = Daemon(
        config, RunOptions(replay=recording), printer=lambda line: None, on_publication=published.append
    )
    assert asyncio.run(daemon.run()) == 0
    return [p for p in published if p.kind == "reading"]


def _telegrams(
    start: datetime, minutes: range, *, late_switch: bool = False
) -> tuple[list[str], list[tuple[str, bytes | None]]]:
    """Two mode 5 meters, one every 20 minutes: meter A sets the summer-time bit, meter B never does.
    ``late_switch``: meter B's clock switches an hour late (in the skipped hour it says 02:xx)."""
    fleet = SimulatedFleet(seed=3, meter_count=8, clock=ManualClock(start), start=start)
    keys = fleet.keys()
    meters = [m for m in fleet.meters if m.format is MeterFormat.OMS_MODE5][:2]
    lines: list[str] = []
    for access, minute in enumerate(minutes):
        at = start + timedelta(minutes=minute)
        for meter, sets_bit in zip(meters, (True, False), strict=True):
            local = at.astimezone(ROME)
            if late_switch and not sets_bit and at < SPRING + timedelta(hours=3):
                local = at.astimezone(ROME) - (local.dst() or timedelta())
            records = encoder.volume_litres_int32(1000 + minute) + type_f(
                local.replace(tzinfo=None), summer=sets_bit and bool(local.dst())
            )
            key = keys[meter.meter_id]
            assert key is not None
            data = encoder.oms_mode5(meter.m_and_a, encoder.ecb(key), access % 256, 0, records)
            lines.append(rtl_wmbus_line(at, data, meter.meter_id))
    return lines, [(m.meter_id, keys.get(m.meter_id)) for m in meters]


def _stamps(readings: list[Publication]) -> dict[str, list[tuple[datetime, int]]]:
    """Per meter: (receive time, the time stamp the ingester gives the point in its default zone, UTC)."""
    out: dict[str, list[tuple[datetime, int]]] = {}
    for reading in readings:
        topic = parse_topic(f"wmbus/clock/meters/{reading.meter_id}/reading")
        document = {"schema": "wmbus-gateway/reading/1", **reading.payload}
        point = reading_lines(topic, document)[0]
        out.setdefault(reading.meter_id, []).append(
            (datetime.fromisoformat(str(reading.payload["received_at"])), int(point.rsplit(" ", 1)[1]))
        )
    return out


def test_the_repeated_autumn_hour_gives_every_reading_its_own_time(tmp_path: Path) -> None:
    lines, meters = _telegrams(AUTUMN, range(0, 200, 20))  # 01:00 CEST ... 02:40 CET, 02:xx twice
    readings = _replay(tmp_path, lines, meters)
    assert len(readings) == 2 * 10
    walls = [r.payload["meter_datetime"] for r in readings if r.meter_id == meters[1][0]]
    assert "2026-10-25T02:20:00+02:00" in walls and "2026-10-25T02:20:00+01:00" in walls
    for meter_id, stamps in _stamps(readings).items():
        assert len({stamp for _, stamp in stamps}) == len(stamps), f"{meter_id}: two readings, one time"
        # the meter's clock is the receive time (to the minute): the point is stamped at that instant
        assert all(stamp == int(received.timestamp() * 1000) for received, stamp in stamps)


def test_the_skipped_spring_hour_is_read_at_the_nearest_instant(tmp_path: Path) -> None:
    # Meter B's clock has not switched yet: it says 02:20 (an hour that does not exist in Rome) at
    # 01:20 UTC; meter A says 03:20 with the summer-time bit.
    lines, meters = _telegrams(SPRING, range(0, 200, 20), late_switch=True)
    readings = _replay(tmp_path, lines, meters)
    assert len(readings) == 2 * 10
    for stamps in _stamps(readings).values():
        assert [stamp for _, stamp in stamps] == [int(received.timestamp() * 1000) for received, _ in stamps]


def test_the_rule_on_its_own() -> None:
    received = datetime(2026, 10, 25, 0, 31, tzinfo=UTC)
    assert meter_clock_instant(datetime(2026, 10, 25, 2, 30), ROME, received).utcoffset() == timedelta(
        hours=2
    )
    later = received + timedelta(hours=1)
    assert meter_clock_instant(datetime(2026, 10, 25, 2, 30), ROME, later).utcoffset() == timedelta(hours=1)
    skipped = meter_clock_instant(
        datetime(2026, 3, 29, 2, 30), ROME, datetime(2026, 3, 29, 1, 31, tzinfo=UTC)
    )
    assert skipped == datetime(2026, 3, 29, 1, 30, tzinfo=UTC) and skipped.isoformat().endswith(
        "03:30:00+02:00"
    )
    plain = meter_clock_instant(datetime(2026, 7, 1, 12, 0), ROME, datetime(2026, 7, 1, 20, 0, tzinfo=UTC))
    assert plain == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)  # no choice outside the changes
    aware = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert meter_clock_instant(aware, ROME, aware) is aware
