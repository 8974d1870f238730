"""The compiled field plans and the cached decoder lookup give exactly the Readings of the plain path.

The plain path is the row-by-row reference (``apply_fields``, ``offer_set_days``, the linear error-flags
search) with no cache; the fast path is run cold (caches cleared) and warm, for every vector, with the
decoder found for it and with every other decoder, so that each table meets each record layout.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import FrozenInstanceError, dataclass, fields
from datetime import UTC, date, datetime
from typing import Any

import pytest

from gateway.decoders import REGISTRY, base, clear_caches, decode_reading, decoder_names
from gateway.decoders.base import STANDARD_FIELDS
from gateway.decoders.default_keys import default_key
from gateway.decoders.diehl import prios_keystream
from gateway.decoders.draft import ReadingDraft, SetDayValue
from gateway.decoders.fields import Direction, Field, apply_fields, as_number, offer_set_days
from gateway.decoders.plan import plan_for
from gateway.reading import Alarm, Reading
from gateway.wmbus import records as records_module
from gateway.wmbus.errors import WMBusError
from gateway.wmbus.records import DataRecord, parse_record_set, parse_records
from gateway.wmbus.telegram import Telegram, parse_telegram
from tests.vectors import all_vectors

RECEIVED_AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class _PlainPlan:
    """The reference: the same interface as FieldPlan, doing what decoders did before plans."""

    table: tuple[Field, ...]
    error_flags_at: int
    rows: tuple[bool, ...] = (True,)  # not empty: apply_fields always runs
    set_days: tuple[bool, ...] = (True,)  # not empty: offer_set_days always runs

    def fill(self, records: tuple[DataRecord, ...], draft: ReadingDraft) -> None:
        apply_fields(records, self.table, draft)

    def offer_set_days(self, records: tuple[DataRecord, ...], draft: ReadingDraft) -> None:
        offer_set_days(records, draft)

    # The reference offers every candidate; the fast path offers the lowest only where that one is chosen.
    offer_lowest_set_day = offer_set_days


def _plain_plan(records: tuple[DataRecord, ...], table: tuple[Field, ...]) -> _PlainPlan:
    flags = (index for index, r in enumerate(records) if r.quantity == "error_flags" and r.storage == 0)
    error_flags_at = next(flags, -1)
    return _PlainPlan(table, error_flags_at)


def _telegrams() -> Iterator[tuple[Telegram, bytes | None]]:
    for vector in all_vectors():
        key = vector.key or default_key(vector.telegram)
        try:
            yield parse_telegram(vector.telegram, key), key
        except WMBusError:
            continue


def _three_ways(
    monkeypatch: pytest.MonkeyPatch, telegram: Telegram, key: bytes | None, decoder: str | None
) -> tuple[Reading, Reading, Reading]:
    clear_caches()
    cold = decode_reading(telegram, RECEIVED_AT, decoder, key=key, rssi_dbm=-70.0)
    warm = decode_reading(telegram, RECEIVED_AT, decoder, key=key, rssi_dbm=-70.0)
    with monkeypatch.context() as patch:
        patch.setattr(base, "plan_for", _plain_plan)
        clear_caches()
        plain = decode_reading(telegram, RECEIVED_AT, decoder, key=key, rssi_dbm=-70.0)
    return cold, warm, plain


def test_every_vector_reads_the_same_through_plans_as_row_by_row(monkeypatch: pytest.MonkeyPatch) -> None:
    decoded = 0
    for telegram, key in _telegrams():
        cold, warm, plain = _three_ways(monkeypatch, telegram, key, None)
        assert cold == plain, telegram.raw.hex()
        assert warm == plain, telegram.raw.hex()
        decoded += 1
    assert decoded > 200


def test_every_decoder_table_on_every_vector_layout_reads_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    names = decoder_names()
    for telegram, key in _telegrams():
        for name in names:
            cold, warm, plain = _three_ways(monkeypatch, telegram, key, name)
            assert cold == plain, (name, telegram.raw.hex())
            assert warm == plain, (name, telegram.raw.hex())


def test_a_plan_is_kept_per_table_and_layout() -> None:
    clear_caches()
    telegram = next(t for t, _ in _telegrams() if len(t.records) > 3)
    table = REGISTRY.find(telegram).fields
    plan = plan_for(telegram.records, table)
    assert plan_for(telegram.records, table) is plan
    assert plan_for(telegram.records, (*table,)) is not plan  # an equal but other table gets its own
    clear_caches()
    assert plan_for(telegram.records, table) is not plan


def test_freeze_fills_every_reading_field_by_name() -> None:
    # freeze passes Reading's fields by position: a reordered Reading must fail here, not mislabel values.
    draft = ReadingDraft("m", "MAN", "dec", "water", RECEIVED_AT, key=b"k" * 16, rssi_dbm=-71.0, link_id="l")
    draft.meter_datetime = datetime(2026, 1, 2, 3, 4)
    draft.total_m3, draft.target_m3, draft.target_date = 1.0, 2.0, date(2026, 1, 1)
    draft.total_backward_m3, draft.flow_m3h, draft.max_flow_m3h = 3.0, 4.0, 5.0
    draft.flow_temperature_c, draft.external_temperature_c, draft.battery_v = 6.0, 7.0, 8.0
    draft.alarms.add(Alarm.LEAK)
    draft.note_status("tpl=0x04")
    draft.add_labels(["POWER_LOW"])
    draft.mark_unsupported("why")
    draft.extra["x"] = 1
    expected: dict[str, Any] = {
        "meter_id": "m", "manufacturer": "MAN", "decoder": "dec", "medium": "water",
        "received_at": RECEIVED_AT,
        "meter_datetime": datetime(2026, 1, 2, 3, 4), "total_m3": 1.0, "target_m3": 2.0,
        "target_date": date(2026, 1, 1), "total_backward_m3": 3.0, "flow_m3h": 4.0, "max_flow_m3h": 5.0,
        "flow_temperature_c": 6.0, "external_temperature_c": 7.0, "battery_v": 8.0,
        "alarms": frozenset({Alarm.LEAK}), "status_raw": "tpl=0x04", "unsupported": "why", "rssi_dbm": -71.0,
        "link_id": "l", "extra": {"x": 1, "status": "POWER_LOW"},
    }
    assert {item.name for item in fields(Reading)} == set(expected)
    assert not hasattr(Reading, "__post_init__")  # freeze sets the slots without calling __init__
    reading = draft.freeze()
    assert reading == Reading(**expected)
    assert type(reading) is Reading  # filled as a mutable twin of Reading's layout, then given its class
    with pytest.raises(FrozenInstanceError):
        reading.total_m3 = 9.0  # type: ignore[misc]
    assert Reading.from_json(reading.to_json()) == reading


def _lfsr_bit_by_bit(header: bytes, key: bytes, length: int) -> bytes:
    state = int.from_bytes(key[0:4], "big") ^ int.from_bytes(key[4:8], "big")
    for start in (2, 6, 10):
        state ^= int.from_bytes(header[start : start + 4], "big")
    out = bytearray()
    for _ in range(length):
        for _ in range(8):
            bit = ((state >> 1) ^ (state >> 2) ^ (state >> 11) ^ (state >> 31)) & 1
            state = ((state << 1) | bit) & 0xFFFFFFFF
        out.append(state & 0xFF)
    return bytes(out)


def test_prios_keystream_tables_equal_the_bit_by_bit_lfsr() -> None:
    rng = random.Random(13)
    for _ in range(500):
        header, key, length = rng.randbytes(14), rng.randbytes(8), rng.randrange(0, 64)
        assert prios_keystream(header, key, length) == _lfsr_bit_by_bit(header, key, length)


def test_a_date_valued_volume_is_skipped_by_the_plan_as_by_the_rows() -> None:
    # Volume records made points in time by a "start date of" VIFE (one valid, one invalid date), then the
    # index; the second table also counts occurrences past them.
    payload = bytes.fromhex(
        "029339" "7F2C" "0C13" "78563412" "029339" "FFFF" "0C13" "11111111" "4C13" "22222222" "426C" "7F2C"
    )
    records = parse_records(payload)
    assert isinstance(records[0].value, date)
    second = Field("second_m3", "volume", direction=Direction.ANY, occurrence=1)
    tables = (STANDARD_FIELDS, (second, *STANDARD_FIELDS))
    for table in tables:
        planned, plain = (ReadingDraft("m", "MAN", "dec", "water", RECEIVED_AT) for _ in range(2))
        plan = plan_for(records, table)
        plan.fill(records, planned)
        plan.offer_set_days(records, planned)
        apply_fields(records, table, plain)
        offer_set_days(records, plain)
        reading = planned.freeze()
        assert reading == plain.freeze()
        assert reading.total_m3 == pytest.approx(12345.678)
        assert reading.target_m3 == pytest.approx(22222.222)
        assert reading.target_date == date(2019, 12, 31)


def test_set_days_are_offered_in_the_same_order_when_a_storage_repeats() -> None:
    # A storage-1 volume that holds a date (as a meter's own record could) is passed over for the next one.
    parsed = parse_records(bytes.fromhex("4C13" "11111111" "8C0113" "22222222" "426C" "7F2C" "82016C" "7F2C"))
    dated = parsed[0]._replace(value=date(2020, 1, 1))
    for records, storages in (
        ((dated, parsed[1], parsed[0], parsed[2], parsed[3]), [2, 1]),
        ((parsed[0], parsed[1], parsed[0]._replace(value=1.0), parsed[2]), [1, 2]),  # the first one wins
    ):
        planned, plain = (ReadingDraft("m", "MAN", "dec", "water", RECEIVED_AT) for _ in range(2))
        plan_for(records, STANDARD_FIELDS).offer_set_days(records, planned)
        offer_set_days(records, plain)
        assert [item.storage for item in plain.set_days] == storages
        assert planned.set_days == plain.set_days
        assert all(type(item) is SetDayValue for item in planned.set_days)


def _headers(payload: bytes, offset: int) -> list[tuple[object, ...]]:
    found = parse_record_set(payload, offset)
    headers: list[tuple[object, ...]] = [
        (r.offset, len(r.raw), r.dif, r.difes, r.vif, r.vifes, r.unit, r.modifiers) for r in found
    ]
    error = found.error
    if error is not None:  # a broken tail is part of the structure: the broken record's bytes up to the fault
        assert error.offset is not None
        read = payload[error.record_offset - offset : error.offset - offset + 1]
        headers.append((error.reason, error.offset, error.record_offset, read))
    return headers


def _same_structure_other_values(telegram: Telegram, rng: random.Random) -> Iterator[Telegram]:
    """The telegram with its values replaced (random, all 0x00, all 0xFF: invalid dates and BCD), as one
    payload structure: the bytes changed are those whose change leaves every record header as it was."""
    payload, offset = telegram.payload, telegram.payload_offset
    headers = _headers(payload, offset)
    positions = [
        at for at in range(len(payload))
        if _headers(payload[:at] + bytes((payload[at] ^ 0xFF,)) + payload[at + 1 :], offset)
        == headers
    ]
    records_module.clear_caches()  # the shapes of the trials above are forgotten: the original's is first
    original = parse_record_set(payload, offset)
    yield telegram._replace(record_set=original)
    for fill in (None, 0x00, 0xFF, None):
        changed = bytearray(payload)
        for at in positions:
            changed[at] = rng.randrange(256) if fill is None else fill
        record_set = parse_record_set(bytes(changed), offset)
        assert record_set.structure == original.structure is not None
        yield telegram._replace(payload=bytes(changed), record_set=record_set)


def test_a_recipe_kept_for_a_structure_reads_its_other_values_as_row_by_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The fast path decides per structure which records can never be a point in time and which set day can
    # be chosen: other values of that structure (invalid dates, BCD error codes included) must agree.
    rng = random.Random(23)
    names = [None, "oms", *decoder_names()[::5]]
    checked = 0
    for telegram, key in _telegrams():
        if telegram.record_set.structure is None or not telegram.record_set:
            continue
        original, *others = _same_structure_other_values(telegram, rng)
        for other in others:
            for name in names:
                clear_caches()
                decode_reading(original, RECEIVED_AT, name, key=key)  # the recipe learnt from the original
                fast = decode_reading(other, RECEIVED_AT, name, key=key)
                with monkeypatch.context() as patch:
                    patch.setattr(base, "plan_for", _plain_plan)
                    clear_caches()
                    plain = decode_reading(other, RECEIVED_AT, name, key=key)
                assert fast == plain, (name, telegram.raw.hex(), other.payload.hex())
                checked += 1
    assert checked > 1000


def test_the_lowest_set_day_alone_gives_the_reading_of_every_set_day() -> None:
    # Volumes of storage 2 and 1 (out of order), their dates; the storage-1 volume also as a date (passed
    # over for storage 2), and a storage repeated (every candidate offered, the rule chooses at freeze).
    parsed = parse_records(bytes.fromhex("8C0113" "22222222" "4C13" "11111111" "426C" "7F2C" "82016C" "9F2C"))
    dated = parsed[1]._replace(value=date(2020, 1, 1))
    for records, chosen in (
        (parsed, 1),
        ((parsed[0], dated, parsed[2], parsed[3]), 2),
        ((parsed[0], parsed[1], parsed[1]._replace(value=3.0), parsed[2], parsed[3]), 1),
    ):
        lowest, every = (ReadingDraft("m", "MAN", "dec", "water", RECEIVED_AT) for _ in range(2))
        plan = plan_for(records, STANDARD_FIELDS)
        plan.offer_lowest_set_day(records, lowest)
        plan.offer_set_days(records, every)
        assert len(lowest.set_days) == (1 if plan.one_volume_per_storage else len(every.set_days))
        reading = lowest.freeze()
        assert reading == every.freeze()
        assert reading.target_m3 == pytest.approx(11111.111 if chosen == 1 else 22222.222)
        assert reading.target_date == (parsed[2] if chosen == 1 else parsed[3]).value


def test_as_number_reads_ints_and_floats_first_and_nothing_else() -> None:
    class Count(int):
        pass

    for value, expected in ((7, 7.0), (-2.5, -2.5), (0, 0.0), (Count(3), 3.0), (float("inf"), float("inf"))):
        got = as_number(value)
        assert type(got) is float and got == expected
    for other in (True, False, None, "12", b"\x01", date(2026, 1, 1), datetime(2026, 1, 1)):
        assert as_number(other) is None
