"""The per-telegram pipeline: frame -> telegram (keys of provisioned meters) -> dedup -> reading -> processor.

Bad input never escapes :meth:`Pipeline.handle`: every failure is counted by its type (and the first
of each type is logged); meters that are not provisioned are counted and noted for surveys, never
published; a provisioned meter's refused telegrams are counted per meter and kind, under the id the
error's identity names (an encrypted meter without its key is still named).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from gateway.billing.dedup import Deduplicator, payload_digest
from gateway.billing.meters import Fleet, MeterEntry
from gateway.billing.processor import ReadingProcessor
from gateway.decoders import UnknownDecoderError, decode_reading
from gateway.frame import ReceivedFrame
from gateway.publication import Publication
from gateway.uplink.messages import PublicationLike
from gateway.wmbus.errors import (
    AuthenticationError,
    CrcError,
    DecryptionError,
    FrameError,
    KeyMissingError,
    RecordError,
    TruncatedError,
    UnknownCiError,
    WMBusError,
    WrongKeyError,
)
from gateway.wmbus.telegram import parse_telegram, peek_address

log = logging.getLogger(__name__)

# Error type -> counter name; the most specific class wins (looked up along the MRO).
ERROR_NAMES: dict[type[BaseException], str] = {
    TruncatedError: "truncated",
    CrcError: "crc",
    UnknownCiError: "unknown_ci",
    FrameError: "frame",
    RecordError: "record",
    KeyMissingError: "key_missing",
    WrongKeyError: "wrong_key",
    AuthenticationError: "authentication",
    DecryptionError: "decryption",
    WMBusError: "protocol",
    UnknownDecoderError: "unknown_decoder",
}
WRONG_KEY_ERRORS = (WrongKeyError, AuthenticationError)
METER_ERRORS_SHOWN = 50  # meters listed in the status's counters.meter_errors (those refused most)


class UnknownMeterLog(Protocol):
    """Where meters heard but not provisioned are noted (gateway.billing.state.StateStore)."""

    def note_unknown(
        self,
        meter_id: str,
        manufacturer: str | None,
        device_type: int | None,
        rssi_dbm: float | None,
        at: datetime,
    ) -> None: ...


PublicationSink = Callable[[Publication], None]
RawSink = Callable[[ReceivedFrame, str, str], None]  # frame, meter id, manufacturer


@dataclass(slots=True)
class PipelineCounters:
    """What the pipeline has seen since start; published in the gateway status."""

    frames: int = 0
    telegrams: int = 0  # parsed (and decrypted) telegrams of provisioned meters
    readings: int = 0  # new (deduplicated) readings decoded
    duplicates: int = 0
    unknown_meter: int = 0  # frames of meters that are not provisioned
    publications: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    wrong_key_meters: dict[str, int] = field(default_factory=dict)
    key_missing_meters: dict[str, int] = field(default_factory=dict)
    # provisioned meter id -> error kind -> telegrams refused (bounded by the fleet: pruned on reload)
    meter_errors: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "telegrams": self.telegrams,
            "readings": self.readings,
            "duplicates": self.duplicates,
            "unknown_meter": self.unknown_meter,
            "publications": self.publications,
            "errors": dict(self.errors),
            "wrong_key_meters": len(self.wrong_key_meters),
            "key_missing_meters": len(self.key_missing_meters),
            "meter_errors": self.worst_meters(METER_ERRORS_SHOWN),
        }

    def worst_meters(self, limit: int) -> dict[str, dict[str, int]]:
        """The ``limit`` meters with the most refused telegrams (ties: by id), each by kind of error."""
        ranked = sorted(self.meter_errors.items(), key=lambda item: (-sum(item[1].values()), item[0]))
        return {meter_id: dict(kinds) for meter_id, kinds in ranked[:limit]}


class Pipeline:
    """Turns received frames into publications; one instance per daemon, driven from one thread."""

    def __init__(
        self,
        fleet: Fleet,
        dedup: Deduplicator,
        processor: ReadingProcessor,
        publish: PublicationSink,
        *,
        unknown_log: UnknownMeterLog | None = None,
        publish_raw: RawSink | None = None,
    ) -> None:
        self.counters = PipelineCounters()
        self._dedup = dedup
        self._processor = processor
        self._publish = publish
        self._unknown_log = unknown_log
        self._publish_raw = publish_raw
        self._logged: set[str] = set()
        self._peeked: str | None = None  # the meter of the frame in hand, once its headers are read
        self.set_fleet(fleet)

    def set_fleet(self, fleet: Fleet) -> None:
        """Swap meters and keys (SIGHUP); takes effect with the next frame."""
        self._meters: Mapping[str, MeterEntry] = fleet.meters
        self._key_lookup = fleet.keys.lookup
        counters = self.counters
        for per_meter in (counters.wrong_key_meters, counters.key_missing_meters, counters.meter_errors):
            for meter_id in [meter_id for meter_id in per_meter if meter_id not in fleet.meters]:
                del per_meter[meter_id]

    def set_processor(self, processor: ReadingProcessor) -> None:
        """Swap the processor (a reload with new billing settings)."""
        self._processor = processor

    @property
    def meter_count(self) -> int:
        return len(self._meters)

    def handle(self, frame: ReceivedFrame) -> None:
        """Process one frame; never raises for bad input."""
        counters = self.counters
        counters.frames += 1
        self._peeked = None
        try:
            self._handle(frame)
        except Exception as err:  # a bug below must cost one telegram, never the daemon
            self._count_error(err, frame)

    def _handle(self, frame: ReceivedFrame) -> None:
        counters = self.counters
        meter_id, manufacturer, _version, device_type = peek_address(frame.data)
        meters = self._meters
        entry = meters.get(meter_id)
        self._peeked = meter_id
        if entry is None:
            counters.unknown_meter += 1
            if self._unknown_log is not None:
                self._unknown_log.note_unknown(
                    meter_id, manufacturer, device_type, frame.rssi_dbm, frame.received_at
                )
            if self._publish_raw is not None:
                # head-end mode forwards every meter heard; identity = the bytes after the link header
                result = self._dedup.check(
                    meter_id,
                    None,
                    payload_digest(frame.data[10:]),
                    frame.received_at.timestamp(),
                    frame.rssi_dbm,
                )
                if result.is_new:
                    self._publish_raw(frame, meter_id, manufacturer)
            return
        telegram = parse_telegram(frame.data, self._key_lookup)
        counters.telegrams += 1
        # the dedup remembers meters by the provisioned id's own string, not one more copy per meter
        result = self._dedup.check(
            entry.meter_id if entry.meter_id == telegram.meter_id else telegram.meter_id,
            telegram.access_number,
            payload_digest(telegram.payload),
            frame.received_at.timestamp(),
            frame.rssi_dbm,
        )
        if not result.is_new:
            counters.duplicates += 1
            return
        if self._publish_raw is not None:
            self._publish_raw(frame, telegram.meter_id, telegram.manufacturer)
        reading = decode_reading(
            telegram,
            frame.received_at,
            entry.decoder if (entry := meters.get(telegram.meter_id)) is not None else None,
            key=self._key_lookup(telegram.meter_id),
            rssi_dbm=frame.rssi_dbm,
        )
        counters.readings += 1
        for publication in self._processor.process(reading, source=frame.source, duplicates=0):
            self.emit(publication)

    def remember(self, frame: ReceivedFrame) -> None:
        """A frame handled before a restart (a resumed replay's look-back): only the dedup learns it
        again, so that its repeats after the resume point stay repeats. Nothing is counted or published."""
        try:
            meter_id = peek_address(frame.data)[0]
            entry = self._meters.get(meter_id)
            if entry is None:
                if self._publish_raw is not None:
                    self._dedup.check(
                        meter_id, None, payload_digest(frame.data[10:]), frame.received_at.timestamp(), None
                    )
                return
            telegram = parse_telegram(frame.data, self._key_lookup)
            self._dedup.check(
                entry.meter_id if entry.meter_id == telegram.meter_id else telegram.meter_id,
                telegram.access_number,
                payload_digest(telegram.payload),
                frame.received_at.timestamp(),
                frame.rssi_dbm,
            )
        except Exception:  # counted when it was handled the first time
            return

    def emit(self, publication: Publication) -> None:
        """Hand one publication to the sink (also used for the processor's tick output)."""
        self.counters.publications += 1
        self._publish(publication)

    def _count_error(self, err: Exception, frame: ReceivedFrame) -> None:
        name = next((ERROR_NAMES[cls] for cls in type(err).__mro__ if cls in ERROR_NAMES), "internal")
        counters = self.counters
        errors = counters.errors
        errors[name] = errors.get(name, 0) + 1
        meter_id = self._meter_of(err)
        if meter_id is not None:
            kinds = counters.meter_errors.setdefault(meter_id, {})
            kinds[name] = kinds.get(name, 0) + 1
            if isinstance(err, WRONG_KEY_ERRORS):
                counters.wrong_key_meters[meter_id] = counters.wrong_key_meters.get(meter_id, 0) + 1
            elif isinstance(err, KeyMissingError):
                counters.key_missing_meters[meter_id] = counters.key_missing_meters.get(meter_id, 0) + 1
        if name not in self._logged:
            self._logged.add(name)  # the first of each kind in the log; the rest in the counters
            level = logging.ERROR if name == "internal" else logging.WARNING
            log.log(
                level,
                "%s from %s: %s (further ones are only counted)",
                name,
                frame.source,
                err,
                exc_info=name == "internal",
            )
        else:
            log.debug("%s from %s: %s", name, frame.source, err)

    def _meter_of(self, err: Exception) -> str | None:
        """The provisioned meter a refused telegram belongs to: the id its error's identity names (the
        headers read before the error), else the one its headers were peeked under; None when neither
        is provisioned (the per-meter counters stay bounded by the fleet)."""
        identity = err.identity if isinstance(err, WMBusError) else None
        for meter_id in (
            identity.meter_id if identity is not None else None,
            err.meter_id if isinstance(err, DecryptionError) else None,
            self._peeked,
        ):
            if meter_id is not None and meter_id in self._meters:
                return meter_id
        return None


# --------------------------------------------------------------------------------------------------
# Printing (the embedded default without MQTT)


def _number(value: Any, unit: str, digits: int = 3) -> str | None:
    return f"{value:.{digits}f} {unit}" if isinstance(value, int | float) else None


def format_publication(publication: PublicationLike) -> str:
    """One readable line per publication: readings, monthly indexes and events."""
    payload = publication.payload
    kind = publication.kind
    meter = publication.meter_id
    if kind == "reading":
        at = str(payload.get("received_at", ""))[:19].replace("T", " ")
        parts = [
            at,
            f"{meter} {payload.get('manufacturer', '')} {payload.get('decoder', '')}".rstrip(),
            _number(payload.get("total_m3"), "m3"),
        ]
        flow = _number(payload.get("flow_m3h"), "m3/h")
        if flow:
            parts.append(f"flow {flow}")
        rssi = payload.get("rssi_dbm")
        if isinstance(rssi, int | float):
            parts.append(f"{rssi:.0f} dBm")
        alarms = payload.get("alarms")
        if alarms:
            parts.append("alarms: " + ",".join(str(alarm) for alarm in alarms))
        return "  ".join(part for part in parts if part)
    if kind == "monthly":
        index = _number(payload.get("index_m3"), "m3")
        consumption = _number(payload.get("consumption_m3"), "m3")
        text = f"monthly  {meter} {payload.get('month')}  index {index} ({payload.get('source')}"
        text += f", revision {payload.get('revision')})" if payload.get("revision") else ")"
        return text + (f"  consumed {consumption}" if consumption else "")
    if kind == "event":
        at = str(payload.get("at", ""))[:19].replace("T", " ")
        return f"{at}  event    {meter} {payload.get('event')} {payload.get('state')}"
    return f"{kind} {meter}"
