"""Value conversions that field tables share: seconds to hours, days to years, fabrication numbers, dates."""

from __future__ import annotations

from calendar import monthrange
from datetime import date, datetime

from gateway.reading import JsonScalar
from gateway.wmbus.datatypes import InvalidValue

_DAYS_A_YEAR = 365  # the reference decoder's divisor for battery years


def hours(value: object) -> JsonScalar:
    """A duration in seconds as whole hours (the reference's ``*_h`` fields)."""
    if type(value) is int or type(value) is float:
        return round(value / 3600, 6)
    return None


def years(value: object) -> JsonScalar:
    """A duration in days as years of 365 days, six decimals (``battery_y``)."""
    if type(value) is int or type(value) is float:
        return round(value / _DAYS_A_YEAR, 6)
    return None


def fabrication_no(value: object) -> JsonScalar:
    """A fabrication number as the digits printed on the meter (BCD: at least 8, zero-padded; a number
    with hex digits, e.g. an ``F`` filler, as those digits)."""
    if type(value) is int:
        return f"{value:08d}"
    if isinstance(value, InvalidValue):
        return value.hex_digits
    return None


def valid_date(value: object) -> date | None:
    """A date register's value, or None when the meter sent its "no date" pattern (e.g. 0xFFFF)."""
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def hex_text(value: object) -> JsonScalar:
    """An identification byte (model version, ...) as the hex digits the maker prints."""
    return f"{value:X}" if type(value) is int else None


def months_before(reference: date, months: int) -> date:
    """``reference`` moved back by whole months; a month's last day stays its month's last day."""
    index = reference.year * 12 + reference.month - 1 - months
    year, month = divmod(index, 12)
    last = monthrange(year, month + 1)[1]
    at_month_end = reference.day == monthrange(reference.year, reference.month)[1]
    return date(year, month + 1, last if at_month_end else min(reference.day, last))
