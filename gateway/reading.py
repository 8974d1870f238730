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
        out: dict[str, Any] = dict(zip(_JSON_NAMES, _json_values(self), strict=True))
        for name in _TIME_NAMES:
            value = out[name]
            if value is not None:
                out[name] = value.isoformat()
        out["alarms"] = sorted(str(alarm) for alarm in self.alarms) if self.alarms else []
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


# to_json's field lists, computed once (fields() and a getattr per field cost ~10 us a reading): every field
# but extra, in order; and those holding a date or a date-time (their annotations name the type).
_JSON_NAMES = tuple(item.name for item in fields(Reading) if item.name != "extra")
_json_values = attrgetter(*_JSON_NAMES)
_TIME_NAMES = tuple(item.name for item in fields(Reading) if "date" in str(item.type))
