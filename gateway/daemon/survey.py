"""A survey of the meters heard on air (provisioned or not), for installers: ``wmbus-gateway listen``."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from gateway.frame import ReceivedFrame
from gateway.wmbus.errors import KeyMissingError, WMBusError
from gateway.wmbus.medium import medium_name
from gateway.wmbus.telegram import parse_telegram, peek_address


@dataclass(slots=True)
class HeardMeter:
    """What the air says about one meter so far."""

    meter_id: str
    manufacturer: str
    version: int
    device_type: int
    medium: str
    rssi_dbm: float | None
    best_rssi_dbm: float | None
    last_seen: datetime
    telegrams: int
    encrypted: bool | None  # None: the telegram could not be parsed far enough to tell
    provisioned: bool


class Survey:
    """Meters heard, most recent last; bounded so that a busy street cannot exhaust memory."""

    def __init__(self, provisioned: Collection[str], *, max_meters: int = 10_000) -> None:
        self.provisioned = frozenset(provisioned)
        self.max_meters = max_meters
        self.meters: OrderedDict[str, HeardMeter] = OrderedDict()
        self.frames = 0
        self.errors = 0

    def note(self, frame: ReceivedFrame) -> HeardMeter | None:
        """Record one frame; a frame too broken to name its meter is only counted."""
        self.frames += 1
        try:
            meter_id, manufacturer, version, device_type = peek_address(frame.data)
        except WMBusError:
            self.errors += 1
            return None
        encrypted: bool | None
        try:
            encrypted = parse_telegram(frame.data).encrypted
        except KeyMissingError:
            encrypted = True
        except WMBusError:
            encrypted = None
        heard = self.meters.pop(meter_id, None)
        if heard is None:
            heard = HeardMeter(
                meter_id,
                manufacturer,
                version,
                device_type,
                medium_name(device_type),
                frame.rssi_dbm,
                frame.rssi_dbm,
                frame.received_at,
                0,
                encrypted,
                meter_id in self.provisioned,
            )
            if len(self.meters) >= self.max_meters:
                self.meters.popitem(last=False)
        heard.telegrams += 1
        heard.last_seen = frame.received_at
        heard.rssi_dbm = frame.rssi_dbm
        if frame.rssi_dbm is not None and (
            heard.best_rssi_dbm is None or frame.rssi_dbm > heard.best_rssi_dbm
        ):
            heard.best_rssi_dbm = frame.rssi_dbm
        if encrypted is not None:
            heard.encrypted = encrypted
        self.meters[meter_id] = heard
        return heard
