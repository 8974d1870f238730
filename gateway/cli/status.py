"""``wmbus-gateway status``: coverage, last seen, open alarms and source health, from the state database."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from gateway.billing.processor import ReadingProcessor
from gateway.billing.state import StateStore, StateStoreError
from gateway.cli.common import ConfigOption, StateDirOption, console, fail, settings
from gateway.daemon.config import GatewayConfig
from gateway.daemon.runner import STATUS_META_KEY
from gateway.radio.faults import in_words


def open_state(config: GatewayConfig) -> StateStore | None:
    """The state database if the daemon has created one (never creates it)."""
    if not config.state_db_path.is_file():
        return None
    try:
        return StateStore(config.state_db_path)
    except StateStoreError as err:
        fail(str(err))


def _percent(ratio: Any) -> str:
    return f"{ratio * 100:.1f}%" if isinstance(ratio, int | float) else "-"


def _age(at: datetime, now: datetime) -> str:
    seconds = max(0.0, (now - at).total_seconds())
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def status(
    config: ConfigOption = None,
    state_dir: StateDirOption = None,
    meters: Annotated[int, typer.Option(help="Show this many meters, least recently read first.")] = 20,
) -> None:
    """Coverage (read this month, actual index last month), last seen, open alarms, source health."""
    loaded = settings(config, state_dir)
    store = open_state(loaded)
    if store is None:
        fail(f"no state database at {loaded.state_db_path}: has the gateway run with this --state-dir?")
    try:
        processor = ReadingProcessor(store, loaded.billing_settings, loaded.tz)
        saved_text = store.get_meta(STATUS_META_KEY)
        saved: dict[str, Any] = json.loads(saved_text) if saved_text else {}
        # the daemon's clock: wall time live, recorded time after a replay
        now = processor.clock or datetime.now(UTC)
        console.print(f"billing zone: {loaded.timezone_label}", highlight=False)
        _coverage(processor.coverage_report(now))
        _sources(saved)
        _last_seen(store, now, meters)
        _alarms(store)
        _unknown(store, now)
    finally:
        store.close()


def _coverage(report: dict[str, Any]) -> None:
    table = Table(title="coverage")
    for column in (
        "provisioned",
        f"read in {report['month']}",
        f"actual index {report['previous_month']}",
        f"any index {report['previous_month']}",
    ):
        table.add_column(column, justify="right")
    table.add_row(
        str(report["provisioned"]),
        f"{report['read']} ({_percent(report['read_ratio'])})",
        f"{report['actual']} ({_percent(report['actual_ratio'])})",
        f"{report['indexed']} ({_percent(report['indexed_ratio'])})",
    )
    console.print(table)
    if report["missing"]:
        console.print(f"not read this month: {', '.join(report['missing'])}")


def _sources(saved: dict[str, Any]) -> None:
    sources = saved.get("sources") or {}
    table = Table(title=f"radio sources (as of {saved.get('at', 'never')})")
    for column in (
        "source",
        "health",
        "connected",
        "frames",
        "errors",
        "reconnects",
        "last frame",
        "last error",
    ):
        table.add_column(column)
    for name, stats in sources.items():
        errors = sum(stats.get("errors", {}).values())
        health = str(stats.get("state", "-"))
        table.add_row(
            name,
            health
            if health in ("healthy", "learning", "-")
            else f"[red]{health}[/] {stats.get('reason') or ''}",
            "yes" if stats.get("connected") else "[red]no[/]",
            str(stats.get("frames", 0)),
            str(errors),
            str(stats.get("reconnects", 0)),
            str(stats.get("last_frame_at") or "-")[:19],
            Text(_error_words(stats)),
        )
    console.print(table)
    counters = saved.get("counters") or {}
    if counters:
        errors = counters.get("errors") or {}
        console.print(
            f"frames {counters.get('frames', 0)}, readings {counters.get('readings', 0)}, duplicates "
            f"{counters.get('duplicates', 0)}, unknown-meter frames {counters.get('unknown_meter', 0)}, "
            f"wrong-key meters {counters.get('wrong_key_meters', 0)}, key-missing meters "
            f"{counters.get('key_missing_meters', 0)}, errors "
            + (", ".join(f"{name} {count}" for name, count in sorted(errors.items())) or "0"),
            highlight=False,
        )
        _meter_errors(counters.get("meter_errors") or {})


def _meter_errors(meter_errors: dict[str, Any], limit: int = 10) -> None:
    """Provisioned meters whose telegrams were refused, most first (a key missing or wrong, ...)."""
    if not meter_errors:
        return
    table = Table(title=f"provisioned meters with refused telegrams (top {min(limit, len(meter_errors))})")
    for column in ("meter", "telegrams refused"):
        table.add_column(column)
    for meter_id, kinds in list(meter_errors.items())[:limit]:
        table.add_row(meter_id, ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items())))
    console.print(table)


def _error_words(stats: dict[str, Any]) -> str:
    """Why the source is down now (if it is), else its last error, in words."""
    down = stats.get("down_reason")
    if down:
        return f"down: {down}"
    return in_words(stats.get("last_error"))


def _last_seen(store: StateStore, now: datetime, limit: int) -> None:
    seen = store.last_seen()
    meters = store.list_meters()
    never = datetime.min.replace(tzinfo=UTC)
    ordered = sorted(meters, key=lambda m: seen.get(m.meter_id, never))[:limit]
    table = Table(title=f"last seen ({len(meters)} meters, least recent first)")
    for column in ("meter", "name", "last seen", "age", "total m3"):
        table.add_column(column)
    for meter in ordered:
        at = seen.get(meter.meter_id)
        reading = store.last_reading(meter.meter_id) or {}
        total = reading.get("total_m3")
        table.add_row(
            meter.meter_id,
            meter.name or "",
            at.isoformat()[:19] if at else "[red]never[/]",
            _age(at, now) if at else "-",
            f"{total:.3f}" if isinstance(total, int | float) else "-",
        )
    console.print(table)


def _alarms(store: StateStore) -> None:
    alarms = store.open_alarms()
    table = Table(title=f"open alarms ({len(alarms)})")
    for column in ("meter", "alarm", "since"):
        table.add_column(column)
    for alarm in alarms:
        table.add_row(alarm.meter_id, alarm.name, alarm.since.isoformat()[:19])
    console.print(table)


def _unknown(store: StateStore, now: datetime) -> None:
    unknown = store.unknown_meters(limit=10)
    if not unknown:
        return
    table = Table(title="heard but not provisioned (latest 10)")
    for column in ("meter", "maker", "type", "RSSI dBm", "last seen", "telegrams"):
        table.add_column(column)
    for meter in unknown:
        rssi = f"{meter.last_rssi_dbm:.0f}" if meter.last_rssi_dbm is not None else "-"
        device_type = f"0x{meter.device_type:02X}" if meter.device_type is not None else "-"
        table.add_row(
            meter.meter_id,
            meter.manufacturer or "",
            device_type,
            rssi,
            _age(meter.last_seen, now) + " ago",
            str(meter.count),
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("status")(status)
