"""The outbox on its own: durability across reopen, the bound and its drop policy, drain order."""

from __future__ import annotations

from pathlib import Path

from gateway.uplink.messages import OutboundMessage, publication_message, status_body, status_message
from gateway.uplink.mqtt import _DrainPlan
from gateway.uplink.outbox import Outbox
from gateway.uplink.topics import MessageKind, Topics
from tests.uplink.helpers import event_publication, monthly_publication, reading_publication

TOPICS = Topics("gw1")


def reading(meter: str, n: int) -> OutboundMessage:
    return publication_message(TOPICS, reading_publication(meter, n))


def test_messages_survive_reopen_until_acknowledged(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db")
    seqs = [outbox.put(reading("10000001", n)) for n in range(5)]
    outbox.ack(seqs[0])
    outbox.ack(seqs[1])
    outbox.flush_acks(wait=True)
    outbox.ack(seqs[2])  # acknowledged but not yet deleted when the process dies
    del outbox
    reopened = Outbox(tmp_path / "o.db")
    pending = reopened.fetch_range(0, None, 100)
    assert [m.seq for m in pending] == seqs[2:]
    assert pending[0].payload == reading("10000001", 2).payload
    assert len(reopened) == 3


def test_full_outbox_drops_oldest_readings_keeps_indexes_and_events(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db", max_messages=5)
    outbox.put(publication_message(TOPICS, monthly_publication("10000002")))
    outbox.put(reading("10000002", 0))
    outbox.put(publication_message(TOPICS, event_publication("10000002")))
    for n in range(1, 6):
        outbox.put(reading("10000002", n))
    kinds = [m.kind for m in outbox.fetch_range(0, None, 100)]
    assert len(kinds) == 5
    assert kinds.count(MessageKind.MONTHLY) == 1 and kinds.count(MessageKind.EVENT) == 1
    totals = [m.payload for m in outbox.fetch_range(0, None, 100) if m.kind is MessageKind.READING]
    assert totals == [reading("10000002", n).payload for n in (3, 4, 5)]
    stats = outbox.stats()
    assert stats.dropped == {"reading": 3} and not stats.over_limit
    # Only undroppable messages left: they are kept beyond the bound, and that shows.
    for month in ("2026-01", "2026-02", "2026-03", "2026-04"):
        outbox.put(publication_message(TOPICS, monthly_publication("10000002", month)))
    assert sum(m.kind is MessageKind.MONTHLY for m in outbox.fetch_range(0, None, 100)) == 5
    assert outbox.stats().over_limit
    # Drop counts persist: the status message reports them after a restart too.
    assert Outbox(tmp_path / "o.db", max_messages=5).stats().to_json()["dropped_total"] == 6


def test_a_new_status_replaces_one_not_sent(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db")
    outbox.put(status_message(TOPICS, status_body("online", "1")))
    outbox.put(status_message(TOPICS, status_body("online", "2")))
    pending = outbox.fetch_range(0, None, 10)
    assert len(pending) == 1 and b'"version":"2"' in pending[0].payload


def test_backlog_drains_in_order_per_meter_while_live_traffic_goes_first(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db")
    outbox.add_listener(lambda: None)  # as the publisher does: fresh messages are kept in memory
    for n in range(10):
        outbox.put(reading("A0000001", n))  # backlog of meter A
    plan = _DrainPlan(outbox)
    plan.start()
    outbox.put(reading("B0000001", 0))  # live, meter without backlog: goes at once
    outbox.put(reading("A0000001", 10))  # live, but A's backlog must go first
    first = plan.live(100)
    assert [m.meter_id for m in first] == ["B0000001"]
    sent = [*first, *plan.backlog(4)]
    sent += plan.live(100)  # nothing new for B; A still waits
    sent += plan.backlog(100)
    sent += plan.live(100)
    order_a = [m.payload for m in sent if m.meter_id == "A0000001"]
    assert order_a == [reading("A0000001", n).payload for n in range(11)]
    assert len(sent) == 12


def test_fresh_messages_kept_in_memory_are_bounded_while_nobody_takes_them(tmp_path: Path) -> None:
    """A publisher away from its broker takes nothing: the outbox keeps at most ``recent_max`` in memory,
    then none (they are read back from the file), and the publisher still gets every one of them."""
    outbox = Outbox(tmp_path / "o.db", recent_max=3)
    outbox.add_listener(lambda: None)
    plan = _DrainPlan(outbox)
    plan.start()
    seqs = [outbox.put(reading("10000001", n)) for n in range(2)]
    assert len(outbox._recent) == 2
    seqs += [outbox.put(reading("10000001", n)) for n in range(2, 50)]
    assert len(outbox._recent) == 0
    seqs.append(outbox.put(reading("10000001", 50)))
    assert len(outbox._recent) == 0  # still none: the publisher reads back from the file
    assert [m.seq for m in plan.live(100)] == seqs


def test_a_batch_gets_the_numbers_it_is_stored_under_across_a_status_and_the_bound(tmp_path: Path) -> None:
    """put_many stores runs of messages at once: the numbers it returns are still each message's own,
    a status in the batch still replaces the one not sent, and the bound still drops the oldest reading."""
    outbox = Outbox(tmp_path / "o.db", max_messages=6)
    outbox.add_listener(lambda: None)
    first = outbox.put_many([reading("10000001", n) for n in range(3)])
    outbox.ack(first[0])
    outbox.flush_acks(wait=True)  # numbers are never reused: the next run starts after the deleted one
    batch = [
        reading("10000002", 0),
        status_message(TOPICS, status_body("online", "1")),
        reading("10000002", 1),
        publication_message(TOPICS, monthly_publication("10000002")),
        status_message(TOPICS, status_body("online", "2")),
        reading("10000002", 2),  # the outbox holds 6: the oldest readings make room
        reading("10000002", 3),
    ]
    seqs = outbox.put_many(batch)
    assert seqs == sorted(seqs) and len(set(seqs)) == len(batch) and seqs[0] > first[-1]
    stored = {m.seq: m.payload for m in outbox.fetch_range(0, None, 100)}
    kept = {seq: message.payload for seq, message in zip(seqs, batch, strict=True) if seq in stored}
    assert kept == {seq: stored[seq] for seq in kept}
    assert sorted(stored) == [seqs[0], *seqs[2:]]  # first[1:] dropped, oldest first; status 1 replaced
    assert b'"version":"2"' in stored[seqs[4]]
    assert len(outbox) == 6 and outbox.stats().dropped == {"reading": 2}
    assert [m.seq for m in outbox.take_recent(0) or []] == first + seqs
