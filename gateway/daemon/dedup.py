"""Duplicate telegrams: the same telegram heard again (repeats, repeaters, two dongles) counts once.

Identity is the meter plus the telegram's content (access number and a digest of the payload), never
the arrival time. The first copy is new and is published at once; later copies within ``window_s`` of
it are duplicates: they only raise the copy count and the best RSSI of that first sighting. The final
count of each telegram is handed out by :meth:`Deduplicator.closed` once its window has passed.
Memory is a fixed number of slots per meter (plus a bounded number of meters); a check costs the same
whatever the number of meters. A telegram whose window has closed is kept packed in one small bytes
object (its tally can still grow: a late copy is still a duplicate), so a meter heard long ago costs
about a hundred bytes, not a deque of objects.
"""

from __future__ import annotations

import hashlib
import struct
from collections import OrderedDict, deque
from dataclasses import dataclass


def payload_digest(data: bytes) -> bytes:
    """A short digest of a telegram's content; hash the bytes that repeaters do not change."""
    return hashlib.blake2b(data, digest_size=8).digest()


@dataclass(slots=True)
class _Sighting:
    """A telegram whose window is open (its tally is still pending)."""

    access_number: int | None
    digest: bytes
    first_at_s: float
    duplicates: int
    best_rssi_dbm: float | None


# A closed sighting: first_at_s, best_rssi_dbm, duplicates, access_number, flags, then the digest.
_PACKED = struct.Struct("<ddIHB")
_HAS_ACCESS = 1
_HAS_RSSI = 2
_Slot = _Sighting | bytes


def _pack(
    access_number: int | None, digest: bytes, first_at_s: float, duplicates: int, best_rssi_dbm: float | None
) -> bytes | None:
    """The packed form, or None when a field does not fit it (then the object is kept)."""
    flags = 0
    if access_number is not None:
        if not 0 <= access_number <= 0xFFFF:
            return None
        flags |= _HAS_ACCESS
    if best_rssi_dbm is not None:
        flags |= _HAS_RSSI
    if duplicates > 0xFFFFFFFF:
        return None
    return _PACKED.pack(first_at_s, best_rssi_dbm or 0.0, duplicates, access_number or 0, flags) + digest


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
        # Oldest first; a tuple, not a deque: a deque's first block alone is some 600 bytes.
        self._meters: OrderedDict[str, tuple[_Slot, ...]] = OrderedDict()
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
        """Record one copy heard at ``at_s`` (epoch seconds) and say whether it is new."""
        self.stats.telegrams += 1
        meters = self._meters
        slots = meters.get(meter_id)
        if slots is None:
            slots = ()
            meters[meter_id] = slots
            if len(meters) > self.max_meters:
                meters.popitem(last=False)
                self.stats.evicted_meters += 1
        else:
            meters.move_to_end(meter_id)
            for index, slot in enumerate(slots):
                if type(slot) is bytes:
                    if len(slot) != _PACKED.size + len(payload_digest) or not slot.endswith(payload_digest):
                        continue
                    first_at_s, rssi, duplicates, access, flags = _PACKED.unpack_from(slot)
                    if (access if flags & _HAS_ACCESS else None) != access_number:
                        continue
                    if abs(at_s - first_at_s) > self.window_s:
                        continue
                    best = _better(rssi_dbm, rssi if flags & _HAS_RSSI else None)
                    duplicates += 1
                    repacked = _pack(access_number, payload_digest, first_at_s, duplicates, best)
                    if repacked is None:  # the count outgrew the packed field
                        sighting = _Sighting(access_number, payload_digest, first_at_s, duplicates, best)
                        meters[meter_id] = (*slots[:index], sighting, *slots[index + 1 :])
                    else:
                        meters[meter_id] = (*slots[:index], repacked, *slots[index + 1 :])
                    self.stats.duplicates += 1
                    return DedupResult(False, duplicates, best, first_at_s)
                assert isinstance(slot, _Sighting)
                if (
                    slot.digest == payload_digest
                    and slot.access_number == access_number
                    and abs(at_s - slot.first_at_s) <= self.window_s
                ):
                    slot.duplicates += 1
                    slot.best_rssi_dbm = _better(rssi_dbm, slot.best_rssi_dbm)
                    self.stats.duplicates += 1
                    return DedupResult(False, slot.duplicates, slot.best_rssi_dbm, slot.first_at_s)
        sighting = _Sighting(access_number, payload_digest, at_s, 0, rssi_dbm)
        keep = self.slots_per_meter - 1  # the oldest makes room
        if keep >= 0:
            meters[meter_id] = (*slots[max(0, len(slots) - keep) :], sighting)
        pending = self._pending
        if len(pending) >= self.max_pending:
            _, old_meter, old = pending.popleft()  # its tally is lost, as documented
            self._close(old_meter, old)
        pending.append((at_s + self.window_s, meter_id, sighting))
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
            self._close(meter_id, sighting)
        return out

    def _close(self, meter_id: str, sighting: _Sighting) -> None:
        """The window ended: the meter keeps the sighting packed (if it still keeps it)."""
        slots = self._meters.get(meter_id)
        if slots is None:
            return
        for index, slot in enumerate(slots):
            if slot is sighting:
                packed = _pack(
                    sighting.access_number,
                    sighting.digest,
                    sighting.first_at_s,
                    sighting.duplicates,
                    sighting.best_rssi_dbm,
                )
                if packed is not None:
                    self._meters[meter_id] = (*slots[:index], packed, *slots[index + 1 :])
                return

    def __len__(self) -> int:
        """Meters currently remembered."""
        return len(self._meters)
