"""Duplicate telegrams: the same telegram heard again (repeats, repeaters, two dongles) counts once.

Identity is the meter plus the telegram's content (access number and a digest of the payload), never
the arrival time. The first copy is new and is published at once; later copies within ``window_s`` of
it are duplicates: they only raise the copy count and the best RSSI of that first sighting. The final
count of each telegram is handed out by :meth:`Deduplicator.closed` once its window has passed.
Memory is a fixed number of slots per meter (plus a bounded number of meters); a check costs the same
whatever the number of meters. Telegrams whose window has closed are kept packed, all of a meter's in
one bytes object (their tallies can still grow: a late copy is still a duplicate), so a meter heard
long ago costs one small object, not a deque of objects.
"""

from __future__ import annotations

import hashlib
import struct
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import cast

DIGEST_SIZE = 8


def payload_digest(data: bytes) -> bytes:
    """A short digest of a telegram's content; hash the bytes that repeaters do not change."""
    return hashlib.blake2b(data, digest_size=DIGEST_SIZE).digest()


@dataclass(slots=True)
class _Sighting:
    """A telegram whose window is open (its tally is still pending)."""

    access_number: int | None
    digest: bytes
    first_at_s: float
    duplicates: int
    best_rssi_dbm: float | None


# A closed sighting: first_at_s, best_rssi_dbm, duplicates, access_number, flags, then the digest.
# Windows close in the order telegrams arrived, so a meter's closed sightings are always its oldest:
# a meter keeps ``closed`` (records, oldest first) or ``(closed, *open sightings)``.
_FIXED = struct.Struct("<ddQqB")
_SIZE = _FIXED.size + DIGEST_SIZE
_HAS_ACCESS = 1
_HAS_RSSI = 2
_Kept = bytes | tuple[bytes | _Sighting, ...]


def _record(
    access_number: int | None, digest: bytes, first_at_s: float, duplicates: int, best_rssi_dbm: float | None
) -> bytes:
    flags = (_HAS_ACCESS if access_number is not None else 0) | (
        _HAS_RSSI if best_rssi_dbm is not None else 0
    )
    return _FIXED.pack(first_at_s, best_rssi_dbm or 0.0, duplicates, access_number or 0, flags) + digest


def _split(kept: _Kept) -> tuple[bytes, tuple[_Sighting, ...]]:
    if type(kept) is bytes:
        return kept, ()
    return cast(bytes, kept[0]), cast("tuple[_Sighting, ...]", kept[1:])


def _join(closed: bytes, opened: tuple[_Sighting, ...]) -> _Kept:
    return (closed, *opened) if opened else closed


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
        self.max_pending = max_pending
        self.stats = DedupStats()
        # Oldest first; closed sightings packed: a deque's first block alone is some 600 bytes.
        self._meters: OrderedDict[str, _Kept] = OrderedDict()
        # First sightings in arrival order, so that closed windows are found without a scan; bounded
        # so that a caller who never asks for tallies does not grow it.
        self._pending: deque[tuple[float, str, _Sighting]] = deque()

    def check(
        self,
        meter_id: str,
        access_number: int | None,
        payload_digest: bytes,
        at_s: float,
        rssi_dbm: float | None = None,
    ) -> DedupResult:
        """Record one copy heard at ``at_s`` (epoch seconds) and say whether it is new.

        ``payload_digest`` is what :func:`payload_digest` makes (``DIGEST_SIZE`` bytes).
        """
        if len(payload_digest) != DIGEST_SIZE:
            raise ValueError(f"payload digest of {len(payload_digest)} bytes, expected {DIGEST_SIZE}")
        self.stats.telegrams += 1
        meters = self._meters
        kept = meters.get(meter_id)
        closed: bytes
        opened: tuple[_Sighting, ...]
        if kept is None:
            closed, opened = b"", ()
            meters[meter_id] = closed
            if len(meters) > self.max_meters:
                meters.popitem(last=False)
                self.stats.evicted_meters += 1
        else:
            meters.move_to_end(meter_id)
            if type(kept) is bytes:
                closed, opened = kept, ()
            else:
                closed, opened = _split(kept)
            if closed:
                found = self._match_closed(closed, access_number, payload_digest, at_s, rssi_dbm)
                if found is not None:
                    meters[meter_id] = _join(found[0], opened)
                    return found[1]
            for sighting in opened:
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
        if self.slots_per_meter > 0:
            opened = (*opened, sighting)
            excess = len(closed) // _SIZE + len(opened) - self.slots_per_meter
            if excess > 0:  # the oldest make room
                dropped = min(excess, len(closed) // _SIZE)
                closed, opened = closed[dropped * _SIZE :], opened[excess - dropped :]
            meters[meter_id] = _join(closed, opened)
        pending = self._pending
        if len(pending) >= self.max_pending:
            _, old_meter, old = pending.popleft()  # its tally is lost, as documented
            self._close(old_meter, old)
        pending.append((at_s + self.window_s, meter_id, sighting))
        self.stats.new += 1
        return DedupResult(True, 0, rssi_dbm, at_s)

    def _match_closed(
        self, closed: bytes, access_number: int | None, digest: bytes, at_s: float, rssi_dbm: float | None
    ) -> tuple[bytes, DedupResult] | None:
        """A closed sighting this copy repeats: (the records with its tally raised, the result)."""
        for offset in range(0, len(closed), _SIZE):
            if not closed.startswith(digest, offset + _FIXED.size):
                continue
            first_at_s, rssi, duplicates, access, flags = _FIXED.unpack_from(closed, offset)
            if (access if flags & _HAS_ACCESS else None) != access_number or abs(
                at_s - first_at_s
            ) > self.window_s:
                continue
            best = _better(rssi_dbm, rssi if flags & _HAS_RSSI else None)
            duplicates += 1
            record = _record(access_number, digest, first_at_s, duplicates, best)
            self.stats.duplicates += 1
            end = offset + _SIZE
            return closed[:offset] + record + closed[end:], DedupResult(False, duplicates, best, first_at_s)
        return None

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
            self._close(meter_id, sighting)
        return out

    def expire(self, now_s: float) -> int:
        """What :meth:`closed` does, without making the tallies (the daemon counts copies as they come);
        how many windows closed."""
        pending = self._pending
        count = 0
        while pending and pending[0][0] < now_s:
            _, meter_id, sighting = pending.popleft()
            self._close(meter_id, sighting)
            count += 1
        return count

    def _close(self, meter_id: str, sighting: _Sighting) -> None:
        """The window ended: the meter keeps the sighting packed (if it still keeps it: then it is the
        oldest of its open ones, windows closing in arrival order)."""
        kept = self._meters.get(meter_id)
        if type(kept) is not tuple or kept[1] is not sighting:
            return
        record = _record(
            sighting.access_number,
            sighting.digest,
            sighting.first_at_s,
            sighting.duplicates,
            sighting.best_rssi_dbm,
        )
        closed = cast(bytes, kept[0]) + record
        self._meters[meter_id] = (closed, *kept[2:]) if len(kept) > 2 else closed

    def slots(self, meter_id: str) -> int:
        """Telegrams remembered for ``meter_id``."""
        kept = self._meters.get(meter_id)
        if kept is None:
            return 0
        closed, opened = _split(kept)
        return len(closed) // _SIZE + len(opened)

    def __len__(self) -> int:
        """Meters currently remembered."""
        return len(self._meters)
