"""The state store: one SQLite file in WAL mode; what is committed survives, the rest does not."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.billing.monthly_index import IndexSource, MonthlyIndex
from gateway.billing.state import ProvisionedMeter, StateStore, StateStoreError

NOW = datetime(2026, 10, 5, 12, 0, tzinfo=UTC)


def test_file_is_created_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "state.db"
    store = StateStore(path)
    store.close()
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_provisioned_meters_add_update_sync_remove(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    store.add_meter(ProvisionedMeter("12345678", name="Flat 1", decoder="multical21"), created=NOW)
    later = datetime(2030, 1, 1, tzinfo=UTC)
    store.add_meter(ProvisionedMeter("12345678", name="Flat 1a", customer="C-7"), created=later)
    meter = store.get_meter("12345678")
    assert meter is not None
    assert (meter.name, meter.customer, meter.decoder, meter.created) == ("Flat 1a", "C-7", None, NOW)
    store.sync_meters([ProvisionedMeter("87654321"), ProvisionedMeter("12345678", name="x")], created=NOW)
    assert store.meter_ids() == {"87654321", "12345678"}
    store.sync_meters([ProvisionedMeter("87654321")], created=NOW)
    assert [meter.meter_id for meter in store.list_meters()] == ["87654321"]
    assert store.remove_meter("87654321") and not store.remove_meter("87654321")


def test_committed_writes_survive_and_uncommitted_ones_do_not(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = StateStore(path)
    store.add_meter(ProvisionedMeter("11111111"), created=NOW)
    store.add_counter("readings", 3)
    store.commit()
    store.add_meter(ProvisionedMeter("22222222"), created=NOW)
    store.add_counter("readings", 1)
    # A crash now: another connection sees only what was committed.
    other = StateStore(path)
    assert other.meter_ids() == {"11111111"}
    assert other.counters() == {"readings": 3}
    assert store.counters() == {"readings": 4}  # the writer sees its pending counts
    store.commit()
    assert StateStore(path).meter_ids() == {"11111111", "22222222"}


def test_transaction_is_all_or_nothing(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    with pytest.raises(ValueError), store.transaction():
        store.add_meter(ProvisionedMeter("11111111"), created=NOW)
        raise ValueError("row 3 is bad")
    assert store.meter_ids() == set()
    with store.transaction():
        store.add_meter(ProvisionedMeter("11111111"), created=NOW)
    assert StateStore(tmp_path / "state.db").meter_ids() == {"11111111"}


def test_monthly_index_round_trip(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    index = MonthlyIndex(
        meter_id="12345678",
        month="2026-09",
        cutoff=datetime.fromisoformat("2026-10-01T00:00:00+02:00"),
        index_m3=123.456,
        source=IndexSource.INTERPOLATED,
        revision=1,
        consumption_m3=4.5,
        reading_age_s=600.0,
        readings=({"received_at": "2026-09-30T21:50:00+00:00", "total_m3": 123.4},),
        manufacturer="KAM",
        medium="water",
    )
    store.save_monthly_index(index)
    store.commit()
    again = StateStore(tmp_path / "state.db")
    assert again.monthly_index("12345678", "2026-09") == index
    assert again.monthly_indexes(month="2026-09") == [index]
    assert again.index_sources("2026-09") == {"12345678": "interpolated"}
    assert again.monthly_index("12345678", "2026-08") is None


def test_open_alarms(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    store.open_alarm("12345678", "leak", NOW, {"status_raw": "01"})
    store.open_alarm("12345678", "low_battery", NOW, {})
    store.close_alarm("12345678", "leak")
    [alarm] = store.open_alarms("12345678")
    assert (alarm.name, alarm.since) == ("low_battery", NOW)


def test_unknown_meters_are_counted_with_rssi_and_last_seen(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    store.note_unknown("99999999", "ZRI", 7, -80.0, NOW)
    later = datetime(2026, 10, 5, 13, 0, tzinfo=UTC)
    store.note_unknown("99999999", "ZRI", 7, -71.5, later)
    store.note_unknown("88888888", "APA", 6, None, NOW)
    first, second = store.unknown_meters()
    assert (first.meter_id, first.count, first.last_rssi_dbm) == ("99999999", 2, -71.5)
    assert first.last_seen == later
    assert (second.meter_id, second.device_type) == ("88888888", 6)
    assert len(store.unknown_meters(limit=1)) == 1
    store.forget_unknown("99999999")
    assert [meter.meter_id for meter in store.unknown_meters()] == ["88888888"]


def test_last_reading_and_meter_state(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    store.save_last_reading("12345678", NOW, {"meter_id": "12345678", "total_m3": 1.5})
    store.save_meter_state("12345678", {"x": [1, 2]})
    store.commit()
    again = StateStore(tmp_path / "state.db")
    assert again.last_reading("12345678") == {"meter_id": "12345678", "total_m3": 1.5}
    assert again.last_seen() == {"12345678": NOW}
    assert dict(again.meter_states()) == {"12345678": {"x": [1, 2]}}


def test_a_foreign_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StateStoreError):
        StateStore(path)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = StateStore(path)
    store.set_meta("schema_version", "99")
    store.close()
    with pytest.raises(StateStoreError, match="schema version 99"):
        StateStore(path)
