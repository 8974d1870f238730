"""The simulated fleet: real telegrams the protocol core decrypts with the bundled keys; ground truth."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from itertools import islice, pairwise

import pytest

from gateway.clock import ManualClock
from gateway.decoders import decode_reading
from gateway.frame import LinkMode
from gateway.radio.simulator import (
    EXAMPLE_KEYS_PATH,
    FORMATS,
    FORMATS_169,
    FORMATS_868,
    AcceleratedClock,
    MeterFormat,
    SimulatedFleet,
    SimulatorSource,
    encoder,
    example_keys_toml,
    load_example_keys,
)
from gateway.reading import Alarm
from gateway.wmbus.errors import CrcError, DecryptionError, KeyMissingError
from gateway.wmbus.phl import FrameFormat, strip_link_crcs
from gateway.wmbus.telegram import parse_telegram

START = datetime(2026, 9, 30, 22, 30, tzinfo=UTC)  # 90 minutes before a month end


def _fleet(**options: object) -> SimulatedFleet:
    return SimulatedFleet(1, 36, ManualClock(START), start=START, **options)  # type: ignore[arg-type]


def test_bundled_example_keys_are_the_default_fleets() -> None:
    assert EXAMPLE_KEYS_PATH.read_text() == example_keys_toml()
    assert "EXAMPLE KEYS" in EXAMPLE_KEYS_PATH.read_text()
    fleet = _fleet()
    keys = load_example_keys()
    assert dict(keys.items()) == fleet.keys()
    encrypted = [m for m in fleet.meters if FORMATS[m.format].encrypted]
    assert len(keys) == len(encrypted) > 0


def test_fleet_is_deterministic_and_mixed() -> None:
    first, second = _fleet(), _fleet()
    assert first.meters == second.meters
    assert [tx.data for tx in islice(first.transmissions(), 200)] == [
        tx.data for tx in islice(second.transmissions(), 200)
    ]
    assert {m.format for m in first.meters} == set(FORMATS_868)
    assert len({m.meter_id for m in first.meters}) == 36
    assert SimulatedFleet(2, 36, ManualClock(START), start=START).meters != first.meters


def test_every_telegram_decodes_with_the_bundled_keys_and_matches_the_truth() -> None:
    fleet = _fleet()
    keys = load_example_keys()
    until = START + timedelta(hours=3)  # crosses the month end at midnight; every meter sends in 15 min
    seen: set[str] = set()
    alarms_seen: set[Alarm] = set()
    for tx in fleet.transmissions(until):
        telegram = parse_telegram(tx.data, keys.lookup)
        reading = decode_reading(telegram, tx.at)
        meter = fleet.meter(tx.meter_id)
        assert telegram.meter_id == meter.meter_id
        assert telegram.encrypted is FORMATS[meter.format].encrypted
        assert reading.decoder == meter.decoder
        if tx.copy:
            continue  # a copy carries the original's content, sent a little later
        assert reading.total_m3 == pytest.approx(fleet.reported_index_m3(meter.meter_id, tx.at), abs=1e-9)
        boundary, stored = fleet.month_end(tx.at)
        assert reading.target_m3 == pytest.approx(fleet.reported_index_m3(meter.meter_id, boundary), abs=1e-9)
        assert reading.target_date == stored
        expected_alarms = fleet.active_alarms(meter.meter_id, tx.at) & {Alarm.LEAK, Alarm.BACKFLOW}
        assert expected_alarms <= reading.alarms
        alarms_seen |= reading.alarms
        seen.add(meter.meter_id)
    assert seen == {m.meter_id for m in fleet.meters}
    assert {date(2026, 8, 31), date(2026, 9, 30)} == {fleet.month_end(START)[1], fleet.month_end(until)[1]}


def test_encryption_is_real() -> None:
    fleet = _fleet()
    for meter in fleet.meters:
        if meter.key is None:
            continue
        tx = next(tx for tx in fleet.transmissions() if tx.meter_id == meter.meter_id)
        with pytest.raises(KeyMissingError):
            parse_telegram(tx.data, None)
        with pytest.raises(DecryptionError):
            parse_telegram(tx.data, bytes(16))


def test_ground_truth_consumption_alarms_and_duplicates() -> None:
    fleet = _fleet(alarm_rate_per_year=60.0, duplicate_rate=0.2, repeat_rate=0.1)
    month = timedelta(days=31)
    for meter in fleet.meters:
        values = [
            fleet.true_index_m3(meter.meter_id, START + timedelta(hours=h)) for h in range(0, 24 * 31, 7)
        ]
        assert all(b >= a for a, b in pairwise(values))
        if meter.daily_m3 == 0 and not any(a.leak_m3h for a in meter.alarms):
            assert values[0] == values[-1]
    leaks = [a for a in fleet.injected_alarms if a.alarm is Alarm.LEAK and a.end < START + month]
    assert leaks and {a.alarm for a in fleet.injected_alarms} == {Alarm.LEAK, Alarm.BACKFLOW}
    leak = leaks[0]
    meter = fleet.meter(leak.meter_id)
    draw = meter.daily_m3 * (leak.end - leak.start).total_seconds() / 86400
    grown = fleet.true_index_m3(leak.meter_id, leak.end) - fleet.true_index_m3(leak.meter_id, leak.start)
    assert grown > leak.leak_m3h * (leak.end - leak.start).total_seconds() / 3600 + draw * 0.5 - 1e-9

    sent = list(fleet.transmissions(START + timedelta(hours=2)))
    copies = [tx for tx in sent if tx.copy]
    assert copies and len(copies) == len(fleet.injected_duplicates) == fleet.counters.duplicated
    originals = {(tx.meter_id, tx.at): tx.data for tx in sent if not tx.copy}
    for duplicate, copy in zip(fleet.injected_duplicates, copies, strict=False):
        assert originals[(duplicate.meter_id, duplicate.original_at)] in {c.data for c in copies}
        assert copy.link_mode in (LinkMode.T1, LinkMode.C1)
    assert fleet.counters.lost > 0


async def test_source_runs_a_month_on_a_virtual_clock() -> None:
    clock = ManualClock(START)
    fleet = SimulatedFleet(3, 4, clock, start=START, interval_scale=20.0, fast_meters=0)
    until = START + timedelta(days=31)
    source = SimulatorSource(fleet, "sim", until=until)
    frames = [frame async for frame in source.frames()]
    assert frames and all(b.received_at >= a.received_at for a, b in pairwise(frames))
    assert clock.now() == frames[-1].received_at and clock.now() > until - timedelta(hours=4)
    assert source.stats.frames == len(frames) == fleet.counters.sent + fleet.counters.duplicated
    assert {f.source for f in frames} == {"sim"} and all(f.rssi_dbm is not None for f in frames)


async def test_accelerated_clock_paces_the_source() -> None:
    clock = AcceleratedClock(START, speed=20000.0)
    fleet = SimulatedFleet(1, 8, clock, start=START, fast_meters=0)
    source = SimulatorSource(fleet)
    frames = source.frames()
    got = [await asyncio.wait_for(anext(frames), 5) for _ in range(5)]
    assert all(frame.received_at >= START for frame in got)
    lag = [
        abs((frame.received_at - tx.at).total_seconds())
        for frame, tx in zip(got, fleet.transmissions(), strict=False)
    ]
    assert max(lag) < 600  # within a few simulated minutes of its schedule


def test_injected_alarms_reach_the_decoded_reading() -> None:
    fleet = _fleet(alarm_rate_per_year=30.0)
    keys = fleet.keys()
    checked = set()
    for alarm in fleet.injected_alarms[:12]:
        meter = fleet.meter(alarm.meter_id)
        middle = alarm.start + (alarm.end - alarm.start) / 2
        before = alarm.start - timedelta(minutes=1)
        raised = decode_reading(parse_telegram(fleet.telegram(meter, middle, 1, 1), keys.get), middle)
        quiet = decode_reading(parse_telegram(fleet.telegram(meter, before, 2, 2), keys.get), before)
        assert alarm.alarm in raised.alarms
        if not fleet.active_alarms(meter.meter_id, before):
            assert alarm.alarm not in quiet.alarms
        checked.add((meter.format, alarm.alarm))
    assert {fmt for fmt, _ in checked} == {MeterFormat.OMS_MODE5, MeterFormat.ELL_AES_CTR}


# --------------------------------------------------------------------------------------------------
# 169 MHz: a fleet of N-mode meters sending frame format B


def test_an_n_mode_fleet_sends_format_b_on_its_channel_and_decodes_to_the_truth() -> None:
    fleet = _fleet(n_mode=LinkMode.N1D)
    assert {m.format for m in fleet.meters} == set(FORMATS_169)
    assert {m.link_mode for m in fleet.meters} == {LinkMode.N1D}
    keys = fleet.keys()
    assert len(keys) == 36  # every 169 MHz format here is encrypted
    checked = 0
    for tx in fleet.transmissions(START + timedelta(hours=2)):
        assert tx.link_mode is LinkMode.N1D and tx.frame_format_b
        on_air = tx.on_air
        assert on_air[0] == len(on_air) - 1  # format B: L counts the CRCs too
        assert strip_link_crcs(on_air, FrameFormat.B) == (tx.data, FrameFormat.B)
        reading = decode_reading(parse_telegram(on_air, keys.get, link_crcs=True), tx.at)
        assert reading.decoder == fleet.meter(tx.meter_id).decoder
        if not tx.copy:
            assert reading.total_m3 == pytest.approx(fleet.reported_index_m3(tx.meter_id, tx.at), abs=1e-9)
            boundary, stored = fleet.month_end(tx.at)
            target = fleet.reported_index_m3(tx.meter_id, boundary)
            assert reading.target_m3 == pytest.approx(target, abs=1e-9)
            assert reading.target_date == stored
        checked += 1
    assert checked > 36
    # the 868 MHz formats still send format A
    tx = next(_fleet().transmissions())
    assert not tx.frame_format_b and strip_link_crcs(tx.on_air, FrameFormat.A) == (tx.data, FrameFormat.A)


def test_format_b_of_long_frames_has_a_third_block() -> None:
    body = bytes(range(256))[:199]
    frame = bytes([len(body)]) + body
    on_air = encoder.format_b(frame)
    assert on_air[0] == len(on_air) - 1 == len(frame) + 3  # two CRCs
    assert strip_link_crcs(on_air, FrameFormat.B) == (frame, FrameFormat.B)
    broken = bytearray(on_air)
    broken[150] ^= 1  # in the third block: its own CRC catches it
    with pytest.raises(CrcError):
        strip_link_crcs(bytes(broken), FrameFormat.B)


async def test_the_simulated_n_mode_receiver_strips_format_b_with_the_stack() -> None:
    fleet = _fleet(n_mode=LinkMode.N2A)
    source = SimulatorSource(fleet, until=START + timedelta(hours=1))
    frames = [frame async for frame in source.frames()]
    expected = list(_fleet(n_mode=LinkMode.N2A).transmissions(START + timedelta(hours=1)))
    assert [frame.data for frame in frames] == [tx.data for tx in expected]
    assert {frame.link_mode for frame in frames} == {LinkMode.N2A}
    assert source.stats.frames == len(frames) > 0 and source.stats.error_total == 0


def test_an_n_mode_fleet_needs_an_n_sub_mode() -> None:
    with pytest.raises(ValueError, match="N sub-mode"):
        _fleet(n_mode=LinkMode.T1)
