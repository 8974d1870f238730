"""Messages the store refused for good, kept in SQLite beside the ingester's state for an operator to see.

A message lands here when its payload is over the size limit, or when the store refused (HTTP 400, 413
or 422) the smallest batch holding it; it is then acknowledged, so that it no longer holds back the
messages after it. ``sqlite3 dead-letters.db 'SELECT at, topic, reason FROM dead_letters'`` lists them.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letters (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    reason TEXT NOT NULL
);
"""


class DeadLetters:
    """An append-only table of refused messages (topic, payload, reason, when)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._db.commit()

    def add(self, topic: str, payload: bytes, reason: str) -> None:
        self._db.execute(
            "INSERT INTO dead_letters (at, topic, payload, reason) VALUES (?, ?, ?, ?)",
            (time.time(), topic, payload, reason),
        )
        self._db.commit()

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0])

    def entries(self) -> list[tuple[str, bytes, str]]:
        """(topic, payload, reason) of every dead letter, oldest first."""
        rows = self._db.execute("SELECT topic, payload, reason FROM dead_letters ORDER BY seq").fetchall()
        return [(str(topic), bytes(payload), str(reason)) for topic, payload, reason in rows]

    def close(self) -> None:
        self._db.close()
