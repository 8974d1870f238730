"""What one source hears: per-meter cadences, recent frame rate and RSSI, and what it should be hearing."""

from __future__ import annotations

from array import array
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from gateway.health.cadence import MeterCadence
from gateway.health.settings import HealthSettings

_RATE_BUCKETS = 15
_RSSI_LONG_WEIGHT = 0.005  # per frame of a meter after its first few: its own long-run RSSI (~200 frames)
_RSSI_WARMUP = 20  # frames of a meter averaged plainly before the slow weight applies
_RSSI_SHORT_WEIGHT = 0.1  # per frame of the source: how far below their own long run meters arrive now
_SOURCE_GAPS = 256  # the source's own recent inter-frame gaps, for "longer than it has been quiet lately"
_GAP_WEIGHT = 0.125  # per frame of the source: its typical gap follows a slowdown within ~8 frames


class RateWindow:
    """Frames counted in time buckets over a sliding window (constant memory, O(1) per frame)."""

    __slots__ = ("_counts", "_head", "_width_s")

    def __init__(self, window_s: float, buckets: int = _RATE_BUCKETS) -> None:
        self._width_s = window_s / buckets
        self._counts = [0] * buckets
        self._head: int | None = None

    def add(self, at: float) -> None:
        index = int(at // self._width_s)
        head = self._head
        if head is None or index > head:
            self._advance(index)
            head = index
        if index > head - len(self._counts):
            self._counts[index % len(self._counts)] += 1

    def count(self, now: float) -> tuple[int, float]:
        """(frames, seconds covered) for the window ending at ``now``."""
        index = int(now // self._width_s)
        self._advance(index)
        covered = (len(self._counts) - 1) * self._width_s + (now - index * self._width_s)
        return sum(self._counts), covered

    def _advance(self, index: int) -> None:
        head = self._head
        if head is None:
            self._head = index
            return
        if index <= head:
            return
        size = len(self._counts)
        for step in range(head + 1, min(index, head + size) + 1):
            self._counts[step % size] = 0
        self._head = index


@dataclass(frozen=True, slots=True)
class Expectation:
    """What a source's meters predict at one instant."""

    meters_tracked: int
    meters_expected: int
    rate_per_s: float
    """Frames per second the expected meters deliver, at their recent delivery ratio."""
    long_rate_per_s: float
    """The same over their long run (each meter's own history of frames per second)."""
    expected_in_gap: float
    """Frames the expected meters should have delivered since the source's last frame."""


class SourceTraffic:
    """The traffic model of one source; times are POSIX seconds. Not thread-safe, not async: plain state."""

    def __init__(self, settings: HealthSettings, started_at: float) -> None:
        self._settings = settings
        self.meters: OrderedDict[bytes, MeterCadence] = OrderedDict()
        self.started_at = started_at
        self.frames = 0
        self.last_frame_at: float | None = None
        self.epoch = 0
        self.rate = RateWindow(settings.rate_window_s)
        self.rssi_delta_db: float | None = None
        self.rssi_frames = 0
        self.forgotten_meters = 0
        self.resumed_at: float | None = None
        self.typical_gap_s: float | None = None
        self._source_gaps = array("d", bytes(8 * _SOURCE_GAPS))
        self._source_gap_pos = 0
        self._awaiting_resume = False
        self.silence_gap_s: float | None = None  # the gap that ended a detected silence, until judged
        self._silence_cured: bool | None = False  # verdict on the last silence; None until it is judged
        self._spans: list[MeterCadence] = []  # meters heard across the silence before the verdict

    def observe(self, transmitter: bytes, at: float, rssi_dbm: float | None) -> None:
        """One frame from ``transmitter`` (its link-layer address); the per-telegram hot path."""
        self.frames += 1
        last = self.last_frame_at
        if last is None or at > last:
            if last is not None:
                if self._awaiting_resume:
                    # The end of a detected silence: the monitor learns it only if it ended by itself.
                    self.silence_gap_s = at - last
                else:
                    self._learn_gap(at - last)
            self.last_frame_at = at
        self.rate.add(at)
        if self._awaiting_resume:
            self._awaiting_resume = False
            self.resumed_at = at
        meter = self.meters.get(transmitter)
        if meter is None:
            meter = MeterCadence(at, self.epoch)
            self.meters[transmitter] = meter
            if len(self.meters) > self._settings.max_meters_per_source:
                self.meters.popitem(last=False)
                self.forgotten_meters += 1
        else:
            self.meters.move_to_end(transmitter)
            spanned = meter.epoch != self.epoch
            if not meter.observe(at, self.epoch, self._settings.repeat_gap_s):
                return
            if spanned:
                self._spanned(meter)
        if rssi_dbm is not None:
            self._observe_rssi(meter, rssi_dbm)

    def _learn_gap(self, gap: float) -> None:
        typical = self.typical_gap_s
        self.typical_gap_s = gap if typical is None else typical + _GAP_WEIGHT * (gap - typical)
        self._source_gaps[self._source_gap_pos] = gap
        self._source_gap_pos = (self._source_gap_pos + 1) % _SOURCE_GAPS

    def _spanned(self, meter: MeterCadence) -> None:
        """A meter heard again across a silence; its gap widens its slack if the silence was a habit."""
        if self._silence_cured is None:
            self._spans.append(meter)
        elif not self._silence_cured:
            meter.widen(meter.span_gap_s)

    def end_silence(self, *, cured: bool) -> None:
        """A detected silence is over. Cured by a heal step it was a fault, not the source's habit; ended
        by itself it may be a schedule change, so its gaps count and the next such gap is tolerated."""
        self._silence_cured = cured
        gap, self.silence_gap_s = self.silence_gap_s, None
        spans, self._spans = self._spans, []
        if cured:
            return
        if gap is not None:
            self._learn_gap(gap)
        for meter in spans:
            meter.widen(meter.span_gap_s)

    def _observe_rssi(self, meter: MeterCadence, rssi_dbm: float) -> None:
        meter.rssi_frames += 1
        if meter.rssi_dbm is None:
            meter.rssi_dbm = rssi_dbm
            return
        delta = rssi_dbm - meter.rssi_dbm
        meter.rssi_dbm += delta * max(_RSSI_LONG_WEIGHT, 1.0 / meter.rssi_frames)
        if meter.rssi_frames <= _RSSI_WARMUP:
            return  # its own average is not yet a history to compare with
        self.rssi_frames += 1
        if self.rssi_delta_db is None:
            self.rssi_delta_db = delta
        else:
            self.rssi_delta_db += _RSSI_SHORT_WEIGHT * (delta - self.rssi_delta_db)

    def longest_recent_gap_s(self) -> float:
        """The longest gap between frames among the source's last frames."""
        return max(self._source_gaps)

    def to_json(self) -> dict[str, Any]:
        """The learned cadences (JSON-ready), least recently heard first."""
        return {
            "meters": {address.hex(): meter.to_json() for address, meter in self.meters.items()},
            "typical_gap_s": self.typical_gap_s,
        }

    def restore(self, data: dict[str, Any], at: float) -> None:
        """Take cadences saved by ``to_json``; every meter counts as heard at ``at`` (the restart)."""
        floor_s = self._settings.repeat_gap_s
        for address, saved in data.get("meters", {}).items():
            self.meters[bytes.fromhex(address)] = MeterCadence.from_json(saved, at, self.epoch, floor_s)
        while len(self.meters) > self._settings.max_meters_per_source:
            self.meters.popitem(last=False)
        typical = data.get("typical_gap_s")
        self.typical_gap_s = float(typical) if typical is not None else None
        # The restart is the last sign of life: judge the silence from here, not from before the downtime.
        self.last_frame_at = at

    def forget_gap(self) -> None:
        """The source is silent: the gap each meter shows when it comes back is not its cadence."""
        self.epoch += 1
        self._silence_cured = None
        self._spans = []
        self._awaiting_resume = True
        self.resumed_at = None

    def expectation(self, now: float) -> Expectation:
        """Sum the meters still expected (O(meters); called per tick, not per frame)."""
        settings = self._settings
        last = self.last_frame_at
        expected = 0
        rate = 0.0
        long_rate = 0.0
        in_gap = 0.0
        for meter in self.meters.values():
            interval = meter.interval_s
            if interval is None or meter.gaps_seen < settings.min_gaps_to_learn:
                continue
            missed_before = meter.missed(last) if last is not None else 0.0
            if meter.delivery * missed_before >= settings.retire_expected_frames:
                continue  # gone quiet while the source still heard others: moved, broken or out of range
            expected += 1
            rate += meter.delivery / interval
            long_rate += meter.rate_long_per_s or 0.0  # set with the interval
            in_gap += meter.delivery * (meter.missed(now) - missed_before)
        return Expectation(len(self.meters), expected, rate, long_rate, in_gap)
