"""Field tables compiled per record layout: which record feeds which row, found once per structure.

Whether a record can feed a row (quantity, function, storage, tariff, subunit, VIF, modifiers) depends on
its header only, and meters of one model send the same headers every time. A :class:`FieldPlan` maps a
table's rows, the set-day registers and the error-flags record to record indices for one such layout;
what depends on the values (a date where a number was expected, occurrence counts, a field already set)
is still decided per telegram, in the same order as :func:`~gateway.decoders.fields.apply_fields` and
:func:`~gateway.decoders.fields.offer_set_days`, which stay the reference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, time
from functools import partial
from operator import itemgetter
from typing import Any, NamedTuple

from gateway.decoders.draft import ReadingDraft, SetDayValue
from gateway.decoders.fields import (
    READING_FIELDS,
    TIME_QUANTITIES,
    Field,
    as_date,
    as_datetime,
    as_number,
    json_scalar,
    rows_by_quantity,
)
from gateway.reading import JsonScalar
from gateway.wmbus.records import DataRecord, Function, RecordSet, RecordValue

# Everything a row, the set-day rule or the error-flags lookup reads in a record, the value aside (vif,
# function, storage, tariff, subunit, quantity, modifiers): the plan's key per record.
_structure = itemgetter(*(DataRecord._fields.index(name) for name in (
    "vif", "function", "storage", "tariff", "subunit", "quantity", "modifiers")))

PLAN_LIMIT = 1024  # (table, layout) pairs; a fleet uses a few hundred layouts, random input cannot grow it
Records = Sequence[DataRecord]  # a tuple of records or a RecordSet (its values are decoded one by one)
_NUMBER, _DATETIME, _EXTRA = range(3)  # where a row's value goes
_POINTS = (date, time)  # datetime is a date
# Values of these exact types come only from data types that never hold a point in time: in a RecordSet of
# a cached structure (DIF data field and VIF fixed), such a record is never a date or time in any payload.
_NEVER_POINTS = frozenset((int, float, str, bytes, type(None)))
# A SetDayValue from a (storage, volume, date) tuple in one C call; SetDayValue(...) runs a Python __new__.
_set_day = partial(tuple.__new__, SetDayValue)


class _RowPlan(NamedTuple):
    sole: int  # the one record of a row that takes the first match and matches one record, else -1
    indices: tuple[int, ...]  # the records the row matches structurally, in record order
    skip_points: bool  # a date- or time-valued record does not count (not a time row, and one may come)
    occurrence: int
    name: str
    convert: Callable[[object], JsonScalar | datetime | date] | None
    target: int


class FieldPlan(NamedTuple):
    """A table applied to one record layout (the table is kept so that its id stays unique while cached)."""

    table: tuple[Field, ...]
    rows: tuple[_RowPlan, ...]
    # (storage, volume index, date index or -1) per set-day volume candidate, in record order
    set_days: tuple[tuple[int, int, int], ...]
    one_volume_per_storage: bool  # else the first volume of a storage that is not a date wins at run time
    error_flags_at: int  # the first storage-0 error-flags record, -1 if none
    # set_days by storage, lowest first, with whether the volume may be a date; () unless one per storage
    by_storage: tuple[tuple[int, int, int, bool], ...]

    def fill(self, records: Records, draft: ReadingDraft) -> None:
        """What :func:`~gateway.decoders.fields.apply_fields` does, visiting only the matching records."""
        value_of = records.value if type(records) is RecordSet else _value_reader(records)
        extra = draft.extra
        points = _POINTS
        for index, indices, skip_points, occurrence, name, convert, target in self.rows:
            if index >= 0:  # the common row: one candidate, the first match wanted
                raw = value_of(index)
                if skip_points and isinstance(raw, points):
                    continue
            else:
                found = _row_value(value_of, indices, skip_points, occurrence)
                if found is _NO_VALUE:
                    continue
                raw = found
            value: Any = raw if convert is None else convert(raw)
            kind = type(value)  # the usual int, float or str skip as_number's and json_scalar's checks
            if target == _NUMBER:
                if getattr(draft, name) is None:
                    number = float(value) if kind is float or kind is int else as_number(value)
                    setattr(draft, name, number)
            elif target == _DATETIME:
                if draft.meter_datetime is None:
                    draft.meter_datetime = as_datetime(value)
            elif name not in extra and value is not None:
                extra[name] = value if kind is float or kind is int or kind is str else json_scalar(value)

    def offer_set_days(self, records: Records, draft: ReadingDraft) -> None:
        """What :func:`~gateway.decoders.fields.offer_set_days` does, visiting only the candidates."""
        value_of = records.value if type(records) is RecordSet else _value_reader(records)
        accepted: set[int] | None = None if self.one_volume_per_storage else set()
        offered = draft.set_days
        for storage, volume_at, date_at in self.set_days:
            if accepted is not None and storage in accepted:
                continue
            value = value_of(volume_at)
            if isinstance(value, date):
                continue  # the next volume of this storage, if any, is the candidate
            if accepted is not None:
                accepted.add(storage)
            at = None if date_at < 0 else as_date(value_of(date_at))
            offered.append(_set_day((storage, as_number(value), at)))  # draft.offer_set_day, inlined

    def offer_lowest_set_day(self, records: Records, draft: ReadingDraft) -> None:
        """The one candidate :meth:`offer_set_days` offers that the lowest-storage rule can choose (a draft
        that nothing else offers set days to, no target storage, not the latest set day): the same Reading.
        A plan with a storage twice offers every candidate."""
        if not self.by_storage:
            self.offer_set_days(records, draft)
            return
        value_of = records.value if type(records) is RecordSet else _value_reader(records)
        for storage, volume_at, date_at, may_be_date in self.by_storage:
            value = value_of(volume_at)
            if may_be_date and isinstance(value, date):
                continue  # offer_set_days passes it over: the next lowest storage
            at = None if date_at < 0 else as_date(value_of(date_at))
            kind = type(value)
            number = float(value) if kind is float or kind is int else as_number(value)  # type: ignore[arg-type]
            draft.set_days.append(_set_day((storage, number, at)))
            return


_NO_VALUE: Any = object()


def _row_value(
    value_of: Callable[[int], RecordValue], indices: tuple[int, ...], skip_points: bool, occurrence: int
) -> RecordValue:
    """The value of a row's ``occurrence``-th candidate that is not a point in time, else _NO_VALUE."""
    seen = 0
    for index in indices:
        raw = value_of(index)
        if skip_points and isinstance(raw, _POINTS):
            continue  # a "date of ..." VIFE turned this register into a point in time
        if seen < occurrence:
            seen += 1
            continue
        return raw
    return _NO_VALUE  # type: ignore[no-any-return]


def record_value(records: Records, index: int) -> RecordValue:
    """``records[index].value``; a RecordSet decodes that value alone."""
    if type(records) is RecordSet:
        return records.value(index)
    return records[index].value


def _value_reader(records: Records) -> Callable[[int], RecordValue]:
    return lambda index: records[index].value


def _compile(records: Records, table: tuple[Field, ...]) -> FieldPlan:
    # Only a RecordSet of a cached structure fixes its records' data types: a tuple of records may be any.
    typed = type(records) is RecordSet and records.structure is not None

    def may_be_point(index: int) -> bool:
        return not typed or type(records[index].value) not in _NEVER_POINTS

    rows: list[_RowPlan] = []
    for quantity, group in rows_by_quantity(table).items():
        for row in group:
            indices = tuple(
                index
                for index, record in enumerate(records)
                if record.quantity == quantity and row.matches(record)
            )
            if not indices:
                continue
            if row.name == "meter_datetime":
                target = _DATETIME
            elif row.name in READING_FIELDS:
                target = _NUMBER
            else:
                target = _EXTRA
            skip_points = row.quantity not in TIME_QUANTITIES and any(map(may_be_point, indices))
            index = indices[0] if len(indices) == 1 and row.occurrence == 0 else -1
            rows.append(_RowPlan(index, indices, skip_points, row.occurrence, row.name, row.convert, target))
    volumes: list[tuple[int, int]] = []
    dates: dict[int, int] = {}  # storage -> its first date: offer_set_days takes it whatever its value
    error_flags_at = -1
    for index, record in enumerate(records):
        storage = record.storage
        if record.quantity == "error_flags" and storage == 0 and error_flags_at < 0:
            error_flags_at = index
        if not storage or record.tariff or record.subunit or record.function is not Function.INSTANTANEOUS:
            continue
        if record.quantity == "volume":
            if not record.modifiers:
                volumes.append((storage, index))
        elif record.quantity in TIME_QUANTITIES:
            dates.setdefault(storage, index)
    set_days = tuple((storage, index, dates.get(storage, -1)) for storage, index in volumes)
    one_volume_per_storage = len({storage for storage, _ in volumes}) == len(volumes)
    by_storage = tuple(
        (storage, index, date_at, may_be_point(index)) for storage, index, date_at in sorted(set_days)
    ) if one_volume_per_storage else ()
    return FieldPlan(table, tuple(rows), set_days, one_volume_per_storage, error_flags_at, by_storage)


_plans: dict[tuple[object, ...], FieldPlan] = {}
# (id of the table, a RecordSet's structure) -> plan: no per-record key to build for a payload whose shape
# the core has cached (a structure number is never reused; the plan keeps its table, so the id stays unique).
_plans_by_structure: dict[tuple[int, int], FieldPlan] = {}


def plan_for(records: Records, table: tuple[Field, ...]) -> FieldPlan:
    """The plan of ``table`` for the layout of ``records`` (compiled on first sight, then cached)."""
    structure = records.structure if type(records) is RecordSet else None
    if structure is not None:
        key = (id(table), structure)
        plan = _plans_by_structure.get(key)  # the common case, without _cached's call
        if plan is not None and plan.table is table:
            return plan
        return _cached(_plans_by_structure, key, records, table)
    return _cached(_plans, (id(table), *map(_structure, records)), records, table)


def _cached(
    plans: dict[Any, FieldPlan], key: tuple[object, ...], records: Records, table: tuple[Field, ...]
) -> FieldPlan:
    plan = plans.get(key)
    if plan is not None and plan.table is table:
        return plan
    plan = _compile(records, table)
    if len(plans) >= PLAN_LIMIT:
        plans.clear()
    plans[key] = plan
    return plan


HeaderTest = Callable[[DataRecord], bool]
"""A test of a record's header (vif, vifes, dif, storage, quantity ...); it must not read the value."""
_selections: dict[tuple[HeaderTest, int], tuple[int, ...]] = {}


def is_manufacturer_data(record: DataRecord) -> bool:
    """The record of DIF 0x0F/0x1F: the rest of the payload is the maker's."""
    return record.quantity == "manufacturer_data"


def select(records: Records, test: HeaderTest) -> tuple[int, ...]:
    """Indices of the records whose header passes ``test``, in record order; kept per payload shape, so a
    proprietary part reads the values it needs (:func:`record_value`) without building every record."""
    structure = records.structure if type(records) is RecordSet else None
    if structure is None:
        return tuple(index for index, record in enumerate(records) if test(record))
    key = (test, structure)
    found = _selections.get(key)
    if found is None:
        found = tuple(index for index, record in enumerate(records) if test(record))
        if len(_selections) >= PLAN_LIMIT:
            _selections.clear()
        _selections[key] = found
    return found


def clear_plans() -> None:
    """Forget the compiled plans and selections (benchmarks and tests)."""
    _plans.clear()
    _plans_by_structure.clear()
    _selections.clear()
