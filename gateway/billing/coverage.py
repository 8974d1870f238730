"""Coverage, the utility's headline KPI: how many provisioned meters the radio reads."""

from __future__ import annotations

import bisect
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.billing.monthly_index import Cutoff, IndexSource


@dataclass(frozen=True, slots=True)
class Coverage:
    """Share of provisioned meters read this billing month, and with an actual index last month."""

    month: str  # the running billing month
    previous_month: str  # the last closed one
    provisioned: int
    read: int  # provisioned meters with a reading since the last cut-off
    actual: int  # provisioned meters whose index for ``previous_month`` is ``actual``
    indexed: int  # provisioned meters with any index for ``previous_month``
    missing: tuple[str, ...]  # provisioned meters not read this month (first few, sorted)

    def to_json(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "previous_month": self.previous_month,
            "provisioned": self.provisioned,
            "read": self.read,
            "read_ratio": _ratio(self.read, self.provisioned),
            "actual": self.actual,
            "actual_ratio": _ratio(self.actual, self.provisioned),
            "indexed": self.indexed,
            "indexed_ratio": _ratio(self.indexed, self.provisioned),
            "missing": list(self.missing),
        }


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def compute_coverage(
    provisioned: Collection[str],
    last_read_s: Mapping[str, float],
    previous_sources: Mapping[str, str],
    last_cutoff: Cutoff,
    running_month: str,
    *,
    missing_limit: int = 20,
) -> Coverage:
    """Coverage from the provisioned ids, each meter's last reading and last month's index sources."""
    rows = ((meter_id, last_read_s.get(meter_id), previous_sources.get(meter_id)) for meter_id in provisioned)
    return coverage_of(rows, last_cutoff, running_month, missing_limit=missing_limit)


def coverage_of(
    rows: Iterable[tuple[str, float | None, str | None]],
    last_cutoff: Cutoff,
    running_month: str,
    *,
    missing_limit: int = 20,
) -> Coverage:
    """Coverage from one row per provisioned meter: (id, last reading in epoch seconds, the source of its
    index for the last closed month); the rows are read once and only ``missing_limit`` ids are kept."""
    since_s = last_cutoff.at_s
    provisioned = read = actual = indexed = 0
    missing: list[str] = []  # the first ``missing_limit`` in order
    for meter_id, at_s, source in rows:
        provisioned += 1
        if at_s is not None and at_s >= since_s:
            read += 1
        elif len(missing) < missing_limit or (missing and meter_id < missing[-1]):
            bisect.insort(missing, meter_id)
            del missing[missing_limit:]
        if source is not None:
            indexed += 1
            if source == IndexSource.ACTUAL:
                actual += 1
    return Coverage(
        month=running_month,
        previous_month=last_cutoff.month,
        provisioned=provisioned,
        read=read,
        actual=actual,
        indexed=indexed,
        missing=tuple(missing),
    )
