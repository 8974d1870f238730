"""Every payload the uplink builds matches its JSON Schema in gateway/uplink/schemas/ (docs/topics.md)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.frame import LinkMode, ReceivedFrame
from gateway.uplink.messages import (
    OutboundMessage,
    publication_message,
    raw_message,
    status_body,
    status_message,
)
from gateway.uplink.topics import MessageKind, Topics, parse_topic
from tests.uplink.helpers import event_publication, monthly_publication, reading_publication

SCHEMAS = Path(__file__).resolve().parents[2] / "gateway" / "uplink" / "schemas"
TOPICS = Topics("gw1")
JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def violations(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """The subset of JSON Schema our schemas use: type, const, enum, pattern, required, properties..."""
    out: list[str] = []
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        ok = any(isinstance(value, JSON_TYPES[name]) for name in names)
        if isinstance(value, bool) and not any(name == "boolean" for name in names):
            ok = False
        if not ok:
            return [f"{where}: {value!r} is not {names}"]
    if "const" in schema and value != schema["const"]:
        out.append(f"{where}: {value!r} != {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{where}: {value!r} not in enum")
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        out.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if "minimum" in schema and isinstance(value, int | float) and value < schema["minimum"]:
        out.append(f"{where}: {value!r} < {schema['minimum']}")
    if isinstance(value, dict):
        out += [f"{where}: missing {key}" for key in schema.get("required", []) if key not in value]
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                out += violations(value[key], sub, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            out += violations(item, schema["items"], f"{where}[{index}]")
    return out


def schema_of(kind: MessageKind) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((SCHEMAS / f"{kind.value}.json").read_text())
    return document


def frame() -> ReceivedFrame:
    return ReceivedFrame(
        bytes.fromhex("2E4493157856341233037A2A0020052F2F"),
        LinkMode.T1,
        -80.5,
        datetime(2026, 11, 20, 8, 0, tzinfo=UTC),
        "sim",
    )


MESSAGES: dict[str, OutboundMessage] = {
    "reading": publication_message(TOPICS, reading_publication("12345678", 3)),
    "monthly": publication_message(TOPICS, monthly_publication("12345678")),
    "event": publication_message(TOPICS, event_publication("12345678")),
    "status": status_message(TOPICS, status_body("online", "0.1.0", outbox={"pending": 0})),
    "raw": raw_message(TOPICS, frame(), meter_id="12345678", manufacturer="DME"),
}


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_payload_matches_its_schema_and_topic(name: str) -> None:
    message = MESSAGES[name]
    document = json.loads(message.payload)
    assert violations(document, schema_of(message.kind)) == []
    parsed = parse_topic(message.topic)
    assert parsed.kind is message.kind and parsed.gateway == "gw1"
    assert message.retain == (message.kind in {MessageKind.READING, MessageKind.MONTHLY, MessageKind.STATUS})


def test_the_validator_rejects_what_it_should() -> None:
    document = json.loads(MESSAGES["monthly"].payload)
    broken = {**document, "source": "guessed", "schema": "wmbus-gateway/monthly/2"}
    del broken["index_m3"]
    assert len(violations(broken, schema_of(MessageKind.MONTHLY))) == 3


def test_a_number_that_is_not_finite_is_published_as_null(caplog: pytest.LogCaptureFixture) -> None:
    publication = reading_publication("12345678", 3, total_m3=float("nan"))
    publication.payload["extra"] = {"history": [1.0, float("inf")]}
    message = publication_message(TOPICS, publication)
    document = json.loads(message.payload)  # strict JSON: no NaN or Infinity tokens
    assert b"NaN" not in message.payload and b"Infinity" not in message.payload
    assert document["total_m3"] is None and document["extra"] == {"history": [1.0, None]}
    assert document["flow_m3h"] == publication.payload["flow_m3h"]  # the rest as it was
    assert "not finite" in caplog.text
