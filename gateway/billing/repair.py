"""Mend a billing state that took a time stamp from the far future (or before 2000) for the present.

Before such times were refused, one replay line or /raw message stamped 9999-12-31 moved the processor's
clock and cut-off to year 9999 and left them in the state. :func:`repair` removes what lies outside
the plausible span: the processor's clock and cut-off (they restart from the next reading), meters'
last samples, drafts and monthly indexes of impossible months, and last readings of impossible times.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gateway.billing.state import StateStore
from gateway.clock import EARLIEST_PLAUSIBLE


@dataclass(slots=True)
class RepairReport:
    """What :func:`repair` found and removed, one line each."""

    removed: list[str] = field(default_factory=list)


def repair(store: StateStore, latest: datetime, *, dry_run: bool = False) -> RepairReport:
    """Remove every time after ``latest`` (now plus the tolerance) or before 2000 from the state."""
    report = RepairReport()
    earliest_s, latest_s = EARLIEST_PLAUSIBLE.timestamp(), latest.timestamp()
    first_month, last_month = f"{EARLIEST_PLAUSIBLE.year:04d}-01", latest.astimezone(UTC).strftime("%Y-%m")

    def bad_s(value: object) -> bool:
        return isinstance(value, int | float) and not earliest_s <= value <= latest_s

    def bad_month(value: object) -> bool:
        return isinstance(value, str) and bool(value) and not first_month <= value <= last_month

    clock = store.get_meta("processor.clock_s")
    if clock is not None and bad_s(float(clock)):
        report.removed.append(f"processor clock {_iso(float(clock))}")
    for key in ("processor.last_cutoff", "processor.grace_month"):
        value = store.get_meta(key)
        if bad_month(value):
            report.removed.append(f"{key.removeprefix('processor.').replace('_', ' ')} {value}")
    if any(line.startswith("processor") for line in report.removed) and not dry_run:
        # The processor starts afresh from the next reading's time (its first reading after a start).
        for key in ("processor.clock_s", "processor.last_cutoff", "processor.grace_month"):
            store.delete_meta(key)
    for meter_id, data in list(store.meter_states()):
        changed = False
        if bad_s(data.get("last_seen_s")):
            report.removed.append(f"meter {meter_id}: last seen {_iso(data['last_seen_s'])}")
            data["last_seen_s"] = None
            changed = True
        last = data.get("last")
        if isinstance(last, list) and last and bad_s(last[0]):
            report.removed.append(f"meter {meter_id}: last sample at {_iso(last[0])}")
            data["last"] = None
            changed = True
        drafts = data.get("drafts") or []
        kept = [d for d in drafts if not bad_month(d.get("month")) and not bad_s(d.get("cutoff_s"))]
        for draft in drafts:
            if draft not in kept:
                report.removed.append(f"meter {meter_id}: open month {draft.get('month')}")
                changed = True
        data["drafts"] = kept
        if bad_month(data.get("notified_month")):
            data["notified_month"] = None
            changed = True
        if changed and not dry_run:
            store.save_meter_state(meter_id, data)
    months = store.months_outside(first_month, last_month)
    report.removed += [f"meter {meter_id}: monthly index {month}" for meter_id, month in months]
    future = [(meter_id, at) for meter_id, at in store.last_seen().items() if bad_s(at.timestamp())]
    report.removed += [f"meter {meter_id}: last reading at {at.isoformat()}" for meter_id, at in future]
    if not dry_run:
        store.delete_months_outside(first_month, last_month)
        for meter_id, _ in future:
            store.delete_last_reading(meter_id)
        store.commit()
    return report


def _iso(at_s: float) -> str:
    try:
        return datetime.fromtimestamp(at_s, UTC).isoformat()
    except (OverflowError, ValueError, OSError):
        return json.dumps(at_s)
