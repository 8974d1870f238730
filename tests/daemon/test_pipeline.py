"""The pipeline on real telegrams: decode, dedup, unknown and wrong-key meters, and bad input counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.billing.dedup import Deduplicator
from gateway.billing.meters import Fleet, MeterEntry
from gateway.billing.processor import ReadingProcessor
from gateway.billing.state import StateStore
from gateway.daemon.pipeline import Pipeline, format_publication
from gateway.decoders import decode_reading
from gateway.frame import LinkMode, ReceivedFrame
from gateway.keys import KeyStore
from gateway.publication import Publication
from gateway.wmbus.telegram import parse_telegram
from tests.vectors import Vector, radio_vectors

T0 = datetime(2026, 9, 14, 8, 0, tzinfo=UTC)


@cache
def encrypted_water_vectors() -> list[Vector]:
    """Encrypted radio telegrams, one per meter, that the core and decoders already read right.

    Which vectors decode is the core's and the decoders' business (their tests); here they only
    feed the pipeline, whose output must then match the reference's expected total.
    """
    chosen: dict[str, Vector] = {}
    for vector in radio_vectors():
        if vector.key is None or "total_m3" not in vector.expected or vector.meter_id in chosen:
            continue
        try:
            telegram = parse_telegram(vector.telegram, vector.key)
            total = decode_reading(telegram, T0).total_m3
        except Exception:
            continue
        if telegram.encrypted and total == pytest.approx(vector.expected["total_m3"]):
            chosen[vector.meter_id] = vector
    return list(chosen.values())


class Harness:
    def __init__(
        self, tmp_path: Path | None, vectors: list[Vector], *, keys: dict[str, bytes] | None = None
    ) -> None:
        self.store = StateStore(tmp_path / "state.db" if tmp_path is not None else ":memory:")
        self.processor = ReadingProcessor(self.store, autocommit=False)
        self.published: list[Publication] = []
        meters = {v.meter_id: MeterEntry(v.meter_id) for v in vectors}
        key_map = keys if keys is not None else {v.meter_id: v.key for v in vectors if v.key}
        self.pipeline = Pipeline(
            Fleet(meters, KeyStore(key_map)),
            Deduplicator(120.0),
            self.processor,
            self.published.append,
            unknown_log=self.store,
        )

    def feed(self, data: bytes, at: datetime = T0, rssi: float = -70.0, source: str = "test") -> None:
        self.pipeline.handle(ReceivedFrame(data, LinkMode.T1, rssi, at, source))

    def readings(self) -> list[Publication]:
        return [p for p in self.published if p.kind == "reading"]


@pytest.fixture
def vectors() -> list[Vector]:
    found = encrypted_water_vectors()
    assert len(found) >= 3, "the core should decode at least a few encrypted water telegrams"
    return found


def test_readings_of_provisioned_meters_are_decoded(tmp_path: Path, vectors: list[Vector]) -> None:
    harness = Harness(tmp_path, vectors)
    for index, vector in enumerate(vectors):
        harness.feed(vector.telegram, T0 + timedelta(minutes=index))
    readings = harness.readings()
    assert [p.meter_id for p in readings] == [v.meter_id for v in vectors]
    for publication, vector in zip(readings, vectors, strict=True):
        assert publication.payload["total_m3"] == pytest.approx(vector.expected["total_m3"])
        assert publication.payload["source"] == "test"
        assert publication.payload["rssi_dbm"] == -70.0
        line = format_publication(publication)
        assert vector.meter_id in line and "m3" in line
    counters = harness.pipeline.counters
    assert counters.frames == counters.telegrams == counters.readings == len(vectors)
    assert counters.errors == {}


def test_duplicates_are_published_once(tmp_path: Path, vectors: list[Vector]) -> None:
    harness = Harness(tmp_path, vectors[:1])
    data = vectors[0].telegram
    harness.feed(data, T0, rssi=-80.0)
    harness.feed(data, T0 + timedelta(seconds=2), rssi=-60.0, source="second-dongle")
    harness.feed(data, T0 + timedelta(seconds=5), rssi=-75.0)
    assert len(harness.readings()) == 1
    assert harness.pipeline.counters.duplicates == 2


def test_unknown_meters_are_counted_and_noted_not_published(tmp_path: Path, vectors: list[Vector]) -> None:
    harness = Harness(tmp_path, vectors[:1])
    stranger = vectors[1]
    harness.feed(stranger.telegram, T0, rssi=-91.0)
    harness.feed(stranger.telegram, T0 + timedelta(minutes=10), rssi=-88.0)
    assert harness.published == []
    assert harness.pipeline.counters.unknown_meter == 2
    noted = harness.store.unknown_meters()
    assert [(u.meter_id, u.count, u.last_rssi_dbm) for u in noted] == [(stranger.meter_id, 2, -88.0)]
    assert noted[0].last_seen == T0 + timedelta(minutes=10)


def test_wrong_key_is_counted_per_meter(tmp_path: Path, vectors: list[Vector]) -> None:
    vector = vectors[0]
    assert vector.key is not None
    wrong = bytes(b ^ 0x5A for b in vector.key)
    harness = Harness(tmp_path, [vector], keys={vector.meter_id: wrong})
    harness.feed(vector.telegram)
    harness.feed(vector.telegram, T0 + timedelta(hours=1))
    assert harness.published == []
    counters = harness.pipeline.counters
    assert counters.wrong_key_meters == {vector.meter_id: 2}
    assert sum(counters.errors.values()) == 2
    assert set(counters.errors) <= {"wrong_key", "authentication"}
    # a reload with the right key heals it
    harness.pipeline.set_fleet(
        Fleet({vector.meter_id: MeterEntry(vector.meter_id)}, KeyStore({vector.meter_id: vector.key}))
    )
    harness.feed(vector.telegram, T0 + timedelta(hours=2))
    assert len(harness.readings()) == 1


def test_missing_key_and_unknown_decoder_are_counted(tmp_path: Path, vectors: list[Vector]) -> None:
    first, second = vectors[0], vectors[1]
    harness = Harness(tmp_path, [first], keys={})
    harness.feed(first.telegram)
    assert harness.pipeline.counters.errors == {"key_missing": 1}
    assert second.key is not None
    harness.pipeline.set_fleet(
        Fleet(
            {second.meter_id: MeterEntry(second.meter_id, decoder="no-such-decoder")},
            KeyStore({second.meter_id: second.key}),
        )
    )
    harness.feed(second.telegram)
    assert harness.pipeline.counters.errors == {"key_missing": 1, "unknown_decoder": 1}
    assert harness.published == []


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", "truncated"),
        (b"\x05\x44\x2d\x2c", "truncated"),
    ],
)
def test_malformed_frames_are_counted(tmp_path: Path, vectors: list[Vector], data: bytes, error: str) -> None:
    harness = Harness(tmp_path, vectors[:1])
    harness.feed(data)
    assert harness.pipeline.counters.errors == {error: 1}


@cache
def fuzz_harness() -> Harness:
    return Harness(None, encrypted_water_vectors())


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300), flips=st.lists(st.integers(0, 2000), max_size=4))
def test_never_raises_on_garbage_or_corrupted_telegrams(data: bytes, flips: list[int]) -> None:
    harness = fuzz_harness()
    vectors = encrypted_water_vectors()
    corrupted = bytearray(vectors[len(data) % len(vectors)].telegram)
    for flip in flips:
        corrupted[flip % len(corrupted)] ^= 1 << (flip % 8)
    counters = harness.pipeline.counters
    before = counters.frames
    harness.feed(data)
    harness.feed(bytes(corrupted))
    assert counters.frames == before + 2
    assert counters.errors.get("internal", 0) == 0
