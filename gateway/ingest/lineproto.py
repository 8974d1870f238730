"""Turn the gateway's JSON payloads into InfluxDB line protocol (docs/timeseries.md has the layout).

Idempotency lives here: a point's series (measurement and tags) and timestamp come from the
reading itself, never from when or by whom it was ingested, so the same reading delivered twice
or heard by two gateways is the same point. Per-gateway facts (RSSI, duplicates) go to their own
measurement, ``wmbus_reception``, tagged by gateway.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from gateway.clock import meter_clock_instant
from gateway.meter_id import is_canonical, normalise_meter_id
from gateway.reading import Alarm
from gateway.uplink.topics import MessageKind, ParsedTopic

READING = "wmbus_reading"
RECEPTION = "wmbus_reception"
MONTHLY = "wmbus_monthly"
EVENT = "wmbus_event"

MONTHLY_SOURCES = {"actual": 0.0, "interpolated": 1.0, "estimated": 2.0}
EVENT_STATES = {"cleared": 0.0, "raised": 1.0, "notice": 2.0}
ALARM_BITS = {alarm.value: 1 << bit for bit, alarm in enumerate(Alarm)}
# Reading keys that are not measurements of the meter (or belong to the per-gateway reception).
_NOT_READING_FIELDS = frozenset(
    {
        "schema",
        "gateway",
        "meter_id",
        "manufacturer",
        "decoder",
        "medium",
        "received_at",
        "meter_datetime",
        "target_date",
        "alarms",
        "status_raw",
        "unsupported",
        "source",
        "rssi_dbm",
        "duplicates",
    }
)


# A gateway id as the gateway's configuration allows it (gateway.id), at most 64 characters.
GATEWAY_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# Line protocol escapes commas, equals signs and spaces, but has no escape for a line break: a newline,
# carriage return or tab in a name would end or split the line, so such a name is refused.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class PayloadError(ValueError):
    """A payload that does not match its topic's schema; the ingester logs and skips it."""


@functools.lru_cache(maxsize=65536)
def _escape_key(text: str) -> str:
    # Keys and tag values repeat (field names, meter ids): escape each once.
    if _CONTROL.search(text):
        raise PayloadError(f"control character in name or tag {text[:40]!r}")
    return text.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _meter(topic: ParsedTopic, document: Mapping[str, Any]) -> str:
    """The message's meter id, canonical (lower case) whichever case its payload used."""
    meter = document.get("meter_id") or topic.meter_id or ""
    if not isinstance(meter, str):
        raise PayloadError(f"meter id {str(meter)[:40]!r} is not 8 hex digits")
    if is_canonical(meter):  # as the gateway publishes it: no copy
        return meter
    try:
        return normalise_meter_id(meter)
    except ValueError:
        raise PayloadError(f"meter id {meter[:40]!r} is not 8 hex digits") from None


def _gateway(topic: ParsedTopic, document: Mapping[str, Any]) -> str:
    gateway = document.get("gateway") or topic.gateway
    if not isinstance(gateway, str) or not GATEWAY_ID.fullmatch(gateway):
        raise PayloadError(f"gateway id {str(gateway)[:40]!r} is not 1-64 of A-Z a-z 0-9 _ . -")
    return gateway


def _escape_measurement(text: str) -> str:
    return text.replace(",", "\\,").replace(" ", "\\ ")


def _tag_text(tags: Mapping[str, str | None]) -> str:
    parts = []
    for key, value in sorted(tags.items()):
        if not value:
            continue
        if not isinstance(value, str):
            raise PayloadError(f"tag {key} must be a string, not {type(value).__name__}")
        parts.append(f",{_escape_key(key)}={_escape_key(value)}")
    return "".join(parts)


def line(measurement: str, tags: Mapping[str, str | None], fields: Mapping[str, float], ts_ms: int) -> str:
    """One line of line protocol; tags sorted (InfluxDB's canonical order), floats only."""
    field_text = ",".join(f"{_escape_key(key)}={value!r}" for key, value in fields.items())
    return f"{_escape_measurement(measurement)}{_tag_text(tags)} {field_text} {ts_ms}"


# A meter's series (measurement and tags) repeat with every reading: format each once.
@functools.lru_cache(maxsize=65536)
def _reading_series(meter: str, manufacturer: Any, medium: Any) -> str:
    return READING + _tag_text({"meter": meter, "manufacturer": manufacturer, "medium": medium})


@functools.lru_cache(maxsize=65536)
def _reception_series(meter: str, gateway: str) -> str:
    return RECEPTION + _tag_text({"meter": meter, "gateway": gateway})


@functools.lru_cache(maxsize=1024)
def _field_key(key: str) -> str:
    return f"{_escape_key(key)}="


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def _time_ms(value: Any, name: str, naive_tz: tzinfo) -> int:
    if not isinstance(value, str):
        raise PayloadError(f"{name} must be an ISO 8601 string")
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise PayloadError(f"{name} {value!r} is not ISO 8601") from None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=naive_tz)
    return int(instant.timestamp() * 1000)


def _meter_time_ms(value: Any, meter_tz: tzinfo, received_ms: int) -> int:
    """A meter clock's time; without an offset (older gateways) wall time in ``meter_tz``, the repeated
    and skipped hours read as the gateway does (gateway.clock.meter_clock_instant)."""
    if not isinstance(value, str):
        raise PayloadError("meter_datetime must be an ISO 8601 string")
    try:
        local = datetime.fromisoformat(value)
    except ValueError:
        raise PayloadError(f"meter_datetime {value!r} is not ISO 8601") from None
    received = datetime.fromtimestamp(received_ms / 1000, UTC)
    return int(meter_clock_instant(local, meter_tz, received).timestamp() * 1000)


def _require(document: Mapping[str, Any], key: str) -> Any:
    if key not in document or document[key] is None:
        raise PayloadError(f"missing {key!r}")
    return document[key]


def check_schema(document: Any, kind: MessageKind) -> Mapping[str, Any]:
    """The document as a mapping if its ``schema`` is this kind at major version 1."""
    if not isinstance(document, dict):
        raise PayloadError("payload is not a JSON object")
    schema = document.get("schema")
    if schema != f"wmbus-gateway/{kind.value}/1":
        raise PayloadError(f"schema {schema!r} is not wmbus-gateway/{kind.value}/1")
    return document


def reading_lines(topic: ParsedTopic, document: Mapping[str, Any], meter_tz: tzinfo = UTC) -> list[str]:
    """A reading: one wmbus_reading point (meter time, else receive time) and one wmbus_reception."""
    # The ingester's hot path (two points per reading): same points as building field dicts for
    # line(), formatted directly, series texts cached.
    meter = _meter(topic, document)
    received_ms = _time_ms(_require(document, "received_at"), "received_at", UTC)
    meter_time = document.get("meter_datetime")
    ts_ms = _meter_time_ms(meter_time, meter_tz, received_ms) if meter_time else received_ms
    fields = []
    for key, value in document.items():
        if value is None or key in _NOT_READING_FIELDS:
            continue
        if type(value) is float:
            if not math.isfinite(value):
                continue
            number = value
        else:
            converted = _number(value)
            if converted is None:
                continue
            number = converted
        fields.append(f"{_field_key(key)}{number!r}")
    alarms = document.get("alarms") or []
    if not isinstance(alarms, list):
        raise PayloadError("alarms must be a list")
    fields.append(f"alarms={float(sum(ALARM_BITS.get(str(code), 0) for code in alarms))!r}")
    series = _reading_series(meter, document.get("manufacturer"), document.get("medium"))
    reception = []
    for key in ("duplicates", "rssi_dbm"):
        measured = _number(document.get(key))
        if measured is not None:
            reception.append(f"{key}={measured!r}")
    reception.append("heard=1.0")
    gateway = _gateway(topic, document)
    return [
        f"{series} {','.join(fields)} {ts_ms}",
        f"{_reception_series(meter, gateway)} {','.join(reception)} {received_ms}",
    ]


def monthly_lines(topic: ParsedTopic, document: Mapping[str, Any]) -> list[str]:
    """A monthly index at its cut-off instant plus ``revision`` milliseconds (each revision its own)."""
    meter = _meter(topic, document)
    cutoff_ms = _time_ms(_require(document, "cutoff"), "cutoff", UTC)
    revision = _number(document.get("revision")) or 0.0
    if not 0 <= revision < 1000:
        raise PayloadError("revision must be within 0..999")
    index = _number(_require(document, "index_m3"))
    if index is None:
        raise PayloadError("index_m3 must be a number")
    source = document.get("source")
    if source not in MONTHLY_SOURCES:
        raise PayloadError(f"source {source!r} is not one of {sorted(MONTHLY_SOURCES)}")
    fields = {"index_m3": index, "revision": revision, "source": MONTHLY_SOURCES[source]}
    for key in ("consumption_m3", "reading_age_s"):
        number = _number(document.get(key))
        if number is not None:
            fields[key] = number
    tags = {"meter": meter, "manufacturer": document.get("manufacturer"), "medium": document.get("medium")}
    return [line(MONTHLY, tags, fields, cutoff_ms + int(revision))]


def event_lines(topic: ParsedTopic, document: Mapping[str, Any]) -> list[str]:
    """An event at its own ``at``; gateway-level events (source_*) are tagged by gateway."""
    meter = _meter(topic, document)
    name = _require(document, "event")
    state = document.get("state")
    if not isinstance(name, str) or state not in EVENT_STATES:
        raise PayloadError("event needs a name and a state of raised, cleared or notice")
    ts_ms = _time_ms(_require(document, "at"), "at", UTC)
    fields = {"state": EVENT_STATES[state]}
    details = document.get("details") or {}
    if isinstance(details, dict):
        for key, value in details.items():
            number = _number(value)
            if number is not None:
                fields[f"detail_{key}"] = number
    tags: dict[str, str | None] = {"meter": meter, "event": name}
    if name.startswith("source_"):
        tags["gateway"] = _gateway(topic, document)
    return [line(EVENT, tags, fields, ts_ms)]


def lines_for(topic: ParsedTopic, document: Any, meter_tz: tzinfo = UTC) -> list[str]:
    """Points for one decoded payload of a reading, monthly or event topic."""
    body = check_schema(document, topic.kind)
    try:
        if topic.kind is MessageKind.READING:
            return reading_lines(topic, body, meter_tz)
        if topic.kind is MessageKind.MONTHLY:
            return monthly_lines(topic, body)
        if topic.kind is MessageKind.EVENT:
            return event_lines(topic, body)
    except (TypeError, OverflowError) as err:
        raise PayloadError(str(err)) from None
    raise PayloadError(f"{topic.kind} payloads are not stored as points")


def cutoff_plus(cutoff: datetime, revision: int) -> datetime:
    """The instant a monthly index revision is stored at (for queries and tests)."""
    return cutoff + timedelta(milliseconds=revision)
