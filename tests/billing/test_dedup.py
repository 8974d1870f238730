"""Dedup: a telegram heard again within the window counts once; identity is its content."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from gateway.billing.dedup import Deduplicator, payload_digest

DIGEST = payload_digest(b"\x2f\x2f\x04\x13\x39\x30\x00\x00")
OTHER = payload_digest(b"\x2f\x2f\x04\x13\x3a\x30\x00\x00")


def test_first_copy_is_new_and_repeats_are_counted_with_the_best_rssi() -> None:
    dedup = Deduplicator(window_s=30)
    first = dedup.check("12345678", 7, DIGEST, 1000.0, -80.0)
    assert first.is_new and first.duplicates == 0 and first.best_rssi_dbm == -80.0
    second = dedup.check("12345678", 7, DIGEST, 1000.4, -62.0)  # a repeater, stronger
    third = dedup.check("12345678", 7, DIGEST, 1003.0, -90.0)  # a second dongle, weaker
    assert not second.is_new and second.duplicates == 1 and second.best_rssi_dbm == -62.0
    assert not third.is_new and third.duplicates == 2 and third.best_rssi_dbm == -62.0
    assert third.first_at_s == 1000.0
    assert (dedup.stats.telegrams, dedup.stats.new, dedup.stats.duplicates) == (3, 1, 2)


def test_identity_is_meter_access_number_and_content() -> None:
    dedup = Deduplicator(window_s=30)
    assert dedup.check("12345678", 7, DIGEST, 0.0).is_new
    assert dedup.check("12345678", 8, DIGEST, 1.0).is_new  # next access number
    assert dedup.check("12345678", 7, OTHER, 2.0).is_new  # same number, other content
    assert dedup.check("87654321", 7, DIGEST, 3.0).is_new  # another meter
    assert dedup.check("12345678", None, DIGEST, 4.0).is_new  # no access number (wired)
    assert not dedup.check("12345678", None, DIGEST, 5.0).is_new


def test_the_same_content_after_the_window_is_new_again() -> None:
    dedup = Deduplicator(window_s=30)
    assert dedup.check("12345678", 7, DIGEST, 0.0).is_new
    assert not dedup.check("12345678", 7, DIGEST, 30.0).is_new
    assert dedup.check("12345678", 7, DIGEST, 30.5).is_new


def test_closed_windows_hand_out_the_final_tally_once() -> None:
    dedup = Deduplicator(window_s=10)
    dedup.check("A", 1, DIGEST, 0.0, -70.0)
    dedup.check("A", 1, DIGEST, 1.0, -60.0)
    dedup.check("B", 1, DIGEST, 5.0)
    assert dedup.closed(9.0) == []
    [tally] = dedup.closed(10.5)
    assert (tally.meter_id, tally.duplicates, tally.best_rssi_dbm, tally.first_at_s) == ("A", 1, -60.0, 0.0)
    assert dedup.closed(10.5) == []
    assert [item.meter_id for item in dedup.closed(100.0)] == ["B"]


def test_expire_closes_the_same_windows_without_the_tallies() -> None:
    dedup = Deduplicator(window_s=10)
    dedup.check("A", 1, DIGEST, 0.0, -70.0)
    dedup.check("B", 1, DIGEST, 5.0)
    assert dedup.expire(9.0) == 0
    assert dedup.expire(10.5) == 1
    assert isinstance(dedup._meters["A"], bytes)  # packed, as closed() leaves it
    assert not dedup.check("A", 1, DIGEST, 9.5).is_new  # a late copy is still a duplicate
    assert dedup.closed(10.5) == [] and dedup.expire(100.0) == 1 and dedup.closed(1e9) == []


def test_memory_is_a_fixed_number_of_slots_per_meter_and_bounded_in_meters() -> None:
    dedup = Deduplicator(window_s=1e9, slots_per_meter=3, max_meters=100)
    for number in range(50):
        dedup.check("A", number, DIGEST, float(number))
    assert dedup.slots("A") == 3
    # An old telegram pushed out of the slots is no longer recognised: the price of bounded memory.
    assert dedup.check("A", 0, DIGEST, 60.0).is_new
    for meter in range(500):
        dedup.check(f"{meter:08d}", 1, DIGEST, 0.0)
    assert len(dedup) == 100
    assert dedup.stats.evicted_meters == 401


def test_pending_tallies_are_bounded_when_nobody_collects_them() -> None:
    dedup = Deduplicator(window_s=1, max_pending=10)
    for number in range(100):
        dedup.check("A", number % 256, DIGEST, float(number))
    assert len(dedup.closed(1e9)) == 10


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2), st.floats(0, 100)), max_size=60))
def test_exactly_one_new_copy_per_telegram_within_a_window(copies: list[tuple[int, int, float]]) -> None:
    """Copies sorted by time: each (meter, access number) is new once per window-length burst."""
    dedup = Deduplicator(window_s=1000)  # longer than the whole run: one publication per identity
    ordered = sorted(copies, key=lambda copy: copy[2])
    news = [dedup.check(f"M{meter}", number, DIGEST, at).is_new for meter, number, at in ordered]
    assert sum(news) == len({(meter, number) for meter, number, _ in copies})


def test_a_closed_window_is_kept_packed_and_still_counts_late_copies() -> None:
    dedup = Deduplicator(window_s=10)
    dedup.check("A", 7, DIGEST, 0.0, -70.0)
    dedup.check("A", None, OTHER, 1.0)
    assert len(dedup.closed(100.0)) == 2
    assert isinstance(dedup._meters["A"], bytes)  # both packed into one object
    late = dedup.check("A", 7, DIGEST, 9.0, -60.0)
    assert (late.is_new, late.duplicates, late.best_rssi_dbm, late.first_at_s) == (False, 1, -60.0, 0.0)
    again = dedup.check("A", None, OTHER, 2.0)
    assert (again.is_new, again.duplicates, again.best_rssi_dbm, again.first_at_s) == (False, 1, None, 1.0)
    assert not dedup.check("A", 7, DIGEST, 10.0, -80.0).is_new
    assert dedup.closed(100.0) == []  # a closed window's tally is handed out once
    assert dedup.check("A", 7, DIGEST, 10.5).is_new


@dataclass
class _Kept:
    digest: bytes
    access: int | None
    first_at: float
    duplicates: int
    best_rssi: float | None


class _Reference:
    """The plain model: per meter the last ``slots`` first copies, each with its running tally."""

    def __init__(self, window_s: float, slots: int) -> None:
        self.window_s, self.slots = window_s, slots
        self.meters: dict[str, list[_Kept]] = {}
        self.pending: list[tuple[float, str, _Kept]] = []

    def check(
        self, meter: str, access: int | None, digest: bytes, at: float, rssi: float | None
    ) -> tuple[bool, int, float | None, float]:
        kept = self.meters.setdefault(meter, [])
        for item in kept:
            if item.digest == digest and item.access == access and abs(at - item.first_at) <= self.window_s:
                item.duplicates += 1
                if rssi is not None and (item.best_rssi is None or rssi > item.best_rssi):
                    item.best_rssi = rssi
                return (False, item.duplicates, item.best_rssi, item.first_at)
        item = _Kept(digest, access, at, 0, rssi)
        kept.append(item)
        del kept[: -self.slots]
        self.pending.append((at + self.window_s, meter, item))
        return (True, 0, rssi, at)

    def closed(self, now: float) -> list[tuple[str, int | None, float, int, float | None]]:
        out = []
        while self.pending and self.pending[0][0] < now:
            _, meter, item = self.pending.pop(0)
            out.append((meter, item.access, item.first_at, item.duplicates, item.best_rssi))
        return out


@given(
    st.lists(
        st.tuples(
            st.integers(0, 2),
            st.one_of(st.none(), st.integers(0, 2)),
            st.booleans(),
            st.floats(0, 5),
            st.one_of(st.none(), st.floats(-100, -40)),
            st.booleans(),
        ),
        max_size=80,
    )
)
def test_packing_closed_windows_changes_no_decision(
    steps: list[tuple[int, int | None, bool, float, float | None, bool]],
) -> None:
    """Against the plain model: same decisions, tallies and closed windows, copies out of order too."""
    dedup, reference = Deduplicator(window_s=3, slots_per_meter=3), _Reference(3, 3)
    now = 0.0
    for meter, access, other, step, rssi, close in steps:
        now += step
        at = now - step * 2  # some copies arrive stamped before earlier ones
        digest = OTHER if other else DIGEST
        got = dedup.check(f"M{meter}", access, digest, at, rssi)
        assert (got.is_new, got.duplicates, got.best_rssi_dbm, got.first_at_s) == reference.check(
            f"M{meter}", access, digest, at, rssi
        )
        if close:
            tallies = [
                (t.meter_id, t.access_number, t.first_at_s, t.duplicates, t.best_rssi_dbm)
                for t in dedup.closed(now)
            ]
            assert tallies == reference.closed(now)
