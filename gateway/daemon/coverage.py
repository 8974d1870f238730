"""Coverage, the utility's headline KPI: how many provisioned meters the radio reads."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.daemon.monthly_index import Cutoff, IndexSource


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
    since_s = last_cutoff.at_s
    read = 0
    actual = 0
    indexed = 0
    missing: list[str] = []
    for meter_id in provisioned:
        at_s = last_read_s.get(meter_id)
        if at_s is not None and at_s >= since_s:
            read += 1
        else:
            missing.append(meter_id)
        source = previous_sources.get(meter_id)
        if source is not None:
            indexed += 1
            if source == IndexSource.ACTUAL:
                actual += 1
    return Coverage(
        month=running_month,
        previous_month=last_cutoff.month,
        provisioned=len(provisioned),
        read=read,
        actual=actual,
        indexed=indexed,
        missing=tuple(sorted(missing)[:missing_limit]),
    )
