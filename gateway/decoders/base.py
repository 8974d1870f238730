"""MeterDecoder: a declarative description of one meter family (what it matches, its fields, its flags).

A decoder is data: the telegrams it claims (:class:`Match`), a table of standard fields, the meaning of its
status bits, and at most one function for the proprietary part of the payload.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import NamedTuple

from gateway.decoders.compact import expand_compact, learn_layout
from gateway.decoders.draft import ReadingDraft
from gateway.decoders.fields import Direction, Field
from gateway.decoders.no_value import TOP_BIT_MAKERS, drop_no_values
from gateway.decoders.plan import PLAN_LIMIT, Records, plan_for, record_value
from gateway.decoders.status import FlagTable, apply_tpl_status, word_of
from gateway.wmbus.errors import WMBusError
from gateway.wmbus.records import Function, RecordSet
from gateway.wmbus.telegram import Telegram
from gateway.wmbus.tpl import ALARM_REPORT_CI

ProprietaryPart = Callable[[Telegram, ReadingDraft], None]
"""Code for a maker's own bytes: reads ``telegram.payload`` (or records) and writes the draft."""

MANUFACTURER_CIS = frozenset(range(0xA0, 0xB8))
# Meter kinds (manufacturer, version, type) seen sending compact frames: only their full frames are worth
# learning a layout from, which keeps the per-telegram cost down for everybody else.
_COMPACT_SENDERS: set[tuple[str, int, int]] = set()
_COMPACT_SENDERS_LIMIT = 4096
_kind_of = attrgetter("manufacturer", "version", "device_type")


class _Recipe(NamedTuple):
    """What decoding one payload structure with one decoder takes, found once (see MeterDecoder.decode)."""

    decoder: MeterDecoder  # kept so that its id stays its own while cached
    fill: Callable[[Records, ReadingDraft], None] | None  # the plan's, None without rows
    offer_set_days: Callable[[Records, ReadingDraft], None] | None
    error_flags_at: int  # -1: no error-flags record, or the decoder gives them no meaning


# (id of the decoder, a RecordSet's structure) -> recipe: one lookup a telegram for the plan and the steps.
_recipes: dict[tuple[int, int], _Recipe] = {}


def clear_recipes() -> None:
    """Forget the recipes kept per decoder and payload structure (benchmarks and tests)."""
    _recipes.clear()


@dataclass(frozen=True, slots=True)
class Match:
    """What a decoder claims: a manufacturer, optionally a version, device type and set of CI fields."""

    manufacturer: str
    version: int | None = None
    device_type: int | None = None
    ci: frozenset[int] | None = None

    def accepts(self, telegram: Telegram) -> bool:
        """The CI filter (manufacturer, version and type are the registry's index key)."""
        return self.ci is None or telegram.ci in self.ci


# The standard fields, read the way EN 13757-3 / OMS meters send them (water first).
STANDARD_FIELDS: tuple[Field, ...] = (
    Field("total_m3", "volume", direction=Direction.PLAIN),
    Field("total_backward_m3", "volume", direction=Direction.BACKWARD),
    Field("flow_m3h", "volume_flow"),
    Field("max_flow_m3h", "volume_flow", function=Function.MAXIMUM),
    Field("flow_temperature_c", "flow_temperature"),
    Field("external_temperature_c", "external_temperature"),
    Field("battery_v", "voltage"),
    Field("meter_datetime", "datetime"),
    Field("meter_datetime", "date"),
    # Heat, heat-cost and gas meters share the layer: their registers go to Reading.extra.
    Field("total_energy_consumption_kwh", "energy", direction=Direction.PLAIN),
    Field("target_energy_kwh", "energy", storage=1, direction=Direction.PLAIN),
    Field("return_temperature_c", "return_temperature"),
    Field("power_kw", "power"),
    Field("current_consumption_hca", "hca_units"),
    Field("consumption_at_set_date_hca", "hca_units", storage=1),
)


@dataclass(frozen=True, slots=True)
class MeterDecoder:
    """One meter family: matches, standard field table, status meanings and the proprietary part."""

    name: str
    matches: tuple[Match, ...]
    description: str
    fields: tuple[Field, ...] = STANDARD_FIELDS
    set_days: bool = True  # offer historic volumes as target_m3 candidates
    latest_set_day: bool = False  # target is the most recent dated register, not the lowest storage
    target_storage: int | None = None  # the storage number the maker documents as its set day
    error_flags: FlagTable | None = None  # meaning of the VIF 0xFD17 error-flags record
    tpl_bits: FlagTable | None = None  # meaning of the TPL status byte's manufacturer bits 5-7
    proprietary: ProprietaryPart | None = None
    medium: str | None = None  # when the meter's own device type is wrong
    aliases: tuple[str, ...] = ()  # other names a meters file may use (e.g. the reference's driver names)
    records_valid: Callable[[Telegram], bool] | None = None  # False: the records are the maker's own bytes
    sends_compact: bool = False  # learn every full frame's layout, before any compact frame was seen

    def _learns(self, kind: tuple[str, int, int]) -> bool:
        return self.sends_compact or kind in _COMPACT_SENDERS

    def records_of(self, telegram: Telegram, draft: ReadingDraft) -> Records:
        """The telegram's records; compact frames are expanded through their registered signatures."""
        kind = _kind_of(telegram)
        tpl = telegram.tpl
        if tpl is None or not tpl.compact:
            records = telegram.record_set  # built only if read in full (a plan reads a few values)
            if records and self._learns(kind):
                learn_layout(records)  # once per payload shape
            return records
        if len(_COMPACT_SENDERS) < _COMPACT_SENDERS_LIMIT:
            _COMPACT_SENDERS.add(kind)
        payload = telegram.payload
        if telegram.security_mode and payload[:2] == b"\x2f\x2f":
            payload = payload[2:]  # the decryption check bytes come before the signature
        try:
            expanded = expand_compact(payload)
        except WMBusError as error:
            draft.mark_unsupported(f"compact frame does not fit its registered layout ({error})")
            return ()
        if expanded is None:
            signature = int.from_bytes(payload[:2], "little") if len(payload) >= 2 else 0
            draft.mark_unsupported(
                f"compact frame with unknown format signature 0x{signature:04X}: the meter's full frame"
                " of that layout has not been seen yet (it is read once one arrives)"
            )
            return ()
        return expanded

    def recipe(self, records: Records) -> _Recipe:
        """The steps decoding ``records`` takes: the table compiled for their layout (the same as
        apply_fields and offer_set_days), which set days to offer, where the error flags are."""
        plan = plan_for(records, self.fields)
        offer = None
        if self.set_days and plan.set_days:
            # Nothing but the plan offers set days and the lowest storage wins: only its candidate counts.
            lowest_wins = self.proprietary is None and self.target_storage is None and not self.latest_set_day
            offer = plan.offer_lowest_set_day if lowest_wins else plan.offer_set_days
        error_flags_at = plan.error_flags_at if self.error_flags is not None else -1
        return _Recipe(self, plan.fill if plan.rows else None, offer, error_flags_at)

    def decode(self, telegram: Telegram, draft: ReadingDraft) -> None:
        """Fill ``draft`` from the telegram: standard records first, then the proprietary part."""
        tpl = telegram.tpl
        records: Records
        if (
            tpl is not None and not tpl.compact and not self.sends_compact
            and _kind_of(telegram) not in _COMPACT_SENDERS
        ):
            records = telegram.record_set  # records_of's common case, without its call
        else:
            records = self.records_of(telegram, draft)
        if self.records_valid is not None and not self.records_valid(telegram):
            records = ()
        proprietary = self.proprietary
        if proprietary is not None:  # the only reader of draft.records
            draft.records = records  # a RecordSet stays unbuilt unless the part iterates it
        draft.latest_set_day = self.latest_set_day
        draft.target_storage = self.target_storage
        structure = records.structure if type(records) is RecordSet else None
        if structure is None:
            recipe = self.recipe(records)
        else:
            recipe = _recipes.get((id(self), structure))  # type: ignore[assignment]
            if recipe is None or recipe.decoder is not self:
                recipe = self.recipe(records)
                if len(_recipes) >= PLAN_LIMIT:
                    _recipes.clear()
                _recipes[(id(self), structure)] = recipe
        _, fill, offer_set_days, error_flags_at = recipe
        if fill is not None:
            fill(records, draft)
        if offer_set_days is not None:
            offer_set_days(records, draft)
        if telegram.manufacturer in TOP_BIT_MAKERS and b"\x00\x80" in telegram.payload:
            drop_no_values(records, draft)  # reads the data bytes of the structure's volume registers
        status = telegram.status
        if status is not None:
            apply_tpl_status(status, draft, self.tpl_bits)
        if error_flags_at >= 0:
            word = word_of(record_value(records, error_flags_at))
            if word is not None:
                self.error_flags.apply(word, draft)  # type: ignore[union-attr]  # see recipe
        if proprietary is not None:
            try:
                proprietary(telegram, draft)
            except (IndexError, ValueError, KeyError, WMBusError) as error:
                # A proprietary block we misread is the decoder's problem, not a bad telegram.
                draft.mark_unsupported(f"{self.name}: proprietary data not understood ({error})")
        elif telegram.ci in MANUFACTURER_CIS:
            draft.mark_unsupported(f"manufacturer specific CI 0x{telegram.ci:02X}")
        elif telegram.ci == ALARM_REPORT_CI:
            draft.mark_unsupported(f"alarm report (CI 0x71) without a reading: {telegram.payload.hex()}")
