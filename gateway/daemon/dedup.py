"""Duplicate telegrams: the same telegram heard again (repeats, repeaters, two dongles) counts once.

Identity is the meter plus the telegram's content (access number and a digest of the payload), never
the arrival time. The first copy is new and is published at once; later copies within ``window_s`` of
it are duplicates: they only raise the copy count and the best RSSI of that first sighting. The final
count of each telegram is handed out by :meth:`Deduplicator.closed` once its window has passed.
Memory is a fixed number of slots per meter (plus a bounded number of meters); a check costs the same
whatever the number of meters.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict, deque
from dataclasses import dataclass


def payload_digest(data: bytes) -> bytes:
    """A short digest of a telegram's content; hash the bytes that repeaters do not change."""
    return hashlib.blake2b(data, digest_size=8).digest()


@dataclass(slots=True)
class _Sighting:
    access_number: int | None
    digest: bytes
    first_at_s: float
    duplicates: int
    best_rssi_dbm: float | None


@dataclass(frozen=True, slots=True)
class DedupResult:
    """What :meth:`Deduplicator.check` decided about one copy of a telegram."""

    is_new: bool
    duplicates: int  # copies heard after the first one, so far (0 for a new telegram)
    best_rssi_dbm: float | None  # the strongest copy so far
    first_at_s: float  # when the first copy arrived


@dataclass(frozen=True, slots=True)
class DedupSummary:
    """The final tally of one telegram once its window has closed."""

    meter_id: str
    access_number: int | None
    first_at_s: float
    duplicates: int
    best_rssi_dbm: float | None


@dataclass(slots=True)
class DedupStats:
    telegrams: int = 0
    new: int = 0
    duplicates: int = 0
    evicted_meters: int = 0


def _better(rssi: float | None, best: float | None) -> float | None:
    if rssi is None:
        return best
    return rssi if best is None or rssi > best else best


class Deduplicator:
    """Decides per copy whether a telegram is new; a few recent telegrams are kept per meter."""

    def __init__(
        self,
        window_s: float,
        *,
        slots_per_meter: int = 4,
        max_meters: int = 200_000,
        max_pending: int = 100_000,
    ) -> None:
        if window_s < 0:
            raise ValueError("window_s must not be negative")
        self.window_s = window_s
        self.slots_per_meter = slots_per_meter
        self.max_meters = max_meters
        self.stats = DedupStats()
        self._meters: OrderedDict[str, deque[_Sighting]] = OrderedDict()
        # First sightings in arrival order, so that closed windows are found without a scan; bounded
        # so that a caller who never asks for tallies does not grow it.
        self._pending: deque[tuple[float, str, _Sighting]] = deque(maxlen=max_pending)

    def check(
        self,
        meter_id: str,
        access_number: int | None,
        payload_digest: bytes,
        at_s: float,
        rssi_dbm: float | None = None,
    ) -> DedupResult:
        """Record one copy heard at ``at_s`` (epoch seconds) and say whether it is new."""
        self.stats.telegrams += 1
        slots = self._meters.get(meter_id)
        if slots is None:
            slots = deque(maxlen=self.slots_per_meter)
            self._meters[meter_id] = slots
            if len(self._meters) > self.max_meters:
                self._meters.popitem(last=False)
                self.stats.evicted_meters += 1
        else:
            self._meters.move_to_end(meter_id)
            for sighting in slots:
                if (
                    sighting.digest == payload_digest
                    and sighting.access_number == access_number
                    and abs(at_s - sighting.first_at_s) <= self.window_s
                ):
                    sighting.duplicates += 1
                    sighting.best_rssi_dbm = _better(rssi_dbm, sighting.best_rssi_dbm)
                    self.stats.duplicates += 1
                    return DedupResult(
                        False, sighting.duplicates, sighting.best_rssi_dbm, sighting.first_at_s
                    )
        sighting = _Sighting(access_number, payload_digest, at_s, 0, rssi_dbm)
        slots.append(sighting)
        self._pending.append((at_s + self.window_s, meter_id, sighting))
        self.stats.new += 1
        return DedupResult(True, 0, rssi_dbm, at_s)

    def closed(self, now_s: float) -> list[DedupSummary]:
        """Final tallies of the telegrams whose window ended by ``now_s``, oldest first."""
        out: list[DedupSummary] = []
        pending = self._pending
        while pending and pending[0][0] < now_s:
            _, meter_id, sighting = pending.popleft()
            out.append(
                DedupSummary(
                    meter_id,
                    sighting.access_number,
                    sighting.first_at_s,
                    sighting.duplicates,
                    sighting.best_rssi_dbm,
                )
            )
        return out

    def __len__(self) -> int:
        """Meters currently remembered."""
        return len(self._meters)
