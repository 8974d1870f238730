"""The ReadingDraft: what decoders fill in, field by field, before it is frozen into a Reading."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from operator import itemgetter
from typing import Any, NamedTuple

from gateway.reading import Alarm, JsonScalar, Reading
from gateway.wmbus.records import DataRecord


class SetDayValue(NamedTuple):
    """A historic volume register (set day, month end) with the storage number and date it came with."""

    storage: int
    volume_m3: float | None
    at: date | None


_storage_of = itemgetter(0)
_NO_ALARMS: frozenset[Alarm] = frozenset()

_Setter = Callable[[Reading, Any], None]
_new_reading = object.__new__


def _slot(name: str) -> _Setter:
    setter: _Setter = getattr(Reading, name).__set__
    return setter


_set_meter_id = _slot("meter_id")
_set_manufacturer = _slot("manufacturer")
_set_decoder = _slot("decoder")
_set_medium = _slot("medium")
_set_received_at = _slot("received_at")
_set_meter_datetime = _slot("meter_datetime")
_set_total_m3 = _slot("total_m3")
_set_target_m3 = _slot("target_m3")
_set_target_date = _slot("target_date")
_set_total_backward_m3 = _slot("total_backward_m3")
_set_flow_m3h = _slot("flow_m3h")
_set_max_flow_m3h = _slot("max_flow_m3h")
_set_flow_temperature_c = _slot("flow_temperature_c")
_set_external_temperature_c = _slot("external_temperature_c")
_set_battery_v = _slot("battery_v")
_set_alarms = _slot("alarms")
_set_status_raw = _slot("status_raw")
_set_unsupported = _slot("unsupported")
_set_rssi_dbm = _slot("rssi_dbm")
_set_extra = _slot("extra")


@dataclass(slots=True)
class ReadingDraft:
    """Mutable working copy of a Reading; decoders write, :meth:`freeze` makes the Reading."""

    meter_id: str
    manufacturer: str
    decoder: str
    medium: str
    received_at: datetime
    key: bytes | None = field(default=None, repr=False)
    rssi_dbm: float | None = None
    meter_datetime: datetime | None = None
    total_m3: float | None = None
    target_m3: float | None = None
    target_date: date | None = None
    total_backward_m3: float | None = None
    flow_m3h: float | None = None
    max_flow_m3h: float | None = None
    flow_temperature_c: float | None = None
    external_temperature_c: float | None = None
    battery_v: float | None = None
    alarms: set[Alarm] = field(default_factory=set)
    status_parts: list[str] = field(default_factory=list)
    status_labels: set[str] = field(default_factory=set)
    unsupported: str | None = None
    extra: dict[str, JsonScalar] = field(default_factory=dict)
    set_days: list[SetDayValue] = field(default_factory=list)
    latest_set_day: bool = False  # pick the most recent dated register instead of the lowest storage
    target_storage: int | None = None  # the maker's own set-day storage number, preferred when sent
    # For the proprietary part: the records (compact frames expanded), a RecordSet built only if iterated.
    records: Sequence[DataRecord] = ()

    def offer_set_day(self, storage: int, volume_m3: float | None, at: date | None) -> None:
        """Record a historic register; the most recent one becomes target_m3/target_date."""
        self.set_days.append(SetDayValue(storage, volume_m3, at))

    def note_status(self, text: str) -> None:
        """Append the maker's raw status (e.g. ``tpl=0x04``) for traceability."""
        if text not in self.status_parts:
            self.status_parts.append(text)

    def add_labels(self, labels: Iterable[str]) -> None:
        """Add the maker's names of raised status flags (joined into ``extra["status"]``)."""
        self.status_labels.update(labels)

    def clear_measurements(self) -> None:
        """Forget the registers read so far (status, alarms and identity stay)."""
        self.meter_datetime = None
        self.total_m3 = self.target_m3 = self.total_backward_m3 = None
        self.target_date = None
        self.flow_m3h = self.max_flow_m3h = self.flow_temperature_c = None
        self.external_temperature_c = self.battery_v = None
        self.extra.clear()
        self.set_days.clear()

    def mark_unsupported(self, reason: str) -> None:
        """Say which part of the telegram this decoder could not read (the first reason wins)."""
        if self.unsupported is None:
            self.unsupported = reason

    def _choose_set_day(self) -> SetDayValue | None:
        # EN 13757-3 convention: storage 1 is the last set day, so the lowest storage number wins.
        # Makers that keep several closed periods (Diehl, Qundis) ask for the most recent dated one.
        set_days = self.set_days
        if len(set_days) < 2:
            return set_days[0] if set_days else None
        if self.target_storage is not None:
            for item in set_days:
                if item.storage == self.target_storage:
                    return item
        if self.latest_set_day:
            dated = [item for item in set_days if item.at is not None]
            if dated:
                return max(dated, key=lambda item: (item.at or date.min, -item.storage))
        return min(set_days, key=_storage_of)

    def freeze(self) -> Reading:
        """The immutable Reading; target_m3/target_date chosen among the offered set-day registers."""
        target_m3, target_date = self.target_m3, self.target_date
        if target_m3 is None and target_date is None and self.set_days:
            chosen = self._choose_set_day()
            if chosen is not None:
                target_m3, target_date = chosen.volume_m3, chosen.at
        extra = dict(self.extra)
        status_parts = self.status_parts
        if status_parts:
            extra.setdefault("status", " ".join(sorted(self.status_labels)) or "OK")
        # Reading is frozen, so its __init__ sets each of the 20 slots through object.__setattr__: a tenth
        # of a decode. The slots' own descriptors set them in half the time (Reading has no __post_init__;
        # tests/decoders/test_field_plans.py holds that every field is set and equals Reading(...)).
        reading = _new_reading(Reading)
        _set_meter_id(reading, self.meter_id)
        _set_manufacturer(reading, self.manufacturer)
        _set_decoder(reading, self.decoder)
        _set_medium(reading, self.medium)
        _set_received_at(reading, self.received_at)
        _set_meter_datetime(reading, self.meter_datetime)
        _set_total_m3(reading, self.total_m3)
        _set_target_m3(reading, target_m3)
        _set_target_date(reading, target_date)
        _set_total_backward_m3(reading, self.total_backward_m3)
        _set_flow_m3h(reading, self.flow_m3h)
        _set_max_flow_m3h(reading, self.max_flow_m3h)
        _set_flow_temperature_c(reading, self.flow_temperature_c)
        _set_external_temperature_c(reading, self.external_temperature_c)
        _set_battery_v(reading, self.battery_v)
        _set_alarms(reading, frozenset(self.alarms) if self.alarms else _NO_ALARMS)
        _set_status_raw(reading, " ".join(status_parts) or None)
        _set_unsupported(reading, self.unsupported)
        _set_rssi_dbm(reading, self.rssi_dbm)
        _set_extra(reading, extra)
        return reading
