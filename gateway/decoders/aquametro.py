"""Aquametro (AMT) Topas Sonic ESKR water meters: OMS records.

Format facts (public: wmbusmeters drivers/src/topaseskr.xmq): the index, water temperature, flow, the
battery life left (VIF 0xFD 0x74, days; reported in years), the access counter (VIF 0xFD 0x08), the end of
the last year period in storage 1 (volume, reverse volume in tariff 1, type G date: the set day) and the
end of the last month period in storage 3 (volume, type F date-time).
"""

from __future__ import annotations

from datetime import date, datetime

from gateway.decoders.base import STANDARD_FIELDS, Match, MeterDecoder
from gateway.decoders.fields import Field
from gateway.reading import JsonScalar

_DAYS_PER_YEAR = 365.2425  # the Gregorian mean year, as the reference converts days


def days_to_years(value: object) -> JsonScalar:
    """Days as years (6 decimals, as the reference prints them)."""
    return round(value / _DAYS_PER_YEAR, 6) if type(value) is int or type(value) is float else None


def day(value: object) -> JsonScalar:
    """A date (or the date of a date-time) as ``YYYY-MM-DD``."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    return value.isoformat() if isinstance(value, date) else None


def minutes(value: object) -> JsonScalar:
    """A date-time as ``YYYY-MM-DD HH:MM``."""
    return value.strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else None


TOPAS_ESKR = MeterDecoder(
    name="topaseskr",
    matches=(Match("AMT", 0xF1, 0x06), Match("AMT", 0xF1, 0x07)),
    description="Aquametro Topas Sonic ESKR water meter (OMS records, year and month periods)",
    fields=(
        *STANDARD_FIELDS,
        Field("temperature_c", "flow_temperature"),
        Field("current_flow_m3h", "volume_flow"),
        Field("access_counter", "access_number", function=None),
        Field("battery_y", "remaining_battery_life", convert=days_to_years),
        Field("volume_year_period_m3", "volume", storage=1),
        Field("reverse_volume_year_period_m3", "volume", storage=1, tariff=1),
        Field("meter_year_period_end_date", "date", storage=1, convert=day),
        Field("volume_month_period_m3", "volume", storage=3),
        Field("meter_month_period_end_datetime", "datetime", storage=3, convert=minutes),
    ),
)

DECODERS = (TOPAS_ESKR,)
