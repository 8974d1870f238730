"""The durable outbox: every MQTT message is in SQLite before it is sent, and leaves only on PUBACK.

API (the daemon's side)::

    outbox = Outbox(state_dir / "outbox.db", max_messages=100_000)
    outbox.put(publication_message(topics, publication))   # cheap: one INSERT and COMMIT
    outbox.stats()                                         # for the status message
    outbox.close()

The publisher (:mod:`gateway.uplink.mqtt`) reads with :meth:`Outbox.fetch_range` and deletes with
:meth:`Outbox.ack`. Call everything from one thread (the daemon's event loop).

Durability: WAL journal. With ``synchronous="NORMAL"`` (the default) a put is committed before it
returns (about 0.15 ms): it survives SIGKILL and any crash of the process at once, and a syncer
thread fsyncs the journal every ``sync_interval_s`` (0.2 s), so a power cut loses at most the
messages of that last interval and never corrupts the file. ``synchronous="FULL"`` fsyncs in every
put: nothing is lost even on a power cut, but each put then costs one fsync (milliseconds on SD
cards, see bench/uplink.py) on the caller's thread.

When full (``max_messages`` pending), a put first drops the oldest plain reading, then the oldest
raw telegram; monthly indexes, events and status are never dropped (the outbox then grows past
its bound, which ``over_limit`` shows). A new status replaces a status not yet sent. Drops are
counted per kind, persist across restarts, and go out in the status message. The first drop logs one
WARNING saying how many of what were dropped; further drops are summed into one line a minute at most,
and the outbox back under its bound logs the episode's total once more.

A replay should never reach the bound: the daemon waits for room (:meth:`Outbox.__len__`) before it
reads further, since a file can wait where a radio cannot.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from gateway.uplink.messages import OutboundMessage
from gateway.uplink.topics import MessageKind

log = logging.getLogger(__name__)

DROP_ORDER: tuple[MessageKind, ...] = (MessageKind.READING, MessageKind.RAW)
DROP_WARNING_INTERVAL_S = 60.0  # at most one WARNING a minute while the drop policy acts
KIND_NAMES: dict[str, str] = {
    "reading": "readings",
    "raw": "raw telegrams",
    "monthly": "monthly indexes",
    "event": "events",
    "status": "status messages",
    "discovery": "discovery configs",
}


def describe_counts(counts: dict[str, int]) -> str:
    """``{"reading": 3, "raw": 1}`` as "3 readings, 1 raw telegrams" (kinds in a fixed order)."""
    order = list(KIND_NAMES)
    parts = sorted(counts.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order))
    return ", ".join(f"{count:,} {KIND_NAMES.get(kind, kind)}" for kind, count in parts if count) or "nothing"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    meter_id TEXT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    retain INTEGER NOT NULL,
    enqueued_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_kind ON outbox (kind, seq);
CREATE INDEX IF NOT EXISTS outbox_meter ON outbox (meter_id, seq);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class StoredMessage(NamedTuple):
    """A message as the outbox holds it: its sequence number orders it. (A named tuple: one is made for
    every message put, a fraction of a frozen dataclass's cost.)"""

    seq: int
    kind: MessageKind
    meter_id: str | None
    topic: str
    payload: bytes
    retain: bool
    enqueued_at: float


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """What the status message reports about the outbox."""

    pending: int
    max_messages: int
    dropped: dict[str, int]
    over_limit: bool
    oldest_age_s: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "pending": self.pending,
            "max_messages": self.max_messages,
            "dropped": dict(self.dropped),
            "dropped_total": sum(self.dropped.values()),
            "over_limit": self.over_limit,
            "oldest_age_s": self.oldest_age_s,
        }


class Outbox:
    """A bounded, durable FIFO of outbound MQTT messages in SQLite (WAL)."""

    def __init__(
        self,
        path: Path | str,
        max_messages: int = 100_000,
        *,
        synchronous: str = "NORMAL",
        sync_interval_s: float = 0.2,
        recent_max: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        if synchronous.upper() not in ("FULL", "NORMAL"):
            raise ValueError("synchronous must be FULL or NORMAL")
        self.path = Path(path)
        self.max_messages = max_messages
        self._clock = clock
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self._db.execute("PRAGMA cache_size=-512")  # 512 KiB: a FIFO reads and writes at its two ends
        self._db.executescript(_SCHEMA)
        self._count: int = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        self._dropped: dict[str, int] = {
            name.removeprefix("dropped_"): value
            for name, value in self._db.execute(
                "SELECT name, value FROM counters WHERE name LIKE 'dropped_%'"
            )
        }
        self._acked: list[int] = []
        self._drops_unlogged: dict[str, int] = {}  # dropped since the last WARNING line
        self._drops_episode: dict[str, int] = {}  # dropped since the outbox last had room
        self._drop_logged_at: float | None = None  # monotonic time of the last drop WARNING
        self._listeners: list[Callable[[], None]] = []
        self._sync_interval_s = sync_interval_s
        self._lock = threading.Lock()
        self._deletes: list[int] = []
        self._recent: deque[StoredMessage] = deque()
        self._recent_max = recent_max
        self._recent_gap = False
        self._dirty = threading.Event()
        self._closing = threading.Event()
        self._syncer: threading.Thread | None = None
        if synchronous.upper() == "NORMAL":
            # Checkpoints fsync the database file: the syncer thread does them, not the caller.
            self._db.execute("PRAGMA wal_autocheckpoint=0")
            self._syncer = threading.Thread(target=self._sync_loop, name="outbox-sync", daemon=True)
            self._syncer.start()

    # -- the daemon's side ------------------------------------------------------------------

    def put(self, message: OutboundMessage) -> int:
        """Store one message durably; returns its sequence number. Never blocks on the network."""
        return self.put_many((message,))[-1]

    def put_many(self, messages: Sequence[OutboundMessage]) -> list[int]:
        """Store several messages in one transaction (one fsync).

        Runs of messages that need no room made and replace no status go in with one ``executemany``
        (a fast replay puts hundreds at a time); their sequence numbers follow each other, the
        transaction holding the write lock."""
        now = self._clock()
        seqs: list[int] = []
        db = self._db
        run: list[tuple[str, str | None, str, bytes, int, float]] = []
        db.execute("BEGIN IMMEDIATE")
        try:
            for message in messages:
                if message.kind is not MessageKind.STATUS and self._count + len(run) < self.max_messages:
                    row = (message.kind.value, message.meter_id, message.topic, message.payload)
                    run.append((*row, int(message.retain), now))
                    continue
                self._insert_run(run, seqs)
                if message.kind is MessageKind.STATUS:
                    # Only the latest status matters: replace one that has not gone out yet.
                    gone = db.execute(
                        "DELETE FROM outbox WHERE kind = ? AND topic = ?", (message.kind.value, message.topic)
                    ).rowcount
                    with self._lock:
                        self._count -= gone
                if self._count >= self.max_messages:
                    self._make_room()
                cursor = db.execute(
                    "INSERT INTO outbox (kind, meter_id, topic, payload, retain, enqueued_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        message.kind.value,
                        message.meter_id,
                        message.topic,
                        message.payload,
                        int(message.retain),
                        now,
                    ),
                )
                seqs.append(int(cursor.lastrowid or 0))
                with self._lock:
                    self._count += 1
            self._insert_run(run, seqs)
            db.execute("COMMIT")
        except BaseException:
            self._recount(db)
            raise
        if self._drops_unlogged or self._drops_episode:
            self._log_drops()
        self._dirty.set()
        if self._listeners:
            # The publisher takes fresh messages from memory instead of reading them back. Once some
            # were not kept (it is not taking them: the broker is away), it reads them all back: the
            # rest are dropped too, or memory would grow with the outage.
            if self._recent_gap or len(self._recent) + len(seqs) > self._recent_max:
                self._recent_gap = True
                self._recent.clear()
            else:
                self._recent.extend(
                    StoredMessage(seq, m.kind, m.meter_id, m.topic, m.payload, m.retain, now)
                    for seq, m in zip(seqs, messages, strict=True)
                )
            for listener in self._listeners:
                listener()
        return seqs

    def _insert_run(self, run: list[tuple[str, str | None, str, bytes, int, float]], seqs: list[int]) -> None:
        """Insert ``run`` (then emptied) in the open transaction; their sequence numbers onto ``seqs``."""
        if not run:
            return
        db = self._db
        db.executemany(
            "INSERT INTO outbox (kind, meter_id, topic, payload, retain, enqueued_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            run,
        )
        # AUTOINCREMENT under the transaction's write lock: the rows took the numbers after the last one
        last = int(db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()[0])
        seqs.extend(range(last - len(run) + 1, last + 1))
        with self._lock:
            self._count += len(run)
        run.clear()

    def _recount(self, db: sqlite3.Connection) -> None:
        """After a failed put: roll back (unless SQLite already did, as on a full disk) and count again."""
        with contextlib.suppress(sqlite3.Error):
            if db.in_transaction:
                db.execute("ROLLBACK")
            with self._lock:
                self._count = db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
            self._dropped = {
                name.removeprefix("dropped_"): value
                for name, value in db.execute("SELECT name, value FROM counters WHERE name LIKE 'dropped_%'")
            }

    def _make_room(self) -> None:
        for kind in DROP_ORDER:
            row = self._db.execute(
                "SELECT seq FROM outbox WHERE kind = ? ORDER BY seq LIMIT 1", (kind.value,)
            ).fetchone()
            if row is not None:
                self._db.execute("DELETE FROM outbox WHERE seq = ?", (row[0],))
                with self._lock:
                    self._count -= 1
                self._dropped[kind.value] = self._dropped.get(kind.value, 0) + 1
                self._drops_unlogged[kind.value] = self._drops_unlogged.get(kind.value, 0) + 1
                self._db.execute(
                    "INSERT INTO counters (name, value) VALUES (?, 1) "
                    "ON CONFLICT (name) DO UPDATE SET value = value + 1",
                    (f"dropped_{kind.value}",),
                )
                return

    def _log_drops(self) -> None:
        """One WARNING at the first drop, then at most one a minute; one more when there is room again."""
        now = time.monotonic()
        due = self._drop_logged_at is None or now - self._drop_logged_at >= DROP_WARNING_INTERVAL_S
        if self._drops_unlogged and due and self._count >= self.max_messages:
            fresh, self._drops_unlogged = self._drops_unlogged, {}
            for kind, count in fresh.items():
                self._drops_episode[kind] = self._drops_episode.get(kind, 0) + count
            self._drop_logged_at = now
            episode = self._drops_episode
            so_far = "" if fresh == episode else f" ({describe_counts(episode)} so far)"
            log.warning(
                "outbox full (%s messages pending, bound %s): dropped %s%s; monthly indexes, events and"
                " status are kept (outbox.dropped in the status; further drops logged at most once a minute)",
                f"{self._count:,}",
                f"{self.max_messages:,}",
                describe_counts(fresh),
                so_far,
            )
        elif self._count < self.max_messages:
            for kind, count in self._drops_unlogged.items():
                self._drops_episode[kind] = self._drops_episode.get(kind, 0) + count
            log.warning(
                "outbox below its bound again (%s messages pending): %s dropped while it was full",
                f"{self._count:,}",
                describe_counts(self._drops_episode),
            )
            self._drops_unlogged, self._drops_episode, self._drop_logged_at = {}, {}, None

    def stats(self) -> OutboxStats:
        """Pending count, drops per kind, whether undroppable messages overflowed the bound."""
        row = self._db.execute("SELECT enqueued_at FROM outbox ORDER BY seq LIMIT 1").fetchone()
        oldest = None if row is None else row[0]
        age = None if oldest is None else max(0.0, round(self._clock() - oldest, 3))
        return OutboxStats(
            pending=self._count,
            max_messages=self.max_messages,
            dropped=dict(self._dropped),
            over_limit=self._count > self.max_messages,
            oldest_age_s=age,
        )

    def __len__(self) -> int:
        with self._lock:
            return self._count

    # -- the publisher's side ---------------------------------------------------------------

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after every successful put (the publisher wakes on it)."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[], None]) -> None:
        self._listeners.remove(callback)

    def max_seq(self) -> int:
        return int(self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox").fetchone()[0])

    def fetch_range(self, after: int, upto: int | None, limit: int) -> list[StoredMessage]:
        """Messages with ``after < seq <= upto`` in sequence order."""
        if upto is None:
            rows = self._db.execute(
                "SELECT seq, kind, meter_id, topic, payload, retain, enqueued_at FROM outbox "
                "WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            ).fetchall()
        else:
            rows = self._db.execute(
                "SELECT seq, kind, meter_id, topic, payload, retain, enqueued_at FROM outbox "
                "WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                (after, upto, limit),
            ).fetchall()
        return [_stored(row) for row in rows]

    def fetch_seqs(self, seqs: Iterable[int]) -> list[StoredMessage]:
        """The messages with these sequence numbers that are still pending, in sequence order."""
        wanted = sorted(seqs)
        out: list[StoredMessage] = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                "SELECT seq, kind, meter_id, topic, payload, retain, enqueued_at FROM outbox "
                f"WHERE seq IN ({marks}) ORDER BY seq",
                chunk,
            ).fetchall()
            out += [_stored(row) for row in rows]
        return out

    def pending_per_meter(self, upto: int) -> dict[str, int]:
        """How many messages each meter has pending with ``seq <= upto``."""
        return {
            meter: count
            for meter, count in self._db.execute(
                "SELECT meter_id, COUNT(*) FROM outbox "
                "WHERE seq <= ? AND meter_id IS NOT NULL GROUP BY meter_id",
                (upto,),
            )
        }

    def ack(self, seq: int) -> None:
        """The broker acknowledged ``seq``; it is deleted at the next :meth:`flush_acks`."""
        self._acked.append(seq)

    def flush_acks(self, *, wait: bool = False) -> None:
        """Delete the acknowledged messages: on the syncer thread, or here and now with ``wait``."""
        if not self._acked:
            return
        acked, self._acked = self._acked, []
        if self._syncer is not None and not wait:
            with self._lock:
                self._deletes += acked
            self._dirty.set()
            return
        self._delete(self._db, acked)

    def _delete(self, db: sqlite3.Connection, seqs: list[int]) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            deleted = 0
            for start in range(0, len(seqs), 500):
                chunk = seqs[start : start + 500]
                marks = ",".join("?" * len(chunk))
                deleted += db.execute(f"DELETE FROM outbox WHERE seq IN ({marks})", chunk).rowcount
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # SQLite rolls back by itself on a full disk
                db.execute("ROLLBACK")
            raise
        with self._lock:
            self._count -= deleted

    def take_recent(self, after: int) -> list[StoredMessage] | None:
        """Messages committed since the last call with ``seq > after``; None if some were not kept."""
        if self._recent_gap:
            self.reset_recent()
            return None
        out = [message for message in self._recent if message.seq > after]
        self._recent.clear()
        return out

    def reset_recent(self) -> None:
        self._recent.clear()
        self._recent_gap = False

    def sync(self) -> None:
        """Make everything committed so far survive a power cut (fsync the journal now)."""
        with contextlib.suppress(FileNotFoundError):
            fd = os.open(f"{self.path}-wal", os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _sync_loop(self) -> None:
        # fsync and checkpoint on a thread of its own: the caller's put never waits for the disk.
        db = sqlite3.connect(self.path, isolation_level=None)
        db.execute("PRAGMA busy_timeout=1000")
        try:
            while not self._closing.is_set():
                self._dirty.wait()
                self._closing.wait(self._sync_interval_s)
                self._dirty.clear()
                self._apply_deletes(db)
                self.sync()
                with contextlib.suppress(sqlite3.Error):
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            self._apply_deletes(db)
        finally:
            db.close()

    def _apply_deletes(self, db: sqlite3.Connection) -> None:
        with self._lock:
            seqs, self._deletes = self._deletes, []
        if not seqs:
            return
        try:
            self._delete(db, seqs)
        except sqlite3.Error as err:  # busy or I/O: keep them for the next round
            log.warning("outbox: deleting acknowledged messages failed (%s); will retry", err)
            with self._lock:
                self._deletes = seqs + self._deletes

    def close(self) -> None:
        """Delete what was acknowledged, sync and close the database."""
        self.flush_acks()
        self._closing.set()
        self._dirty.set()
        if self._syncer is not None:
            self._syncer.join()
        self.sync()
        self._db.close()


def _stored(row: tuple[Any, ...]) -> StoredMessage:
    seq, kind, meter_id, topic, payload, retain, enqueued_at = row
    return StoredMessage(
        int(seq), MessageKind(kind), meter_id, topic, bytes(payload), bool(retain), float(enqueued_at)
    )
