"""Telegrams the gateway could not use: unprovisioned meters and provisioned meters with a wrong key.

Counted per meter id with the last RSSI, so an installer sees at once a meter provisioned with a wrong
id or key. Memory is bounded: past ``max_meters`` per kind, the meter heard least recently is dropped.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from enum import StrEnum
from typing import Any

DEFAULT_MAX_METERS = 2000


class UnmatchedKind(StrEnum):
    """Why a telegram was not used."""

    UNKNOWN = "unknown"  # the meter is not provisioned
    WRONG_KEY = "wrong_key"  # provisioned, but its telegrams do not decrypt with the key we hold


class UnmatchedMeter:
    """Counters of one meter id of one kind (mutable; not shared outside this module's report)."""

    __slots__ = (
        "count",
        "first_seen",
        "last_rssi_dbm",
        "last_seen",
        "last_source",
        "manufacturer",
        "meter_id",
    )

    def __init__(self, meter_id: str, at: datetime) -> None:
        self.meter_id = meter_id
        self.count = 0
        self.first_seen = at
        self.last_seen = at
        self.last_rssi_dbm: float | None = None
        self.last_source: str | None = None
        self.manufacturer: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "meter_id": self.meter_id,
            "count": self.count,
            "last_rssi_dbm": self.last_rssi_dbm,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "manufacturer": self.manufacturer,
            "source": self.last_source,
        }


class UnmatchedTraffic:
    """Per-meter counts of unusable telegrams; constant cost per telegram, bounded memory."""

    def __init__(self, max_meters: int = DEFAULT_MAX_METERS) -> None:
        if max_meters < 1:
            raise ValueError("max_meters must be at least 1")
        self.max_meters = max_meters
        self._tables: dict[UnmatchedKind, OrderedDict[str, UnmatchedMeter]] = {
            kind: OrderedDict() for kind in UnmatchedKind
        }
        self.totals: dict[UnmatchedKind, int] = dict.fromkeys(UnmatchedKind, 0)
        self.dropped: dict[UnmatchedKind, int] = dict.fromkeys(UnmatchedKind, 0)

    def note_unknown(
        self,
        meter_id: str,
        rssi_dbm: float | None,
        at: datetime,
        *,
        manufacturer: str | None = None,
        source: str | None = None,
    ) -> None:
        """A telegram from a meter that is not provisioned."""
        self._note(UnmatchedKind.UNKNOWN, meter_id, rssi_dbm, at, manufacturer=manufacturer, source=source)

    def note_wrong_key(
        self,
        meter_id: str,
        rssi_dbm: float | None,
        at: datetime,
        *,
        manufacturer: str | None = None,
        source: str | None = None,
    ) -> None:
        """A telegram of a provisioned meter that failed to decrypt (WrongKeyError, AuthenticationError)."""
        self._note(UnmatchedKind.WRONG_KEY, meter_id, rssi_dbm, at, manufacturer=manufacturer, source=source)

    def forget(self, meter_id: str) -> None:
        """Drop a meter's counters (it was just provisioned or its key replaced)."""
        for table in self._tables.values():
            table.pop(meter_id, None)

    def _note(
        self,
        kind: UnmatchedKind,
        meter_id: str,
        rssi_dbm: float | None,
        at: datetime,
        *,
        manufacturer: str | None,
        source: str | None,
    ) -> None:
        table = self._tables[kind]
        entry = table.get(meter_id)
        if entry is None:
            entry = table[meter_id] = UnmatchedMeter(meter_id, at)
            if len(table) > self.max_meters:
                table.popitem(last=False)
                self.dropped[kind] += 1
        else:
            table.move_to_end(meter_id)
        entry.count += 1
        entry.last_seen = max(entry.last_seen, at)
        if rssi_dbm is not None:
            entry.last_rssi_dbm = rssi_dbm
        if manufacturer is not None:
            entry.manufacturer = manufacturer
        if source is not None:
            entry.last_source = source
        self.totals[kind] += 1

    def count(self, kind: UnmatchedKind, meter_id: str) -> int:
        entry = self._tables[kind].get(meter_id)
        return entry.count if entry else 0

    def report(self, limit: int = 50) -> dict[str, Any]:
        """The ``limit`` most frequent meters of each kind, with totals (JSON-ready, for status)."""
        out: dict[str, Any] = {}
        for kind, table in self._tables.items():
            top = sorted(table.values(), key=lambda entry: (-entry.count, entry.meter_id))[:limit]
            out[kind.value] = {
                "meters": len(table),
                "telegrams": self.totals[kind],
                "dropped_meters": self.dropped[kind],
                "top": [entry.to_json() for entry in top],
            }
        return out
