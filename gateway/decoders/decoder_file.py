"""Decoder files: one meter family written in TOML, compiled into the same :class:`MeterDecoder` as a
built-in one (its matches, field rows, set-day rule and flag tables; no code).

Text in, decoder out: reading the files is the folder's job (:mod:`gateway.decoders.folder`). Every
error names the file, the line and the key (:class:`DecoderFileError`). docs/decoders.md has the format.
"""

from __future__ import annotations

import itertools
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any, TypeVar

from gateway.decoders.base import STANDARD_FIELDS, Match, MeterDecoder
from gateway.decoders.fields import READING_FIELDS, Direction, Field
from gateway.decoders.status import Flag, FlagTable
from gateway.reading import Alarm, Reading
from gateway.toml_lines import KeyLines, KeyPath, format_key, syntax_error_line
from gateway.wmbus.medium import MEDIA
from gateway.wmbus.records import Function
from gateway.wmbus.vif import (
    COMBINABLE,
    COMBINABLE_FC,
    EXTENSION_FB,
    EXTENSION_FD,
    MANUFACTURER_SPECIFIC,
    PLAIN_TEXT,
    PRIMARY,
)

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
LABEL = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
MANUFACTURER = re.compile(r"[A-Za-z]{3}")
# What a record's quantity can be: the VIF tables' names and those the record layer gives itself.
QUANTITIES = frozenset(
    {entry.quantity for table in (PRIMARY, EXTENSION_FB, EXTENSION_FD) for entry in table}
    | {PLAIN_TEXT.quantity, MANUFACTURER_SPECIFIC.quantity, "manufacturer_data", "time"}
)
MODIFIERS = frozenset(name for entry in (*COMBINABLE, *COMBINABLE_FC) for name in entry.modifiers)
FUNCTIONS = {function.name.lower(): function for function in Function}
DIRECTIONS = {direction.value: direction for direction in Direction}
ALARMS = {alarm.value: alarm for alarm in Alarm}
# A field may write the Reading attributes READING_FIELDS names; the other attributes are the gateway's.
RESERVED_FIELDS = frozenset(item.name for item in dataclass_fields(Reading)) - READING_FIELDS | {"status"}
STANDARD_PLACES = ("first", "last", "none")
TPL_MAKER_BITS = 0xE0  # bits 5-7 of the TPL status byte are the maker's
MAX_MASK = (1 << 64) - 1
MAX_MATCHES = 256  # a file's [[match]] tables expanded (lists multiply)
_T = TypeVar("_T")


class DecoderFileError(Exception):
    """A decoder file that cannot be used: the reason, where (file and line) and which key."""

    def __init__(self, message: str, *, path: Path | None = None, line: int | None = None, key: str = ""):
        self.message = message
        self.path = path
        self.line = line
        self.key = key
        where = str(path) if path is not None else "<decoder file>"
        if line is not None:
            where += f":{line}"
        super().__init__(f"{where}: {key + ': ' if key else ''}{message}")


def parse_decoder(
    text: str, origin: Path | None = None, *, taken: frozenset[str] = frozenset()
) -> MeterDecoder:
    """Compile a decoder file's text; raise :class:`DecoderFileError` naming the line and the key.
    ``taken``: names the decoder may not have (the built-in decoders', other files')."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise DecoderFileError(f"TOML syntax: {err}", path=origin, line=syntax_error_line(err)) from None
    return _Compiler(text, origin, taken).decoder(data)


class _Compiler:
    """Checks one file's tables, key by key, and builds the decoder."""

    def __init__(self, text: str, origin: Path | None, taken: frozenset[str]) -> None:
        self.text = text
        self.origin = origin
        self.taken = taken

    def error(self, path: KeyPath, message: str) -> DecoderFileError:
        line = KeyLines(self.text).line_of(path)  # found only for an error: a good file costs no scan
        return DecoderFileError(message, path=self.origin, line=line, key=format_key(path))

    # -- the decoder -------------------------------------------------------------------------------

    def decoder(self, data: dict[str, Any]) -> MeterDecoder:
        top = _Keys(data, (), self)
        name = top.text("name", required=True, pattern=NAME, hint="lower-case letters, digits, '_' or '-'")
        assert name is not None
        aliases = tuple(
            self.checked_text(item, ("aliases", index), NAME, "lower-case letters, digits, '_' or '-'")
            for index, item in enumerate(top.array("aliases"))
        )
        if len(set(aliases) | {name}) != len(aliases) + 1:
            raise self.error(("aliases",), "a name is given twice")
        for path, given in ((("name",), name), *((("aliases", i), alias) for i, alias in enumerate(aliases))):
            if given in self.taken:
                raise self.error(path, f"{given!r} is already the name of another decoder: choose another")
        description = top.text("description") or f"{name} (decoder file)"
        medium = top.text("medium")
        if medium is not None and medium not in MEDIA.values():
            raise self.error(("medium",), f"unknown medium {medium!r} (e.g. water, warm_water, cold_water)")
        place = top.text("standard_fields") or "first"
        if place not in STANDARD_PLACES:
            raise self.error(("standard_fields",), f"must be one of {', '.join(STANDARD_PLACES)}")
        rows = tuple(self.field(item, path) for path, item in top.tables("field"))
        table = {"first": (*STANDARD_FIELDS, *rows), "last": (*rows, *STANDARD_FIELDS), "none": rows}[place]
        if not table:
            raise self.error(("field",), "standard_fields = \"none\" needs at least one [[field]]")
        matches = self.matches(top.tables("match"))
        target_storage = top.integer("target_storage", minimum=1)
        decoder = MeterDecoder(
            name=name,
            matches=matches,
            description=description,
            fields=table if table != STANDARD_FIELDS else STANDARD_FIELDS,
            set_days=top.boolean("set_days", default=True),
            latest_set_day=top.boolean("latest_set_day", default=False),
            target_storage=target_storage,
            error_flags=self.flags(top.table("error_flags"), ("error_flags",), "error_flags", MAX_MASK),
            tpl_bits=self.flags(top.table("tpl_bits"), ("tpl_bits",), "tpl", TPL_MAKER_BITS),
            medium=medium,
            aliases=aliases,
        )
        top.finish()
        return decoder

    def checked_text(self, value: object, path: KeyPath, pattern: re.Pattern[str], hint: str) -> str:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise self.error(path, f"must be a string of {hint}")
        return value

    # -- [[match]] ---------------------------------------------------------------------------------

    def matches(self, tables: list[tuple[KeyPath, dict[str, Any]]]) -> tuple[Match, ...]:
        out: list[Match] = []
        for path, data in tables:
            keys = _Keys(data, path, self)
            makers = keys.one_or_many("manufacturer", self.manufacturer, required=True)
            versions = keys.one_or_many("version", self.byte)
            types = keys.one_or_many("device_type", self.byte)
            cis = keys.one_or_many("ci", self.byte)
            keys.finish()
            ci = frozenset(cis) if cis else None
            any_byte: list[int | None] = [None]
            product = (makers, versions or any_byte, types or any_byte)
            if len(out) + len(makers) * len(product[1]) * len(product[2]) > MAX_MATCHES:
                raise self.error(path, f"more than {MAX_MATCHES} matches: list fewer values")
            out.extend(Match(*key, ci) for key in itertools.product(*product))
        if len(set(out)) != len(out):
            raise self.error(tables[-1][0], "the same match is given twice")
        return tuple(out)

    def manufacturer(self, value: object, path: KeyPath) -> str:
        if not isinstance(value, str) or not MANUFACTURER.fullmatch(value):
            raise self.error(path, "must be the maker's three-letter code, e.g. \"ZRI\"")
        return value.upper()

    def byte(self, value: object, path: KeyPath) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFF:
            raise self.error(path, "must be a number from 0 to 255 (0x00-0xFF)")
        return value

    # -- [[field]] ---------------------------------------------------------------------------------

    def field(self, data: dict[str, Any], path: KeyPath) -> Field:
        keys = _Keys(data, path, self)
        name = keys.text("name", required=True, pattern=FIELD_NAME, hint="lower-case letters, digits and '_'")
        assert name is not None
        if name in RESERVED_FIELDS:
            hint = " (set days give target_m3: see target_storage)" if name.startswith("target") else ""
            raise self.error((*path, "name"), f"{name!r} is set by the gateway, not by a field{hint}")
        quantity = keys.text("quantity", required=True)
        if quantity not in QUANTITIES:
            raise self.error((*path, "quantity"), f"unknown quantity {quantity!r} (e.g. volume, volume_flow)")
        assert quantity is not None
        function = keys.choice("function", {**FUNCTIONS, "any": None}, default=Function.INSTANTANEOUS)
        direction = keys.choice("direction", DIRECTIONS, default=Direction.ANY)
        without = frozenset(
            self.modifier(item, (*path, "without", index)) for index, item in enumerate(keys.array("without"))
        )
        row = Field(
            name,
            quantity,
            function=function,
            storage=keys.number_or_any("storage"),
            tariff=keys.number_or_any("tariff"),
            subunit=keys.number_or_any("subunit"),
            direction=direction,
            vif=self.vif_range(keys),
            without=without,
            occurrence=keys.integer("occurrence", minimum=0) or 0,
        )
        keys.finish()
        return row

    def modifier(self, value: object, path: KeyPath) -> str:
        if not isinstance(value, str) or value not in MODIFIERS:
            raise self.error(path, f"unknown VIFE modifier {value!r} (e.g. backward_flow, forward_flow)")
        return value

    def vif_range(self, keys: _Keys) -> tuple[int, int] | None:
        value = keys.get("vif")
        path = (*keys.path, "vif")
        if value is None:
            return None
        bounds = value if isinstance(value, list) else [value, value]
        low_high = [item for item in bounds if isinstance(item, int) and not isinstance(item, bool)]
        if len(bounds) != 2 or len(low_high) != 2 or not 0 <= low_high[0] <= low_high[1] <= 0x7F:
            raise self.error(path, "must be a VIF code or a range [low, high] within 0x00-0x7F")
        return (low_high[0], low_high[1])

    # -- [error_flags], [tpl_bits] -----------------------------------------------------------------

    def flags(self, data: dict[str, Any] | None, path: KeyPath, name: str, allowed: int) -> FlagTable | None:
        if data is None:
            return None
        flags: list[Flag] = []
        for label, spec in data.items():
            where = (*path, label)
            if not LABEL.fullmatch(label):
                raise self.error(where, "a flag's label is upper-case letters, digits and '_' (e.g. LEAKING)")
            if isinstance(spec, bool) or not isinstance(spec, int | dict):
                raise self.error(where, "must be a mask (e.g. 0x0040) or { mask = 0x0040, alarm = \"leak\" }")
            spec_keys = _Keys(spec if isinstance(spec, dict) else {"mask": spec}, where, self)
            mask = spec_keys.integer("mask", minimum=1, required=True)
            assert mask is not None
            if mask & ~allowed:
                raise self.error(where, f"mask 0x{mask:X} is outside the maker's bits 0x{allowed:X}")
            value = spec_keys.integer("value", minimum=0)
            if value is not None and value & ~mask:
                raise self.error(where, f"value 0x{value:X} has bits outside the mask 0x{mask:X}")
            alarm = spec_keys.choice("alarm", ALARMS, default=None)
            spec_keys.finish()
            flags.append(Flag(mask, label, alarm, value))
        if not flags:
            raise self.error(path, "a flag table needs at least one flag (LABEL = mask)")
        return FlagTable(name, tuple(flags))


class _Keys:
    """One table of a decoder file: typed reads that record what was read, so unknown keys are refused."""

    def __init__(self, data: Mapping[str, Any], path: KeyPath, compiler: _Compiler) -> None:
        self.data = data
        self.path = path
        self.compiler = compiler
        self.used: set[str] = set()

    def error(self, key: str, message: str) -> DecoderFileError:
        return self.compiler.error((*self.path, key), message)

    def get(self, key: str) -> Any:
        self.used.add(key)
        return self.data.get(key)

    def text(
        self, key: str, *, required: bool = False, pattern: re.Pattern[str] | None = None, hint: str = ""
    ) -> str | None:
        value = self.get(key)
        if value is None:
            if required:
                raise self.compiler.error(self.path, f"missing required key {key!r}")
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, "must be a non-empty string")
        if pattern is not None and not pattern.fullmatch(value):
            raise self.error(key, f"must be {hint}")
        return value

    def integer(self, key: str, *, minimum: int, required: bool = False) -> int | None:
        value = self.get(key)
        if value is None:
            if required:
                raise self.compiler.error(self.path, f"missing required key {key!r}")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"must be a whole number, got {_kind(value)}")
        if value < minimum:
            raise self.error(key, f"must be at least {minimum}, got {value}")
        if value > MAX_MASK:
            raise self.error(key, f"must be below 2**64, got {value}")
        return value

    def number_or_any(self, key: str) -> int | None:
        value = self.get(key)
        if value is None:
            return 0
        if value == "any":
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.error(key, f'must be a number from 0 up or "any", got {value!r}')
        return value

    def boolean(self, key: str, *, default: bool) -> bool:
        value = self.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(key, "must be true or false")
        return value

    def choice(self, key: str, choices: Mapping[str, _T], *, default: _T) -> _T:
        value = self.get(key)
        if value is None:
            return default
        if not isinstance(value, str) or value not in choices:
            raise self.error(key, f"must be one of {', '.join(choices)}; got {value!r}")
        return choices[value]

    def array(self, key: str) -> list[Any]:
        value = self.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(key, "must be a list [...]")
        return value

    def one_or_many(
        self, key: str, check: Callable[[object, KeyPath], _T], *, required: bool = False
    ) -> list[_T]:
        value = self.get(key)
        if value is None:
            if required:
                raise self.compiler.error(self.path, f"missing required key {key!r}")
            return []
        if isinstance(value, list):
            if not value:
                raise self.error(key, "an empty list matches nothing: leave the key out to match any")
            return [check(item, (*self.path, key, index)) for index, item in enumerate(value)]
        return [check(value, (*self.path, key))]

    def table(self, key: str) -> dict[str, Any] | None:
        value = self.get(key)
        if value is not None and not isinstance(value, dict):
            raise self.error(key, f"must be a table [{key}]")
        return value

    def tables(self, key: str) -> list[tuple[KeyPath, dict[str, Any]]]:
        value = self.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise self.error(key, f"must be [[{key}]] tables")
        return [((*self.path, key, index), item) for index, item in enumerate(value)]

    def finish(self) -> None:
        for key in self.data:
            if key not in self.used:
                raise self.error(key, "unknown key")


def _kind(value: object) -> str:
    return {str: "a string", float: "a decimal number", list: "a list", dict: "a table"}.get(
        type(value), type(value).__name__
    )
