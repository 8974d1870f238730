"""Counts of unprovisioned meters and wrong keys, per meter id with last RSSI, in bounded memory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.health.unmatched import UnmatchedKind, UnmatchedTraffic

AT = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def test_counts_per_meter_with_last_rssi() -> None:
    traffic = UnmatchedTraffic()
    traffic.note_unknown("12345678", -80.0, AT, manufacturer="KAM", source="im0")
    traffic.note_unknown("12345678", -75.5, AT + timedelta(seconds=16), source="cul0")
    traffic.note_wrong_key("87654321", -60.0, AT)
    report = traffic.report()
    unknown = report["unknown"]
    assert unknown["meters"] == 1 and unknown["telegrams"] == 2
    entry = unknown["top"][0]
    assert entry["meter_id"] == "12345678"
    assert entry["count"] == 2
    assert entry["last_rssi_dbm"] == -75.5
    assert entry["manufacturer"] == "KAM"
    assert entry["source"] == "cul0"
    assert entry["first_seen"] == AT.isoformat()
    assert entry["last_seen"] == (AT + timedelta(seconds=16)).isoformat()
    assert report["wrong_key"]["top"][0]["meter_id"] == "87654321"
    assert traffic.count(UnmatchedKind.WRONG_KEY, "87654321") == 1
    assert traffic.count(UnmatchedKind.UNKNOWN, "87654321") == 0


def test_memory_is_bounded_and_the_least_recent_meter_goes_first() -> None:
    traffic = UnmatchedTraffic(max_meters=3)
    for number in range(3):
        traffic.note_unknown(f"0000000{number}", None, AT)
    traffic.note_unknown("00000000", -70.0, AT)  # heard again: now the most recent
    traffic.note_unknown("00000009", -70.0, AT)
    report = traffic.report()["unknown"]
    assert report["meters"] == 3
    assert report["dropped_meters"] == 1
    assert {entry["meter_id"] for entry in report["top"]} == {"00000000", "00000002", "00000009"}
    assert report["telegrams"] == 5


def test_report_lists_the_most_frequent_first_and_forget_clears() -> None:
    traffic = UnmatchedTraffic()
    for _ in range(5):
        traffic.note_wrong_key("AAAAAAAA", -90.0, AT)
    traffic.note_wrong_key("BBBBBBBB", -90.0, AT)
    assert [entry["meter_id"] for entry in traffic.report(limit=1)["wrong_key"]["top"]] == ["AAAAAAAA"]
    traffic.forget("AAAAAAAA")
    assert traffic.count(UnmatchedKind.WRONG_KEY, "AAAAAAAA") == 0


def test_max_meters_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_meters"):
        UnmatchedTraffic(max_meters=0)
