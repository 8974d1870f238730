"""A meter's transmit cadence, learned from the gaps between its receptions and robust to lost frames.

Lost frames only lengthen gaps, to whole multiples of the true interval. So the interval is the largest
candidate (a short gap divided by 1-4) that explains most recent gaps as small multiples of itself; the
delivery ratio is heard frames over transmissions those multiples imply, capped so that the meter never
delivers faster than it was heard. A meter without such a cadence (random intervals) falls back to its mean
gap with full delivery, which expects no more than it heard.
"""

from __future__ import annotations

from array import array
from statistics import median
from typing import Any

RING_GAPS = 16
_TOLERANCE = 0.2  # share of the interval a gap may sit off a multiple (OMS meters randomise their timing)
_EXPLAINED_SHARE = 0.75
_DIVISORS = (1, 2, 3, 4)
_MAX_MULTIPLE = 8  # beyond this, a tolerance of a fifth of the interval would fit a too-short interval
_LONG_RUN_WEIGHT = 0.1  # per estimate (every 8 gaps): the long-run rate spans about 80 gaps
_WARMUP_WEIGHT = 0.5  # per estimate while the ring fills (2, 4 and 12 gaps): the first ones are noisy
_MIN_DELIVERY = 0.05
_SLACK_DECAY = 0.9  # per estimate
_REESTIMATE_EVERY = 8  # gaps; the estimate is the costly part of a frame, the cadence changes slowly


class MeterCadence:
    """Timing model of one meter as heard by one source; times are POSIX seconds."""

    __slots__ = (
        "_count",
        "_fresh",
        "_gaps",
        "_pos",
        "delivery",
        "epoch",
        "interval_s",
        "last_at",
        "longest_gap_s",
        "rate_long_per_s",
        "rssi_dbm",
        "rssi_frames",
        "span_gap_s",
    )

    def __init__(self, at: float, epoch: int) -> None:
        self.last_at = at
        self.epoch = epoch
        self._gaps = array("d", bytes(8 * RING_GAPS))
        self._count = 0
        self._pos = 0
        self._fresh = 0
        self.interval_s: float | None = None
        self.delivery = 1.0
        # The meter's history, frames per second in the long run. A rate, not a delivery ratio: a ratio
        # means something only against the interval it was found with, and the interval estimate moves
        # (to a sub-multiple when timing jitter lets one fit the gaps, with a delivery to match).
        self.rate_long_per_s: float | None = None
        self.longest_gap_s = 0.0
        self.rssi_dbm: float | None = None
        self.rssi_frames = 0
        self.span_gap_s = 0.0  # the last gap that spanned a silence of the source (judged by the source)

    @property
    def gaps_seen(self) -> int:
        return self._count

    def observe(self, at: float, epoch: int, repeat_gap_s: float) -> bool:
        """Take one reception; False when it was a repeat of the last one (too close to count)."""
        gap = at - self.last_at
        if gap < repeat_gap_s:
            return False
        self.last_at = at
        if epoch != self.epoch:
            # The gap spans a silence of the source: not the meter's cadence. The source decides whether
            # it widens the slack (``widen``): only if the silence ended by itself, not by a heal step.
            self.epoch = epoch
            self.span_gap_s = gap
            return True
        self._gaps[self._pos] = gap
        self._pos = (self._pos + 1) % RING_GAPS
        self._count = min(self._count + 1, RING_GAPS)
        self._fresh += 1
        # A longer gap than any recent one widens the meter's slack at once (a meter slowing down at night).
        self.longest_gap_s = max(self.longest_gap_s, gap)
        if self._fresh >= _REESTIMATE_EVERY or self._count in (2, 4):
            self._estimate(repeat_gap_s)
        return True

    def widen(self, gap_s: float) -> None:
        """Tolerate a gap this long until the next estimate (a schedule change is not mistaken twice)."""
        self.longest_gap_s = max(self.longest_gap_s, gap_s)

    def to_json(self) -> dict[str, Any]:
        """What was learned, to survive a restart (times are not kept: the restart resets them)."""
        return {
            "gaps": [round(gap, 3) for gap in self.recent_gaps()],
            "rate_long_per_s": _round_rate(self.rate_long_per_s),
            "longest_gap_s": round(self.longest_gap_s, 3),
            "rssi_dbm": round(self.rssi_dbm, 2) if self.rssi_dbm is not None else None,
            "rssi_frames": self.rssi_frames,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], at: float, epoch: int, floor_s: float) -> MeterCadence:
        """A meter as saved by ``to_json``, taken as heard at ``at`` (the restart)."""
        meter = cls(at, epoch)
        gaps = [float(gap) for gap in data["gaps"]][-RING_GAPS:]
        for gap in gaps:
            meter._gaps[meter._pos] = gap
            meter._pos = (meter._pos + 1) % RING_GAPS
        meter._count = len(gaps)
        if gaps:
            meter._estimate(floor_s)
        # Older snapshots kept a delivery ratio ("delivery_long"), meaningless without the interval it
        # was found with: their history restarts from the current estimate.
        saved_rate = data.get("rate_long_per_s")
        if saved_rate is not None:
            meter.rate_long_per_s = float(saved_rate)
        meter.longest_gap_s = max(meter.longest_gap_s, float(data["longest_gap_s"]))
        rssi = data.get("rssi_dbm")
        meter.rssi_dbm = float(rssi) if rssi is not None else None
        meter.rssi_frames = int(data.get("rssi_frames", 0))
        return meter

    def recent_gaps(self) -> list[float]:
        return sorted(self._gaps[: self._count]) if self._count < RING_GAPS else sorted(self._gaps)

    def _estimate(self, floor_s: float) -> None:
        self._fresh = 0
        gaps = self.recent_gaps()
        interval, delivery = fold_interval(gaps, floor_s)
        self.interval_s = interval
        self.delivery = delivery
        rate = delivery / interval
        history = self.rate_long_per_s
        if history is None:
            self.rate_long_per_s = rate
        else:
            weight = _LONG_RUN_WEIGHT if self._count >= RING_GAPS else _WARMUP_WEIGHT
            self.rate_long_per_s = history + weight * (rate - history)
        # Decays rather than drops: a schedule change seen once is still tolerated the next few cycles.
        self.longest_gap_s = max(gaps[-1], _SLACK_DECAY * self.longest_gap_s)

    def missed(self, at: float) -> float:
        """Transmissions the meter made since it was last heard, up to ``at`` (0 while within its habits)."""
        interval = self.interval_s
        if interval is None:
            return 0.0
        # A meter owes frames only once it has been quiet longer than its longest recent gap.
        slack = max(1.0 + _TOLERANCE, self.longest_gap_s / interval)
        return max(0.0, (at - self.last_at) / interval - slack)


def fold_interval(sorted_gaps: list[float], floor_s: float) -> tuple[float, float]:
    """(interval_s, delivery ratio) explaining ``sorted_gaps`` (ascending) as multiples of one interval.

    The ratio never implies more frames than the gaps hold (``count * interval / sum``): with timing
    jitter a sub-multiple of the interval can fit most gaps, and its fit alone would then count the
    transmissions of the gaps it leaves out as heard.
    """
    count = len(sorted_gaps)
    candidates = sorted(
        {gap / k for gap in sorted_gaps[:3] for k in _DIVISORS if gap / k >= floor_s}, reverse=True
    )
    for interval in candidates:
        multiples: list[int] = []
        per_transmission: list[float] = []
        for gap in sorted_gaps:
            k = round(gap / interval)
            if 1 <= k <= _MAX_MULTIPLE and abs(gap - k * interval) <= _TOLERANCE * interval:
                multiples.append(k)
                per_transmission.append(gap / k)
        if len(multiples) >= _EXPLAINED_SHARE * count:
            fitted = median(per_transmission)
            heard = count * fitted / sum(sorted_gaps)
            return fitted, max(_MIN_DELIVERY, min(len(multiples) / sum(multiples), heard))
    return sum(sorted_gaps) / count, 1.0


def _round_rate(rate: float | None) -> float | None:
    return float(f"{rate:.4g}") if rate is not None else None
