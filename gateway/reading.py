"""The Reading: what a meter decoder makes of one telegram, in the units billing uses."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date, datetime
from enum import StrEnum
from operator import attrgetter
from typing import Any

JsonScalar = str | int | float | bool | None


class Alarm(StrEnum):
    """Normalised alarm codes, whatever the maker calls them."""

    LEAK = "leak"
    BURST = "burst"
    BACKFLOW = "backflow"
    DRY = "dry"
    TAMPER = "tamper"
    REMOVAL = "removal"
    LOW_BATTERY = "low_battery"
    METER_ERROR = "meter_error"
    OVERFLOW = "overflow"


@dataclass(frozen=True, slots=True)
class Reading:
    """A decoded reading of one meter; fields named as the reference decoder's users know them."""

    meter_id: str
    manufacturer: str
    decoder: str
    medium: str
    received_at: datetime
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
    alarms: frozenset[Alarm] = frozenset()
    status_raw: str | None = None
    unsupported: str | None = None
    rssi_dbm: float | None = None
    link_id: str | None = None  # the link layer's id where another header names the meter (docs/protocol.md)
    extra: dict[str, JsonScalar] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict: dates ISO 8601, alarms sorted, extra fields merged in."""
        # once a reading on the daemon's path: the time fields by name, extra only when it has any
        out: dict[str, Any] = dict(zip(_JSON_NAMES, _json_values(self)))  # noqa: B905 - same field list
        if (received_at := self.received_at) is not None:
            out["received_at"] = received_at.isoformat()
        if (meter_datetime := self.meter_datetime) is not None:
            out["meter_datetime"] = meter_datetime.isoformat()
        if (target_date := self.target_date) is not None:
            out["target_date"] = target_date.isoformat()
        out["alarms"] = sorted(map(str, self.alarms)) if self.alarms else []
        if self.extra:
            for key, value in self.extra.items():
                out.setdefault(key, value)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reading:
        """Rebuild a Reading from :meth:`to_json` output (unknown keys go to ``extra``)."""
        known = {item.name for item in fields(cls)} - {"extra"}
        kwargs: dict[str, Any] = {key: data[key] for key in known if key in data}
        for name in ("received_at", "meter_datetime"):
            if kwargs.get(name) is not None:
                kwargs[name] = datetime.fromisoformat(kwargs[name])
        if kwargs.get("target_date") is not None:
            kwargs["target_date"] = date.fromisoformat(kwargs["target_date"])
        kwargs["alarms"] = frozenset(Alarm(code) for code in kwargs.get("alarms", ()))
        kwargs["extra"] = {key: value for key, value in data.items() if key not in known}
        return cls(**kwargs)


# to_json's field list, computed once (fields() and a getattr per field cost ~10 us a reading): every field
# but extra, in order. Those holding a date or a date-time (their annotations name the type) are the three
# to_json writes as ISO 8601 (tests/test_reading.py checks that no other appears).
_JSON_NAMES = tuple(item.name for item in fields(Reading) if item.name != "extra")
_json_values = attrgetter(*_JSON_NAMES)
_TIME_NAMES = tuple(item.name for item in fields(Reading) if "date" in str(item.type))
