"""Declarative field tables: which data record feeds which Reading field (by quantity, function, storage...).

A decoder for a meter that follows EN 13757-3 is a table of :class:`Field` rows, in the spirit of rtl_433's
uniform field names and zigpy quirks v2's declarative device descriptions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import Enum

from gateway.decoders.draft import ReadingDraft
from gateway.reading import JsonScalar
from gateway.wmbus.records import DataRecord, Function

# Reading attributes a Field may write directly; anything else goes to Reading.extra.
READING_FIELDS = frozenset(
    {
        "meter_datetime",
        "total_m3",
        "total_backward_m3",
        "flow_m3h",
        "max_flow_m3h",
        "flow_temperature_c",
        "external_temperature_c",
        "battery_v",
    }
)

TIME_QUANTITIES = frozenset({"date", "datetime"})
MAX_GROUPED_TABLES = 1024  # a bound, should tables ever be built at run time
BACKWARD = "backward_flow"
FORWARD = "forward_flow"


class Direction(Enum):
    """Which flow direction a volume record must carry (VIFE 0x3B / 0x3C)."""

    ANY = "any"
    PLAIN = "plain"  # neither forward-only nor backward-only: the meter's net index
    FORWARD = "forward"
    BACKWARD = "backward"


@dataclass(frozen=True, slots=True)
class Field:
    """One Reading field and the record that feeds it; ``None`` in a filter means "any"."""

    name: str
    quantity: str
    function: Function | None = Function.INSTANTANEOUS
    storage: int | None = 0
    tariff: int | None = 0
    subunit: int | None = 0
    direction: Direction = Direction.ANY
    vif: tuple[int, int] | None = None  # inclusive range of the raw VIF (extension bit cleared)
    without: frozenset[str] = frozenset()  # modifiers that disqualify a record
    convert: Callable[[object], JsonScalar | datetime | date] | None = None
    occurrence: int = 0  # the n-th matching record (some meters send two volumes with the same key)

    def matches(self, record: DataRecord) -> bool:
        """Whether ``record`` is the kind of record this field reads."""
        # Cheapest and most selective first: most records of a telegram are history (storage > 0).
        if self.storage is not None and record.storage != self.storage:
            return False
        if record.quantity != self.quantity:
            return False
        if self.function is not None and record.function is not self.function:
            return False
        if self.tariff is not None and record.tariff != self.tariff:
            return False
        if self.subunit is not None and record.subunit != self.subunit:
            return False
        if self.vif is not None:
            low, high = self.vif
            if record.vif is None or not low <= record.vif & 0x7F <= high:
                return False
        if self.without and self.without & record.modifiers:
            return False
        return self.direction is Direction.ANY or direction_of(record) is self.direction


def direction_of(record: DataRecord) -> Direction:
    """The flow direction a record's combinable VIFEs give it."""
    if BACKWARD in record.modifiers:
        return Direction.BACKWARD
    if FORWARD in record.modifiers:
        return Direction.FORWARD
    return Direction.PLAIN


def as_number(value: object) -> float | None:
    """A record value as a float (ints and floats only; dates, text and raw bytes give None)."""
    kind = type(value)
    if kind is int or kind is float:  # nearly every value: no isinstance of a union
        return float(value)  # type: ignore[arg-type]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def as_date(value: object) -> date | None:
    """A record value as a calendar date (from a date or a date-time)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return None


def as_datetime(value: object) -> datetime | None:
    """A record value as a date-time (a bare date becomes midnight)."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return None


def json_scalar(value: object) -> JsonScalar:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


# Grouped tables by id(): hashing a table (a tuple of dataclasses) cost more than applying it. Each entry
# keeps its table alive, so an id is never reused while cached; tables are module constants, a few dozen.
_GROUPED: dict[int, tuple[tuple[Field, ...], dict[str, tuple[Field, ...]]]] = {}


def rows_by_quantity(table: tuple[Field, ...]) -> dict[str, tuple[Field, ...]]:
    """The table's rows grouped by quantity, groups in the order the table first names them."""
    cached = _GROUPED.get(id(table))
    if cached is not None and cached[0] is table:
        return cached[1]
    groups: dict[str, list[Field]] = {}
    for row in table:
        groups.setdefault(row.quantity, []).append(row)
    grouped = {quantity: tuple(rows) for quantity, rows in groups.items()}
    if len(_GROUPED) < MAX_GROUPED_TABLES:
        _GROUPED[id(table)] = (table, grouped)
    return grouped


def apply_fields(records: Iterable[DataRecord], table: tuple[Field, ...], draft: ReadingDraft) -> None:
    """Fill ``draft`` from ``records`` row by row; a field already set by an earlier row is kept."""
    by_quantity: dict[str, list[DataRecord]] = {}
    for record in records:
        by_quantity.setdefault(record.quantity, []).append(record)
    # Only the quantities the telegram carries are visited, in table order (a row named earlier wins).
    for quantity, rows in rows_by_quantity(table).items():
        candidates = by_quantity.get(quantity)
        if candidates is None:
            continue
        for row in rows:
            _apply_row(row, candidates, draft)


def _apply_row(row: Field, candidates: list[DataRecord], draft: ReadingDraft) -> None:
    seen = 0
    for record in candidates:
        if not row.matches(record):
            continue
        if row.quantity not in TIME_QUANTITIES and isinstance(record.value, date | time):
            continue  # a "date of ..." VIFE turned this register into a point in time
        if seen < row.occurrence:
            seen += 1
            continue
        _store(draft, row, record.value)
        return


def _store(draft: ReadingDraft, row: Field, raw: object) -> None:
    value: object = row.convert(raw) if row.convert is not None else raw
    if row.name in READING_FIELDS:
        if getattr(draft, row.name) is not None:
            return
        if row.name == "meter_datetime":
            draft.meter_datetime = as_datetime(value)
        else:
            setattr(draft, row.name, as_number(value))
    elif row.name not in draft.extra and value is not None:
        draft.extra[row.name] = json_scalar(value)


def offer_set_days(records: Iterable[DataRecord], draft: ReadingDraft) -> None:
    """Offer every historic plain volume (tariff 0) with its same-storage date as a set-day candidate."""
    volumes: dict[int, float | None] = {}
    dates: dict[int, date | None] = {}
    instantaneous = Function.INSTANTANEOUS
    for record in records:
        storage = record.storage
        if not storage or record.tariff or record.subunit or record.function is not instantaneous:
            continue
        quantity = record.quantity
        if quantity == "volume":
            if storage not in volumes and not record.modifiers and not isinstance(record.value, date):
                volumes[storage] = as_number(record.value)
        elif quantity in TIME_QUANTITIES and storage not in dates:
            dates[storage] = as_date(record.value)
    for storage, volume in volumes.items():
        draft.offer_set_day(storage, volume, dates.get(storage))
