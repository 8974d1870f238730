"""The id on the meter's label, in whatever case it was provisioned, at every edge of the gateway.

Provisioning (``meters add``, ``meters import``, the keys file, an older state file), the daemon's
lookup, dedup, readings and topics, its error counters and status, and ``decode``. The vectors hold no
encrypted meter whose id has a letter in it, so one is built with the simulator's encoder (OMS mode 5,
EN 13757-7) to try the keys file's lookup; everything else is real telegrams of ../shared/vectors.
"""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.billing.dedup import Deduplicator
from gateway.billing.meters import Fleet, MeterEntry
from gateway.billing.monthly_index import MonthlyIndex
from gateway.billing.processor import ReadingProcessor
from gateway.billing.state import StateStore
from gateway.cli.app import app
from gateway.cli.decode import decode_all
from gateway.daemon.config import GatewayConfig
from gateway.daemon.pipeline import Pipeline
from gateway.daemon.runner import STATUS_META_KEY, Daemon, RunOptions
from gateway.decoders import decode_reading
from gateway.frame import LinkMode, ReceivedFrame
from gateway.keys import KeyStore
from gateway.publication import Publication
from gateway.radio.simulator import encoder
from gateway.wmbus.errors import WMBusError
from gateway.wmbus.telegram import parse_telegram
from tests.daemon.test_e2e import rtl_wmbus_line
from tests.servers import Mosquitto
from tests.uplink.helpers import retained
from tests.vectors import Vector, radio_vectors

T0 = datetime(2026, 9, 14, 8, 0, tzinfo=UTC)
HEX_KEY = bytes(range(0x40, 0x50))
runner = CliRunner()


def vector(name: str) -> Vector:
    return next(v for v in radio_vectors() if v.name == name)


def encrypted_hex_meter(access_number: int = 0x21) -> bytes:
    """An OMS mode 5 telegram of meter 1234abcd (12.345 m3), encrypted with HEX_KEY."""
    m_and_a = encoder.address_bytes("1234abcd", "ZRI", 0x01, 0x07)
    records = encoder.volume_litres_int32(12_345)
    return encoder.oms_mode5(m_and_a, encoder.ecb(HEX_KEY), access_number, 0x00, records)


def cli(*args: str, stdin: str | None = None) -> str:
    result = runner.invoke(app, list(args), input=stdin, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


# --------------------------------------------------------------------------------------------------
# Every radio vector: decode, readings and the daemon give the id on the label


def _pipeline(fleet: Fleet) -> tuple[Pipeline, StateStore, list[Publication]]:
    store = StateStore(":memory:")
    published: list[Publication] = []
    pipeline = Pipeline(
        fleet, Deduplicator(120.0), ReadingProcessor(store, autocommit=False), published.append,
        unknown_log=store,
    )
    return pipeline, store, published


def test_every_radio_vector_names_the_label_id_in_decode_readings_and_the_daemon() -> None:
    vectors = radio_vectors()
    out = io.StringIO()
    decode_all(((v.telegram.hex(), v.key.hex() if v.key else None) for v in vectors), None, out)
    printed = [json.loads(line) for line in out.getvalue().splitlines()]
    read = refused = linked = 0
    for v, decoded in zip(vectors, printed, strict=True):
        assert decoded["id"] == v.meter_id, v.name
        # provisioned in upper case, as an installer may type it: still the same meter
        typed = v.meter_id.upper()
        entry = MeterEntry(typed)
        pipeline, store, published = _pipeline(
            Fleet({entry.meter_id: entry}, KeyStore({typed: v.key} if v.key else {}))
        )
        pipeline.handle(ReceivedFrame(v.telegram, LinkMode.T1, -70.0, T0, "test"))
        counters = pipeline.counters
        assert counters.unknown_meter == 0, v.name
        try:
            telegram = parse_telegram(v.telegram, v.key)
        except WMBusError:
            refused += 1
            assert "error" in decoded and published == [], v.name
            assert list(counters.meter_errors) == [v.meter_id], v.name  # the error's identity
            continue
        readings = [p for p in published if p.kind == "reading"]
        assert [p.meter_id for p in readings] == [v.meter_id], v.name
        assert decode_reading(telegram, T0, key=v.key).meter_id == v.meter_id, v.name
        payload = readings[0].payload
        assert payload["meter_id"] == v.meter_id and payload["link_id"] == telegram.link_id, v.name
        assert decoded.get("link_id") == telegram.link_id, v.name
        assert store.last_reading(v.meter_id) is not None, v.name
        read += 1
        linked += telegram.link_id is not None
    print(f"\nradio vectors named by the label id: {read} read + {refused} refused of {len(vectors)}")
    assert read + refused == len(vectors) and refused >= 1 and linked >= 10


# --------------------------------------------------------------------------------------------------
# An encrypted meter without its key is named in the counters and the status


def test_a_meter_without_its_key_is_named_in_the_daemons_counters_and_status(tmp_path: Path) -> None:
    hydrus = vector("085-hydrus-64745666")  # encrypted; its key is not published
    try:
        parse_telegram(hydrus.telegram)
    except WMBusError as error:
        assert error.identity is not None
        link_id = error.identity.link_id  # the repeater that sent it
    assert link_id is not None
    stranger = vector("015-apator172-0014a807")
    state = tmp_path / "state"
    cli("meters", "add", "64745666", "--no-key", "--state-dir", str(state))
    recording = tmp_path / "air.msg"
    lines = [rtl_wmbus_line(T0 + timedelta(minutes=m), hydrus.telegram, "0") for m in range(0, 30, 10)]
    lines.append(rtl_wmbus_line(T0, stranger.telegram, "0"))
    recording.write_text("\n".join(lines) + "\n")
    daemon = Daemon(GatewayConfig(state_dir=state), RunOptions(replay=recording), printer=lambda line: None)
    assert asyncio.run(daemon.run()) == 0

    counters = daemon.pipeline.counters
    assert counters.errors == {"key_missing": 3}
    assert counters.key_missing_meters == {"64745666": 3}
    assert counters.meter_errors == {"64745666": {"key_missing": 3}}
    assert link_id not in counters.meter_errors  # the repeater's address is not the meter
    store = StateStore(state / "state.db")
    try:
        saved = json.loads(store.get_meta(STATUS_META_KEY) or "{}")["counters"]
        assert saved["key_missing_meters"] == 1
        assert saved["meter_errors"] == {"64745666": {"key_missing": 3}}
        assert [u.meter_id for u in store.unknown_meters()] == ["0014a807"]
    finally:
        store.close()
    out = cli("status", "--state-dir", str(state))
    assert "key-missing meters 1" in out
    assert "64745666" in out and "key_missing 3" in out


def test_an_unprovisioned_meter_behind_a_repeater_is_noted_under_its_own_id(tmp_path: Path) -> None:
    hydrus = vector("085-hydrus-64745666")
    pipeline, store, _ = _pipeline(Fleet({}, KeyStore()))
    pipeline.handle(ReceivedFrame(hydrus.telegram, LinkMode.T1, -80.0, T0, "test"))
    assert [u.meter_id for u in store.unknown_meters()] == ["64745666"]
    assert pipeline.counters.meter_errors == {}  # not provisioned: counted as unknown, not refused


# --------------------------------------------------------------------------------------------------
# Provisioned in upper case through the CLI: the daemon, dedup, topics and state match


def test_meters_provisioned_in_upper_case_are_read_and_published_under_the_telegrams_id(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    apator = vector("015-apator172-0014a807")
    izar = vector("112-izarv2-2124589c")
    state = tmp_path / "state"
    state_dir = ("--state-dir", str(state))
    added = cli("meters", "add", "0014A807", "--no-key", "--name", "Cellar", *state_dir)
    assert "added meter 0014a807" in added
    imports = tmp_path / "install.csv"
    imports.write_text("id,key,name\n2124589C,,Garden\n")
    cli("meters", "import", str(imports), *state_dir)
    keys = state / "keys.toml"  # a keys file edited by hand, in upper case
    keys.write_text(f'[keys]\n"1234ABCD" = "{HEX_KEY.hex().upper()}"\n')
    keys.chmod(0o600)
    (state / "meters.toml").write_text(
        (state / "meters.toml").read_text() + '\n[meters."1234ABCD"]\nname = "Shed"\n'
    )
    assert "0014a807" in cli("meters", "show", "0014A807", *state_dir)

    recording = tmp_path / "air.msg"
    frames = [apator.telegram, izar.telegram, encrypted_hex_meter()]
    lines = [rtl_wmbus_line(T0, data, "0") for data in frames]
    lines.append(rtl_wmbus_line(T0 + timedelta(seconds=3), apator.telegram, "0"))  # a repeater's copy
    recording.write_text("\n".join(lines) + "\n")
    config = GatewayConfig(gateway_id="ids", state_dir=state)
    daemon = Daemon(config, RunOptions(replay=recording, mqtt_url=mosquitto.url), printer=lambda line: None)
    assert asyncio.run(daemon.run()) == 0

    counters = daemon.pipeline.counters
    assert (counters.unknown_meter, counters.readings, counters.duplicates) == (0, 3, 1)
    assert counters.errors == {}
    messages = dict(asyncio.run(retained(mosquitto.host, mosquitto.port, "wmbus/ids/#")))
    expected = {
        "0014a807": apator.expected["total_m3"], "2124589c": izar.expected["total_m3"], "1234abcd": 12.345
    }
    for meter_id, total_m3 in expected.items():
        reading = messages[f"wmbus/ids/meters/{meter_id}/reading"]
        assert reading["meter_id"] == meter_id
        assert reading["total_m3"] == pytest.approx(total_m3)
    meter_levels = {topic.split("/")[3] for topic in messages if "/meters/" in topic}
    assert meter_levels == set(expected)
    store = StateStore(state / "state.db")
    try:
        assert store.meter_ids() == {"0014a807", "2124589c", "1234abcd"}
        assert set(store.last_seen()) == store.meter_ids()  # the coverage joins the two
    finally:
        store.close()
    assert "read in" in (out := cli("status", *state_dir)) and "3 (100.0%)" in out


# --------------------------------------------------------------------------------------------------
# State files of the previous schema, with the meters file's upper-case ids


def _downgrade_to_version_1(path: Path) -> None:
    """Write what version 1 kept: provisioned ids in upper case, the telegrams' ids in lower case."""
    store = StateStore(path)
    store.save_monthly_index(MonthlyIndex.from_json({
        "meter_id": "ABCDEF01", "month": "2026-08", "cutoff": "2026-09-01T00:00:00+00:00", "index_m3": 1.5,
        "source": "actual", "revision": 0, "consumption_m3": None, "reading_age_s": 60.0, "readings": [],
        "manufacturer": "ZRI", "medium": "water",
    }))
    store.close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    db.execute("INSERT INTO meters VALUES ('0014A807', 'Cellar', NULL, NULL, '2026-01-01T00:00:00+00:00')")
    db.execute("INSERT INTO meters VALUES ('12345678', NULL, NULL, NULL, '2026-01-01T00:00:00+00:00')")
    db.execute("INSERT INTO last_reading VALUES ('0014a807', '2026-09-01T00:00:00+00:00', '{}')")
    db.execute("INSERT INTO last_reading VALUES ('2124589C', '2026-09-01T00:00:00+00:00', '{\"a\":1}')")
    db.execute("INSERT INTO last_reading VALUES ('2124589c', '2026-09-02T00:00:00+00:00', '{\"a\":2}')")
    db.execute("INSERT INTO alarms VALUES ('0014A807', 'leak', '2026-09-01T00:00:00+00:00', '{}')")
    db.commit()
    db.close()


def test_a_version_1_state_file_is_migrated_to_lower_case_ids(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    _downgrade_to_version_1(path)
    store = StateStore(path)
    try:
        assert store.get_meta("schema_version") == "2"
        assert store.meter_ids() == {"0014a807", "12345678"}
        cellar = store.get_meter("0014a807")
        assert cellar is not None and cellar.name == "Cellar"
        assert set(store.last_seen()) == {"0014a807", "2124589c"}
        assert store.last_reading("2124589c") == {"a": 2}  # both forms: the telegrams' row is kept
        rows = {meter_id: at for meter_id, at, _ in store.coverage_rows("2026-09")}
        assert rows["0014a807"] is not None and rows["12345678"] is None  # joined again
        (index,) = store.monthly_indexes()
        assert index.meter_id == "abcdef01"
        assert [(a.meter_id, a.name) for a in store.open_alarms()] == [("0014a807", "leak")]
    finally:
        store.close()
    StateStore(path).close()  # opened again: nothing left to migrate


def test_a_gateway_upgraded_over_an_old_state_reads_its_upper_case_meter(tmp_path: Path) -> None:
    apator = vector("015-apator172-0014a807")
    state = tmp_path / "state"
    state.mkdir()
    _downgrade_to_version_1(state / "state.db")
    (state / "meters.toml").write_text('[meters."0014A807"]\nname = "Cellar"\n')  # as version 1 wrote it
    recording = tmp_path / "air.msg"
    recording.write_text(rtl_wmbus_line(T0, apator.telegram, "0") + "\n")
    daemon = Daemon(GatewayConfig(state_dir=state), RunOptions(replay=recording), printer=lambda line: None)
    assert asyncio.run(daemon.run()) == 0
    assert daemon.pipeline.counters.readings == 1 and daemon.pipeline.counters.unknown_meter == 0
    store = StateStore(state / "state.db")
    try:
        assert store.meter_ids() == {"0014a807"}
        assert store.last_seen()["0014a807"] == T0
    finally:
        store.close()


# --------------------------------------------------------------------------------------------------
# decoders test with a keys file in upper case


def test_decoders_test_finds_the_key_of_an_upper_case_keys_file(tmp_path: Path) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text(f'[keys]\n"1234ABCD" = "{HEX_KEY.hex().upper()}"\n')
    keys.chmod(0o600)
    example = Path(__file__).parents[2] / "gateway" / "decoders" / "examples" / "minomess.toml"
    result = runner.invoke(
        app, ["decoders", "test", str(example), encrypted_hex_meter().hex(), "--key-file", str(keys)]
    )
    assert result.exit_code == 0, result.output
    reading = json.loads(result.stdout[result.stdout.index("{"):])
    assert (reading["meter_id"], reading["total_m3"]) == ("1234abcd", pytest.approx(12.345))
    assert HEX_KEY.hex() not in result.output.lower()
