"""The state store: one SQLite file (WAL) holding everything the daemon must not forget.

Provisioned meters, the last reading and the billing state of each meter, monthly indexes, open
alarms, counters and the meters heard but not provisioned. Writes go into an open transaction that
:meth:`StateStore.commit` makes durable: what is committed survives a crash of the process. The rows
written with every reading (a meter's last reading and billing state) are kept in memory, one per meter,
and written at the commit (or before a read of their table): a fast replay that hears a meter ten times
between two commits writes its row once. With
``synchronous=NORMAL`` (the default) a power cut may lose the last commits but never corrupts the
file; ``durable=True`` selects ``synchronous=FULL`` (one fsync per commit).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway import json_codec
from gateway.billing.monthly_index import MonthlyIndex

SCHEMA_VERSION = 2  # 2: meter ids in lower case (gateway.meter_id); a version 1 file is migrated on open

# (table, column) of every meter id the store keeps
_METER_ID_COLUMNS = (
    ("meters", "id"),
    ("last_reading", "meter_id"),
    ("meter_state", "meter_id"),
    ("monthly_index", "meter_id"),
    ("alarms", "meter_id"),
    ("unknown_meters", "meter_id"),
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meters (
    id TEXT PRIMARY KEY, name TEXT, customer TEXT, decoder TEXT, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS last_reading (
    meter_id TEXT PRIMARY KEY, received_at TEXT NOT NULL, reading TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meter_state (meter_id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS monthly_index (
    meter_id TEXT NOT NULL, month TEXT NOT NULL, cutoff TEXT NOT NULL, source TEXT NOT NULL,
    index_m3 REAL NOT NULL, revision INTEGER NOT NULL, payload TEXT NOT NULL,
    PRIMARY KEY (meter_id, month));
CREATE INDEX IF NOT EXISTS monthly_index_month ON monthly_index (month);
CREATE TABLE IF NOT EXISTS alarms (
    meter_id TEXT NOT NULL, name TEXT NOT NULL, since TEXT NOT NULL, details TEXT NOT NULL,
    PRIMARY KEY (meter_id, name));
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS unknown_meters (
    meter_id TEXT PRIMARY KEY, manufacturer TEXT, device_type INTEGER, last_rssi_dbm REAL,
    last_seen TEXT NOT NULL, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


MeterStateData = dict[str, Any] | Callable[[], dict[str, Any]]


class StateStoreError(Exception):
    """The state file cannot be used (wrong schema, unreadable)."""


@dataclass(frozen=True, slots=True)
class ProvisionedMeter:
    """A meter this gateway serves, as the store knows it (keys are never stored here)."""

    meter_id: str
    name: str | None = None
    customer: str | None = None
    decoder: str | None = None
    created: datetime | None = None


@dataclass(frozen=True, slots=True)
class OpenAlarm:
    meter_id: str
    name: str
    since: datetime
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class UnknownMeter:
    """A meter heard but not provisioned, for surveys."""

    meter_id: str
    manufacturer: str | None
    device_type: int | None
    last_rssi_dbm: float | None
    last_seen: datetime
    count: int


class StateStore:
    """The daemon's SQLite state; one connection, used from one thread."""

    def __init__(self, path: str | Path, *, durable: bool = False) -> None:
        self.path = Path(path)
        self._pending_counters: dict[str, int] = {}
        # written at the commit (the latest of each meter): meter id -> (received at, reading); -> state
        self._pending_last: dict[str, tuple[datetime, dict[str, Any]]] = {}
        self._pending_states: dict[str, MeterStateData] = {}
        self._closed = False
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(str(path))
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            # 512 KiB of pages (SQLite's default is 2 MiB): rows are read by key, the OS caches the file
            self._db.execute("PRAGMA cache_size=-512")
            self._db.executescript(_SCHEMA)
            version = self.get_meta("schema_version")
            if version is None:
                self.set_meta("schema_version", str(SCHEMA_VERSION))
            elif version == "1":
                _lower_meter_ids(self._db)
                self.set_meta("schema_version", str(SCHEMA_VERSION))
            elif version != str(SCHEMA_VERSION):
                raise StateStoreError(f"{path}: schema version {version}, expected {SCHEMA_VERSION}")
            self._db.commit()
        except sqlite3.DatabaseError as err:
            raise StateStoreError(f"{path}: {err}") from err

    # -- transactions -------------------------------------------------------------------------------

    def commit(self) -> None:
        """Make every write so far durable (the pending rows and counters too)."""
        self._write_pending()
        if self._pending_counters:
            self._db.executemany(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
                self._pending_counters.items(),
            )
            self._pending_counters.clear()
        self._db.commit()

    def rollback(self) -> None:
        self._pending_counters.clear()
        self._pending_last.clear()
        self._pending_states.clear()
        self._db.rollback()

    @contextmanager
    def transaction(self) -> Iterator[StateStore]:
        """Commit on success, roll back on error: all or nothing."""
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        self.commit()

    def _write_pending(self) -> None:
        """Into the open transaction: the last readings and meter states saved since the last write.

        Kept until their statement succeeds (a full disk: the next commit writes them again)."""
        if pending := self._pending_last.items():
            self._db.executemany(
                "INSERT OR REPLACE INTO last_reading (meter_id, received_at, reading) VALUES (?, ?, ?)",
                [(meter_id, at.isoformat(), _dumps(doc)) for meter_id, (at, doc) in pending],
            )
            self._pending_last.clear()
        if self._pending_states:
            # an upsert keeps the row (and its rowid): meters stay in the order they were first saved
            self._db.executemany(
                "INSERT INTO meter_state (meter_id, data) VALUES (?, ?) "
                "ON CONFLICT (meter_id) DO UPDATE SET data = excluded.data",
                [
                    (meter_id, _dumps(data() if callable(data) else data))
                    for meter_id, data in self._pending_states.items()
                ],
            )
            self._pending_states.clear()

    def close(self) -> None:
        """Commit and close; closing twice is harmless."""
        if self._closed:
            return
        self.commit()
        self._db.close()
        self._closed = True

    # -- provisioned meters ---------------------------------------------------------------------------

    def add_meter(self, meter: ProvisionedMeter, *, created: datetime) -> None:
        """Provision (or update) a meter; ``created`` is kept from the first time."""
        self._db.execute(
            "INSERT INTO meters (id, name, customer, decoder, created) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET name = excluded.name, customer = excluded.customer, "
            "decoder = excluded.decoder",
            (meter.meter_id, meter.name, meter.customer, meter.decoder, created.isoformat()),
        )

    def remove_meter(self, meter_id: str) -> bool:
        return self._db.execute("DELETE FROM meters WHERE id = ?", (meter_id,)).rowcount > 0

    def sync_meters(self, meters: Iterable[ProvisionedMeter], *, created: datetime) -> None:
        """Make the table hold exactly ``meters`` (e.g. the meters file after a reload)."""
        wanted = {meter.meter_id: meter for meter in meters}
        for meter_id in self.meter_ids() - wanted.keys():
            self.remove_meter(meter_id)
        for meter in wanted.values():
            self.add_meter(meter, created=meter.created or created)

    def get_meter(self, meter_id: str) -> ProvisionedMeter | None:
        row = self._db.execute(
            "SELECT id, name, customer, decoder, created FROM meters WHERE id = ?", (meter_id,)
        ).fetchone()
        return _meter(row) if row else None

    def list_meters(self) -> list[ProvisionedMeter]:
        rows = self._db.execute("SELECT id, name, customer, decoder, created FROM meters ORDER BY id")
        return [_meter(row) for row in rows]

    def meter_ids(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT id FROM meters")}

    def has_meters(self) -> bool:
        return self._db.execute("SELECT 1 FROM meters LIMIT 1").fetchone() is not None

    def is_provisioned(self, meter_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM meters WHERE id = ?", (meter_id,)).fetchone() is not None

    # -- last readings and per-meter billing state ---------------------------------------------------------

    def save_last_reading(self, meter_id: str, received_at: datetime, reading: dict[str, Any]) -> None:
        """The meter's latest reading (``reading`` is kept, not copied, until written: leave it unchanged)."""
        self._pending_last[meter_id] = (received_at, reading)

    def last_reading(self, meter_id: str) -> dict[str, Any] | None:
        self._write_pending()
        row = self._db.execute("SELECT reading FROM last_reading WHERE meter_id = ?", (meter_id,)).fetchone()
        return _loads(row[0]) if row else None

    def last_seen(self) -> dict[str, datetime]:
        """When each meter was last read."""
        self._write_pending()
        rows = self._db.execute("SELECT meter_id, received_at FROM last_reading")
        return {meter_id: datetime.fromisoformat(at) for meter_id, at in rows}

    def save_meter_state(self, meter_id: str, data: MeterStateData) -> None:
        """The meter's billing state: a document (kept, not copied, until written: leave it unchanged), or
        what makes it, called when the row is written (the state as it is then: one call a commit)."""
        self._pending_states[meter_id] = data

    def meter_state(self, meter_id: str) -> dict[str, Any] | None:
        self._write_pending()
        row = self._db.execute("SELECT data FROM meter_state WHERE meter_id = ?", (meter_id,)).fetchone()
        return _loads(row[0]) if row else None

    def meter_states(self) -> Iterator[tuple[str, dict[str, Any]]]:
        self._write_pending()
        for meter_id, data in self._db.execute("SELECT meter_id, data FROM meter_state"):
            yield meter_id, _loads(data)

    def iter_meter_states(self, batch: int = 256) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every meter state in the order first saved, read ``batch`` rows at a time: the caller may
        save states between items, and memory holds one batch, not the table."""
        self._write_pending()
        after = 0
        while True:
            rows = self._db.execute(
                "SELECT rowid, meter_id, data FROM meter_state WHERE rowid > ? ORDER BY rowid LIMIT ?",
                (after, batch),
            ).fetchall()
            for rowid, meter_id, data in rows:
                after = rowid
                yield meter_id, _loads(data)
            if len(rows) < batch:
                return

    # -- monthly indexes ---------------------------------------------------------------------------------

    def save_monthly_index(self, index: MonthlyIndex) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO monthly_index "
            "(meter_id, month, cutoff, source, index_m3, revision, payload) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                index.meter_id,
                index.month,
                index.cutoff.isoformat(),
                str(index.source),
                index.index_m3,
                index.revision,
                json.dumps(index.to_json(), separators=(",", ":")),
            ),
        )

    def monthly_index(self, meter_id: str, month: str) -> MonthlyIndex | None:
        row = self._db.execute(
            "SELECT payload FROM monthly_index WHERE meter_id = ? AND month = ?", (meter_id, month)
        ).fetchone()
        return MonthlyIndex.from_json(_loads(row[0])) if row else None

    def monthly_indexes(self, *, meter_id: str | None = None, month: str | None = None) -> list[MonthlyIndex]:
        query = "SELECT payload FROM monthly_index WHERE 1 = 1"
        args: list[str] = []
        if meter_id is not None:
            query += " AND meter_id = ?"
            args.append(meter_id)
        if month is not None:
            query += " AND month = ?"
            args.append(month)
        rows = self._db.execute(query + " ORDER BY meter_id, month", args)
        return [MonthlyIndex.from_json(_loads(row[0])) for row in rows]

    def coverage_rows(self, month: str) -> Iterator[tuple[str, float | None, str | None]]:
        """Per provisioned meter: (id, its last reading in epoch seconds, its ``month`` index's source)."""
        self._write_pending()
        rows = self._db.execute(
            "SELECT m.id, r.received_at, i.source FROM meters m "
            "LEFT JOIN last_reading r ON r.meter_id = m.id "
            "LEFT JOIN monthly_index i ON i.meter_id = m.id AND i.month = ?",
            (month,),
        )
        for meter_id, received_at, source in rows:
            at_s = datetime.fromisoformat(received_at).timestamp() if received_at is not None else None
            yield meter_id, at_s, source

    def index_sources(self, month: str) -> dict[str, str]:
        """The source of each meter's index for ``month``."""
        rows = self._db.execute("SELECT meter_id, source FROM monthly_index WHERE month = ?", (month,))
        return dict(rows.fetchall())

    # -- open alarms -------------------------------------------------------------------------------------

    def open_alarm(self, meter_id: str, name: str, since: datetime, details: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO alarms (meter_id, name, since, details) VALUES (?, ?, ?, ?)",
            (meter_id, name, since.isoformat(), json.dumps(details, separators=(",", ":"))),
        )

    def close_alarm(self, meter_id: str, name: str) -> None:
        self._db.execute("DELETE FROM alarms WHERE meter_id = ? AND name = ?", (meter_id, name))

    def open_alarms(self, meter_id: str | None = None) -> list[OpenAlarm]:
        query = "SELECT meter_id, name, since, details FROM alarms"
        rows = (
            self._db.execute(query + " WHERE meter_id = ? ORDER BY name", (meter_id,))
            if meter_id is not None
            else self._db.execute(query + " ORDER BY meter_id, name")
        )
        return [OpenAlarm(row[0], row[1], datetime.fromisoformat(row[2]), _loads(row[3])) for row in rows]

    # -- counters ----------------------------------------------------------------------------------------

    def add_counter(self, name: str, count: int = 1) -> None:
        """Add to a counter; kept in memory until the next commit (cheap on hot paths)."""
        self._pending_counters[name] = self._pending_counters.get(name, 0) + count

    def counters(self) -> dict[str, int]:
        out = dict(self._db.execute("SELECT name, value FROM counters").fetchall())
        for name, count in self._pending_counters.items():
            out[name] = out.get(name, 0) + count
        return out

    # -- meters heard but not provisioned ------------------------------------------------------------------

    def note_unknown(
        self,
        meter_id: str,
        manufacturer: str | None,
        device_type: int | None,
        rssi_dbm: float | None,
        at: datetime,
    ) -> None:
        self._db.execute(
            "INSERT INTO unknown_meters "
            "(meter_id, manufacturer, device_type, last_rssi_dbm, last_seen, count) "
            "VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT (meter_id) DO UPDATE SET "
            "manufacturer = excluded.manufacturer, device_type = excluded.device_type, "
            "last_rssi_dbm = excluded.last_rssi_dbm, last_seen = excluded.last_seen, count = count + 1",
            (meter_id, manufacturer, device_type, rssi_dbm, at.isoformat()),
        )

    def unknown_meters(self, limit: int | None = None) -> list[UnknownMeter]:
        query = (
            "SELECT meter_id, manufacturer, device_type, last_rssi_dbm, last_seen, count "
            "FROM unknown_meters ORDER BY last_seen DESC"
        )
        rows = self._db.execute(query + " LIMIT ?", (limit if limit is not None else -1,))
        return [
            UnknownMeter(row[0], row[1], row[2], row[3], datetime.fromisoformat(row[4]), row[5])
            for row in rows
        ]

    def forget_unknown(self, meter_id: str) -> None:
        """Drop a meter from the survey list (e.g. once it is provisioned)."""
        self._db.execute("DELETE FROM unknown_meters WHERE meter_id = ?", (meter_id,))

    # -- meta --------------------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def delete_meta(self, key: str) -> None:
        self._db.execute("DELETE FROM meta WHERE key = ?", (key,))

    # -- repair (gateway.billing.repair) -------------------------------------------------------------------

    def months_outside(self, first: str, last: str) -> list[tuple[str, str]]:
        """(meter id, month) of the monthly indexes of months before ``first`` or after ``last``."""
        rows = self._db.execute(
            "SELECT meter_id, month FROM monthly_index WHERE month < ? OR month > ?", (first, last)
        )
        return [(str(meter_id), str(month)) for meter_id, month in rows]

    def delete_months_outside(self, first: str, last: str) -> None:
        self._db.execute("DELETE FROM monthly_index WHERE month < ? OR month > ?", (first, last))

    def delete_last_reading(self, meter_id: str) -> None:
        self._write_pending()
        self._db.execute("DELETE FROM last_reading WHERE meter_id = ?", (meter_id,))


def _lower_meter_ids(db: sqlite3.Connection) -> None:
    """Version 1 -> 2: the meters file's ids were kept in upper case, the telegrams' in lower case, so a
    meter whose id holds a letter had two names. Every id becomes lower case; where both forms had a row,
    the lower-case one (written from the meter's telegrams) is kept."""
    for table, column in _METER_ID_COLUMNS:
        changed = f"{column} <> lower({column})"
        db.execute(f"UPDATE OR IGNORE {table} SET {column} = lower({column}) WHERE {changed}")
        db.execute(f"DELETE FROM {table} WHERE {changed}")
    db.execute(
        "UPDATE monthly_index SET payload = json_set(payload, '$.meter_id', meter_id) "
        "WHERE json_extract(payload, '$.meter_id') <> meter_id"
    )


def _meter(row: tuple[Any, ...]) -> ProvisionedMeter:
    created = datetime.fromisoformat(row[4]) if row[4] else None
    return ProvisionedMeter(meter_id=row[0], name=row[1], customer=row[2], decoder=row[3], created=created)


def _dumps(document: dict[str, Any]) -> str:
    """Compact JSON text (orjson where installed); a document with a NaN or an infinity keeps it as the
    standard library writes it (NaN, Infinity), as it always did, instead of orjson's null."""
    text = json_codec.dumps(document)
    if b"null" in text and not json_codec.all_finite(document):
        return json.dumps(document, separators=(",", ":"))
    return text.decode()


def _loads(text: str) -> Any:
    return json.loads(text)
