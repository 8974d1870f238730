"""The ReadingDraft: what decoders fill in, field by field, before it is frozen into a Reading."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from operator import itemgetter
from typing import NamedTuple

from gateway.reading import Alarm, JsonScalar, Reading
from gateway.wmbus.records import DataRecord


class SetDayValue(NamedTuple):
    """A historic volume register (set day, month end) with the storage number and date it came with."""

    storage: int
    volume_m3: float | None
    at: date | None


_storage_of = itemgetter(0)
_NO_ALARMS: frozenset[Alarm] = frozenset()

_new = object.__new__


class _ReadingSlots:
    """Reading's slots in Reading's order, but mutable: :meth:`ReadingDraft.freeze` fills one and then gives
    it Reading's class, which Python allows between classes of the same layout. A frozen Reading's
    ``__init__`` sets each slot through ``object.__setattr__``, a call a field; a store here is one opcode."""

    __slots__ = Reading.__slots__
    meter_id: str
    manufacturer: str
    decoder: str
    medium: str
    received_at: datetime
    meter_datetime: datetime | None
    total_m3: float | None
    target_m3: float | None
    target_date: date | None
    total_backward_m3: float | None
    flow_m3h: float | None
    max_flow_m3h: float | None
    flow_temperature_c: float | None
    external_temperature_c: float | None
    battery_v: float | None
    alarms: frozenset[Alarm]
    status_raw: str | None
    unsupported: str | None
    rssi_dbm: float | None
    link_id: str | None
    extra: dict[str, JsonScalar]


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
    link_id: str | None = None
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
        set_days = self.set_days
        if target_m3 is None and target_date is None and set_days:
            chosen = set_days[0] if len(set_days) == 1 else self._choose_set_day()
            if chosen is not None:
                target_m3, target_date = chosen.volume_m3, chosen.at
        extra = dict(self.extra)
        status_parts = self.status_parts
        if status_parts and "status" not in extra:
            labels = self.status_labels
            extra["status"] = " ".join(sorted(labels)) if labels else "OK"
        reading = _new(_ReadingSlots)
        reading.meter_id = self.meter_id
        reading.manufacturer = self.manufacturer
        reading.decoder = self.decoder
        reading.medium = self.medium
        reading.received_at = self.received_at
        reading.meter_datetime = self.meter_datetime
        reading.total_m3 = self.total_m3
        reading.target_m3 = target_m3
        reading.target_date = target_date
        reading.total_backward_m3 = self.total_backward_m3
        reading.flow_m3h = self.flow_m3h
        reading.max_flow_m3h = self.max_flow_m3h
        reading.flow_temperature_c = self.flow_temperature_c
        reading.external_temperature_c = self.external_temperature_c
        reading.battery_v = self.battery_v
        reading.alarms = frozenset(self.alarms) if self.alarms else _NO_ALARMS
        reading.status_raw = " ".join(status_parts) or None
        reading.unsupported = self.unsupported
        reading.rssi_dbm = self.rssi_dbm
        reading.link_id = self.link_id
        reading.extra = extra
        reading.__class__ = Reading  # type: ignore[assignment]  # the same layout: see _ReadingSlots
        return reading  # type: ignore[return-value]
