"""Turn what the daemon produces (publications, status, raw telegrams) into MQTT messages.

Every payload is compact JSON with a versioned ``schema`` and the ``gateway`` it comes from; the
JSON Schemas live in ``gateway/uplink/schemas/`` and docs/topics.md describes them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, NamedTuple, Protocol

from gateway import json_codec
from gateway.frame import ReceivedFrame
from gateway.uplink.topics import MessageKind, Topics

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SCHEMAS: dict[MessageKind, str] = {
    kind: f"wmbus-gateway/{kind.value}/{SCHEMA_VERSION}" for kind in MessageKind
}

# Lower sends first within one drain round; the outbox drops only kinds listed in DROPPABLE.
PRIORITY: dict[MessageKind, int] = {
    MessageKind.STATUS: 0,
    MessageKind.EVENT: 1,
    MessageKind.MONTHLY: 2,
    MessageKind.READING: 3,
    MessageKind.RAW: 3,
    MessageKind.DISCOVERY: 2,
}
_KINDS: dict[str, MessageKind] = {kind.value: kind for kind in MessageKind}
RETAINED: frozenset[MessageKind] = frozenset({MessageKind.STATUS, MessageKind.READING, MessageKind.MONTHLY})


class PublicationLike(Protocol):
    """The shape of ``gateway.publication.Publication`` (kind, meter_id, payload, month)."""

    @property
    def kind(self) -> str: ...
    @property
    def meter_id(self) -> str: ...
    @property
    def payload(self) -> Mapping[str, Any]: ...
    @property
    def month(self) -> str | None: ...


class OutboundMessage(NamedTuple):
    """One MQTT message ready for the outbox: topic, JSON bytes, retain flag, kind, meter. (A named
    tuple: one is made for every publication, a fraction of a frozen dataclass's cost.)"""

    topic: str
    payload: bytes
    retain: bool
    kind: MessageKind
    meter_id: str | None = None

    @property
    def priority(self) -> int:
        return PRIORITY[self.kind]


def _json_default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, frozenset | set):
        return sorted(str(item) for item in value)
    if isinstance(value, bytes):
        return value.hex().upper()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _head(kind: MessageKind, gateway: str) -> bytes:
    """``{"schema":...,"gateway":...,`` of a document: the same bytes for every message of a kind."""
    head = _HEADS.get((kind, gateway))
    if head is None:
        head = json_codec.dumps({"schema": SCHEMAS[kind], "gateway": gateway})[:-1] + b","
        if len(_HEADS) >= 64:
            _HEADS.clear()
        _HEADS[kind, gateway] = head
    return head


_HEADS: dict[tuple[MessageKind, str], bytes] = {}


def encode(kind: MessageKind, gateway: str, body: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON with ``schema`` and ``gateway`` first; a NaN or infinite number becomes null.

    Through :mod:`gateway.json_codec` (orjson where installed: a reading in about a tenth of the
    standard library's time); a null in the output is checked for a number that was not finite. The
    body is encoded alone and put after the kind's ``schema`` and ``gateway`` bytes (no merged copy of
    it a message), unless it names either key itself.
    """
    if type(body) is dict and body and "schema" not in body and "gateway" not in body:
        document: Mapping[str, Any] = body
        payload = _head(kind, gateway) + json_codec.dumps(body, _json_default)[1:]
    else:
        document = {"schema": SCHEMAS[kind], "gateway": gateway, **body}
        payload = json_codec.dumps(document, _json_default)
    if b"null" in payload and not json_codec.all_finite(document):
        # JSON has no NaN: one bad number must not stop the publication, or the daemon
        log.warning("%s message of %s: a number that is not finite is published as null", kind.value, gateway)
    return payload


def publication_message(topics: Topics, publication: PublicationLike) -> OutboundMessage:
    """A billing publication (reading, monthly index or event) as an MQTT message."""
    kind = _KINDS.get(publication.kind) or MessageKind(publication.kind)
    meter_id = publication.meter_id
    if kind is MessageKind.READING:
        topic = topics.reading(meter_id)
    elif kind is MessageKind.MONTHLY:
        month = publication.month or str(publication.payload.get("month", ""))
        topic = topics.monthly(meter_id, month)
    elif kind is MessageKind.EVENT:
        topic = topics.event(meter_id)
    else:
        raise ValueError(f"a publication cannot be of kind {kind}")
    payload = encode(kind, topics.gateway, publication.payload)
    return OutboundMessage(topic, payload, kind in RETAINED, kind, meter_id)


def status_body(
    state: str,
    version: str,
    *,
    sources: Mapping[str, Any] | None = None,
    counters: Mapping[str, Any] | None = None,
    coverage: Mapping[str, Any] | None = None,
    outbox: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The status document without schema and gateway."""
    if state not in ("online", "offline"):
        raise ValueError(f"status state must be online or offline, got {state!r}")
    return {
        "state": state,
        "version": version,
        "sources": dict(sources or {}),
        "counters": dict(counters or {}),
        "coverage": dict(coverage or {}),
        "outbox": dict(outbox or {}),
    }


def status_message(topics: Topics, body: Mapping[str, Any]) -> OutboundMessage:
    """The retained status message (see :func:`status_body`)."""
    payload = encode(MessageKind.STATUS, topics.gateway, body)
    return OutboundMessage(topics.status(), payload, True, MessageKind.STATUS, None)


def raw_message(
    topics: Topics, frame: ReceivedFrame, *, meter_id: str, manufacturer: str, duplicates: int = 0
) -> OutboundMessage:
    """A deduplicated telegram, still encrypted, for a head-end that holds the keys."""
    body = {
        "meter_id": meter_id,
        "manufacturer": manufacturer,
        "telegram": frame.data.hex().upper(),
        "received_at": frame.received_at.isoformat(),
        "rssi_dbm": frame.rssi_dbm,
        "link_mode": str(frame.link_mode),
        "source": frame.source,
        "duplicates": duplicates,
    }
    return OutboundMessage(
        topics.raw(), encode(MessageKind.RAW, topics.gateway, body), False, MessageKind.RAW, meter_id
    )
