"""MQTT topic names of the gateway: built from prefix, gateway and meter, and parsed back.

{prefix}/{gateway}/status
{prefix}/{gateway}/raw
{prefix}/{gateway}/meters/{meter}/reading
{prefix}/{gateway}/meters/{meter}/monthly/{YYYY-MM}
{prefix}/{gateway}/meters/{meter}/event
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from gateway.meter_id import normalise_meter_id

DEFAULT_PREFIX = "wmbus"
TOPICS_KEPT = 4096  # reading topics a Topics remembers
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


class MessageKind(StrEnum):
    """What a message carries; decides retain, priority and the outbox's drop policy."""

    STATUS = "status"
    READING = "reading"
    MONTHLY = "monthly"
    EVENT = "event"
    RAW = "raw"
    DISCOVERY = "discovery"  # Home Assistant discovery configs (retained, never dropped)


class TopicError(ValueError):
    """A topic that is not one of the gateway's, or a level that cannot be a topic level."""


def _check_level(name: str, value: str) -> str:
    if not value or any(ch in value for ch in "/#+\x00"):
        raise TopicError(f"{name} {value!r} cannot be an MQTT topic level")
    return value


@dataclass(frozen=True, slots=True)
class Topics:
    """The topics of one gateway under one prefix."""

    gateway: str
    prefix: str = DEFAULT_PREFIX
    # meter id -> its reading topic: one is built with every reading (bounded: starts over when full)
    _reading_topics: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_level("gateway", self.gateway)
        if not self.prefix or any(ch in self.prefix for ch in "#+\x00") or self.prefix.startswith("/"):
            raise TopicError(f"prefix {self.prefix!r} cannot start a topic")

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.gateway}"

    def status(self) -> str:
        return f"{self.base}/status"

    def raw(self) -> str:
        return f"{self.base}/raw"

    def reading(self, meter_id: str) -> str:
        topic = self._reading_topics.get(meter_id)
        if topic is None:
            topic = f"{self.base}/meters/{_check_level('meter id', meter_id)}/reading"
            if len(self._reading_topics) >= TOPICS_KEPT:
                self._reading_topics.clear()
            self._reading_topics[meter_id] = topic
        return topic

    def monthly(self, meter_id: str, month: str) -> str:
        if not _MONTH.fullmatch(month):
            raise TopicError(f"month {month!r} is not YYYY-MM")
        return f"{self.base}/meters/{_check_level('meter id', meter_id)}/monthly/{month}"

    def event(self, meter_id: str) -> str:
        return f"{self.base}/meters/{_check_level('meter id', meter_id)}/event"


def ingest_filters(prefix: str = DEFAULT_PREFIX) -> tuple[str, ...]:
    """The topic filters an ingester subscribes to: every gateway's readings, indexes, events, raw."""
    return (
        f"{prefix}/+/meters/+/reading",
        f"{prefix}/+/meters/+/monthly/+",
        f"{prefix}/+/meters/+/event",
        f"{prefix}/+/raw",
    )


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    """What a topic says about its message."""

    kind: MessageKind
    gateway: str
    meter_id: str | None = None
    month: str | None = None


def _meter_level(meter: str, topic: str) -> str:
    try:
        return normalise_meter_id(meter)
    except ValueError:
        raise TopicError(f"topic {topic!r}: {meter[:40]!r} is not a meter id (8 hex digits)") from None


def parse_topic(topic: str, prefix: str = DEFAULT_PREFIX) -> ParsedTopic:
    """Split one of the gateway's topics into kind, gateway, meter and month; TopicError otherwise.

    The meter id comes back in the canonical form (gateway.meter_id), whatever case the topic used."""
    head = prefix + "/"
    if not topic.startswith(head):
        raise TopicError(f"topic {topic!r} is not under prefix {prefix!r}")
    levels = topic[len(head) :].split("/")
    match levels:
        case [gateway, "status"]:
            return ParsedTopic(MessageKind.STATUS, gateway)
        case [gateway, "raw"]:
            return ParsedTopic(MessageKind.RAW, gateway)
        case [gateway, "meters", meter, "reading"]:
            return ParsedTopic(MessageKind.READING, gateway, _meter_level(meter, topic))
        case [gateway, "meters", meter, "event"]:
            return ParsedTopic(MessageKind.EVENT, gateway, _meter_level(meter, topic))
        case [gateway, "meters", meter, "monthly", month] if _MONTH.fullmatch(month):
            return ParsedTopic(MessageKind.MONTHLY, gateway, _meter_level(meter, topic), month)
    raise TopicError(f"topic {topic!r} is not one of the gateway's")
