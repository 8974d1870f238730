"""Head-end mode: raw telegrams from keyless gateways, decrypted and billed where the keys are.

The ingester hands every ``{prefix}/{gateway}/raw`` message to :meth:`HeadEnd.lines_for_raw`: the
telegram goes through the same core, decoders and billing processor as on a gateway with keys, and
the resulting readings, monthly indexes and events become the same points a keyed gateway's
messages would have become (the payloads are built as the gateway would have published them).
Copies of one telegram from several gateways are deduplicated before billing; every copy still
counts as a reception of its gateway.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from gateway import json_codec
from gateway.billing.dedup import Deduplicator, payload_digest
from gateway.billing.meters import MetersFileError, Provisioning
from gateway.billing.processor import ReadingProcessor
from gateway.billing.settings import BillingSettings
from gateway.billing.state import StateStore
from gateway.clock import DEFAULT_MAX_AHEAD_S, implausible_time
from gateway.decoders import decode_reading
from gateway.ingest.lineproto import RECEPTION, PayloadError, check_schema, line, lines_for
from gateway.keys import KeyFileError, KeyStore, load_keys
from gateway.meter_id import normalise_meter_id
from gateway.uplink.messages import PublicationLike, encode
from gateway.uplink.topics import MessageKind, ParsedTopic
from gateway.wmbus.errors import WMBusError
from gateway.wmbus.telegram import parse_telegram

log = logging.getLogger(__name__)

DEDUP_WINDOW_S = 120.0


def _reception_meter(value: Any) -> str:
    """The raw message's meter id, canonical; "" when it names none (or no meter id)."""
    try:
        return normalise_meter_id(value) if isinstance(value, str) and value else ""
    except ValueError:
        return ""


class HeadEndError(Exception):
    """Head-end mode cannot start: unreadable keys file or state database."""


class HeadEnd:
    """Raw telegram in, line-protocol points out, with billing state in a SQLite store."""

    def __init__(
        self,
        keys: KeyStore,
        processor: ReadingProcessor,
        *,
        dedup_window_s: float = DEDUP_WINDOW_S,
        decoders: Mapping[str, str | None] | None = None,
        max_clock_ahead_s: float = DEFAULT_MAX_AHEAD_S,
    ) -> None:
        self.keys = keys
        # A /raw message's received_at comes from another machine's clock: before 2000 or further
        # ahead of ours than this, the message is refused (it would close months up to its year).
        self.max_clock_ahead_s = max_clock_ahead_s
        self.implausible_times = 0
        self.processor = processor
        self.dedup = Deduplicator(dedup_window_s)
        self.decoders = dict(decoders or {})
        self.telegrams = 0
        self.duplicates = 0

    @classmethod
    def open(
        cls,
        keys_path: Path,
        state_path: Path,
        tz: ZoneInfo,
        settings: BillingSettings | None = None,
        *,
        meters_path: Path | None = None,
    ) -> HeadEnd:
        """Keys (and the meters file, for each meter's decoder) and the billing state database."""
        decoders: dict[str, str | None] = {}
        try:
            if meters_path is not None:
                fleet = Provisioning(meters_path, keys_path).load()
                keys = fleet.keys
                decoders = {meter_id: entry.decoder for meter_id, entry in fleet.meters.items()}
            else:
                keys = load_keys(keys_path)
        except (KeyFileError, MetersFileError) as err:
            raise HeadEndError(str(err)) from None
        try:
            store = StateStore(state_path)
        except Exception as err:  # the state store raises its own errors; name the file
            raise HeadEndError(f"cannot open the head-end state {state_path}: {err}") from None
        return cls(keys, ReadingProcessor(store, settings, tz), decoders=decoders)

    def lines_for_raw(self, topic: ParsedTopic, document: Any) -> list[str]:
        """Points for one raw message; PayloadError when it cannot be read, decrypted or decoded."""
        body = check_schema(document, MessageKind.RAW)
        gateway = str(body.get("gateway") or topic.gateway)
        try:
            data = bytes.fromhex(str(body["telegram"]))
            received_at = datetime.fromisoformat(str(body["received_at"]))
        except (KeyError, ValueError) as err:
            raise PayloadError(f"raw message: {err}") from None
        if received_at.tzinfo is None:
            raise PayloadError("raw message: received_at needs a time zone")
        implausible = implausible_time(received_at, datetime.now(UTC), self.max_clock_ahead_s)
        if implausible is not None:
            self.implausible_times += 1
            raise PayloadError(f"raw message: implausible received_at: {implausible}")
        rssi = body.get("rssi_dbm")
        rssi_dbm = float(rssi) if isinstance(rssi, int | float) else None
        publications = self.publications_for(
            data, received_at, rssi_dbm, source=str(body.get("source") or gateway)
        )
        meter = _reception_meter(body.get("meter_id"))
        out: list[str] = []
        for publication in publications:
            out += self._lines(gateway, publication)
        if meter:
            fields = {"heard": 1.0} if rssi_dbm is None else {"heard": 1.0, "rssi_dbm": rssi_dbm}
            out.append(
                line(
                    RECEPTION,
                    {"meter": meter, "gateway": gateway},
                    fields,
                    int(received_at.timestamp() * 1000),
                )
            )
        return out

    def publications_for(
        self, data: bytes, received_at: datetime, rssi_dbm: float | None, *, source: str
    ) -> list[PublicationLike]:
        """What a keyed gateway's pipeline would have published for this telegram (nothing for a copy)."""
        try:
            telegram = parse_telegram(data, self.keys.lookup)
        except WMBusError as err:
            raise PayloadError(f"raw telegram: {type(err).__name__}: {err}") from None
        self.telegrams += 1
        result = self.dedup.check(
            telegram.meter_id,
            telegram.access_number,
            payload_digest(telegram.payload),
            received_at.timestamp(),
            rssi_dbm,
        )
        if not result.is_new:
            self.duplicates += 1
            return []
        try:
            reading = decode_reading(
                telegram,
                received_at,
                self.decoders.get(telegram.meter_id),
                key=self.keys.lookup(telegram.meter_id),
                rssi_dbm=rssi_dbm,
            )
        except (WMBusError, ValueError, LookupError) as err:
            raise PayloadError(f"raw telegram of {telegram.meter_id}: {type(err).__name__}: {err}") from None
        return list(self.processor.process(reading, source=source, duplicates=0))

    def _lines(self, gateway: str, publication: PublicationLike) -> list[str]:
        kind = MessageKind(publication.kind)
        document = json_codec.loads(encode(kind, gateway, publication.payload))
        return lines_for(ParsedTopic(kind, gateway, publication.meter_id, publication.month), document)
