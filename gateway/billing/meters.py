"""Provisioning: the meters file (TOML or CSV, no keys) and its companion keys file (gateway.keys).

The meters file says which meters this gateway serves and how to decode them; the keys file, mode 0600,
holds their AES keys. Writes are atomic, and an import changes nothing unless every row is valid.
"""

from __future__ import annotations

import csv
import importlib
import io
import os
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from gateway.keys import KeyFileError, KeyStore, load_keys, parse_key, save_keys
from gateway.meter_id import normalise_meter_id

CSV_COLUMNS = ("id", "decoder", "name", "customer")
IMPORT_COLUMNS = ("id", "key", "decoder", "name", "customer")


class MetersFileError(Exception):
    """The meters file is unreadable or malformed; names the file and the line where known."""


@dataclass(frozen=True, slots=True)
class MeterEntry:
    """One provisioned meter; its key lives in the keys file, never here. The id is made canonical
    (gateway.meter_id: ``0014A807`` is ``0014a807``); ValueError if it is no meter id."""

    meter_id: str
    decoder: str | None = None
    name: str | None = None
    customer: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "meter_id", normalise_meter_id(self.meter_id))


@dataclass(frozen=True, slots=True)
class RowError:
    """A rejected row of an import: the file's line number and why."""

    line: int
    message: str


class ImportRejectedError(Exception):
    """An import found invalid rows; nothing was written."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        super().__init__(f"{len(errors)} invalid row(s); nothing imported")


def known_decoders() -> frozenset[str] | None:
    """The decoder names the decoders package registers, or None while it is not installed."""
    try:
        module = importlib.import_module("gateway.decoders")
    except ImportError:
        return None
    names = getattr(module, "decoder_names", None)
    return frozenset(names()) if callable(names) else None


def _clean(text: str | None) -> str | None:
    text = (text or "").strip()
    return text or None


def _entry(meter_id: str, decoder: str | None, name: str | None, customer: str | None) -> MeterEntry:
    return MeterEntry(meter_id, _clean(decoder), _clean(name), _clean(customer))


def check_decoder(decoder: str | None, decoders: frozenset[str] | None) -> None:
    if decoder is not None and decoders is not None and decoder not in decoders:
        raise ValueError(f"unknown decoder {decoder!r} (see `wmbus-gateway meters decoders`)")


# --------------------------------------------------------------------------------------------------
# The meters file


def load_meters(path: Path) -> dict[str, MeterEntry]:
    """Read a meters file (``.csv`` by suffix, TOML otherwise); a missing file is an empty fleet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError as err:
        raise MetersFileError(f"{path}: not UTF-8 text (byte {err.start}): save it as UTF-8") from None
    if path.suffix.lower() == ".csv":
        return _load_csv(text, path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise MetersFileError(f"{path}: {err}") from None
    table = data.get("meters", {})
    if not isinstance(table, dict):
        raise MetersFileError(f"{path}: [meters] must be a table of meter id -> settings")
    meters: dict[str, MeterEntry] = {}
    for meter_id, settings in table.items():
        if not isinstance(settings, dict):
            raise MetersFileError(f"{path}: meters.{meter_id} must be a table")
        if "key" in settings:
            raise MetersFileError(f"{path}: meters.{meter_id}: keys belong in the keys file")
        unknown = set(settings) - {"decoder", "name", "customer"}
        if unknown:
            raise MetersFileError(f"{path}: meters.{meter_id}: unknown key {sorted(unknown)[0]!r}")
        try:
            entry = _entry(
                str(meter_id), settings.get("decoder"), settings.get("name"), settings.get("customer")
            )
        except (ValueError, AttributeError) as err:
            raise MetersFileError(f"{path}: meters.{meter_id}: {err}") from None
        meters[entry.meter_id] = entry
    return meters


def _load_csv(text: str, path: Path) -> dict[str, MeterEntry]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "id" not in reader.fieldnames:
        raise MetersFileError(f"{path}:1: the header row must name the columns, at least 'id'")
    if "key" in reader.fieldnames:
        raise MetersFileError(f"{path}:1: keys belong in the keys file; use `meters import` for id,key lists")
    meters: dict[str, MeterEntry] = {}
    for row in reader:
        try:
            entry = _entry(row["id"] or "", row.get("decoder"), row.get("name"), row.get("customer"))
        except ValueError as err:
            raise MetersFileError(f"{path}:{reader.line_num}: {err}") from None
        meters[entry.meter_id] = entry
    return meters


def save_meters(path: Path, meters: Mapping[str, MeterEntry]) -> None:
    """Write the meters file atomically, in the format its suffix names."""
    if path.suffix.lower() == ".csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for entry in sorted(meters.values(), key=lambda e: e.meter_id):
            writer.writerow([entry.meter_id, entry.decoder or "", entry.name or "", entry.customer or ""])
        text = buffer.getvalue()
    else:
        lines = ["# Meters served by this gateway (keys are in the keys file); see `wmbus-gateway meters`."]
        for entry in sorted(meters.values(), key=lambda e: e.meter_id):
            lines.append(f'\n[meters."{entry.meter_id}"]')
            for key in ("decoder", "name", "customer"):
                value = getattr(entry, key)
                if value is not None:
                    lines.append(f"{key} = {_toml_string(value)}")
        text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(ch if ch >= " " else f"\\u{ord(ch):04x}" for ch in escaped)
    return f'"{escaped}"'


# --------------------------------------------------------------------------------------------------
# Meters and keys together


@dataclass(frozen=True, slots=True)
class Fleet:
    """What the pipeline needs: the provisioned meters and their keys."""

    meters: Mapping[str, MeterEntry]
    keys: KeyStore


class Provisioning:
    """Reads and changes the meters file and the keys file together."""

    def __init__(self, meters_path: Path, keys_path: Path) -> None:
        self.meters_path = meters_path
        self.keys_path = keys_path

    def load(self) -> Fleet:
        """Both files; a missing keys file is no keys, an unsafe one is refused (KeyFileError)."""
        return Fleet(load_meters(self.meters_path), self._load_keys())

    def _load_keys(self) -> KeyStore:
        if not self.keys_path.exists():
            return KeyStore()
        return load_keys(self.keys_path)

    def _write(self, meters: Mapping[str, MeterEntry], keys: Mapping[str, bytes]) -> None:
        # keys first: a meter must never be listed while its key is not yet on disk
        self.keys_path.parent.mkdir(parents=True, exist_ok=True)
        save_keys(self.keys_path, keys)
        save_meters(self.meters_path, meters)

    def add(self, entry: MeterEntry, key: bytes | None) -> bool:
        """Provision (or update) one meter; return True when it was new."""
        fleet = self.load()
        meters = dict(fleet.meters)
        keys = dict(fleet.keys)
        is_new = entry.meter_id not in meters
        meters[entry.meter_id] = entry
        if key is not None:
            keys[entry.meter_id] = key
        self._write(meters, keys)
        return is_new

    def add_many(self, rows: Iterable[tuple[MeterEntry, bytes | None]]) -> None:
        """Provision several meters in one write of each file."""
        fleet = self.load()
        meters = dict(fleet.meters)
        keys = dict(fleet.keys)
        for entry, key in rows:
            meters[entry.meter_id] = entry
            if key is not None:
                keys[entry.meter_id] = key
        self._write(meters, keys)

    def remove(self, meter_id: str) -> bool:
        """Forget a meter and its key; return False when it was not provisioned."""
        meter_id = normalise_meter_id(meter_id)
        fleet = self.load()
        if meter_id not in fleet.meters and meter_id not in fleet.keys:
            return False
        meters = {mid: e for mid, e in fleet.meters.items() if mid != meter_id}
        keys = {mid: k for mid, k in fleet.keys.items() if mid != meter_id}
        self._write(meters, keys)
        return True

    def import_csv(self, text: str, *, progress: Callable[[int], None] | None = None) -> tuple[int, int]:
        """Import an installer's ``id,key[,decoder,name,customer]`` list; all rows valid or nothing.

        Returns (added, updated). Raises ImportRejectedError with every bad row's line number.
        """
        rows = parse_import(text, known_decoders(), progress=progress)
        fleet = self.load()
        meters = dict(fleet.meters)
        keys = dict(fleet.keys)
        added = updated = 0
        for entry, key in rows:
            if entry.meter_id in meters:
                updated += 1
            else:
                added += 1
            meters[entry.meter_id] = entry
            if key is not None:
                keys[entry.meter_id] = key
            else:
                keys.pop(entry.meter_id, None)
        self._write(meters, keys)
        return added, updated


def parse_import(
    text: str, decoders: frozenset[str] | None, *, progress: Callable[[int], None] | None = None
) -> list[tuple[MeterEntry, bytes | None]]:
    """Validate every row of an import list; raise ImportRejectedError listing all bad rows by line."""
    reader = csv.reader(io.StringIO(text))
    errors: list[RowError] = []
    try:
        header = [column.strip().lower() for column in next(reader)]
    except StopIteration:
        raise ImportRejectedError([RowError(1, "empty file: expected a header row id,key,...")]) from None
    missing = [column for column in ("id", "key") if column not in header]
    unknown = [column for column in header if column not in IMPORT_COLUMNS]
    if missing or unknown:
        problem = f"missing column(s) {', '.join(missing)}" if missing else ""
        problem = problem or f"unknown column(s) {', '.join(unknown)}"
        raise ImportRejectedError(
            [RowError(1, f"{problem}; the header must be id,key[,decoder,name,customer]")]
        )
    index = {column: header.index(column) for column in header}
    rows: list[tuple[MeterEntry, bytes | None]] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if progress is not None:
            progress(1)
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            errors.append(RowError(line, f"expected {len(header)} columns, found {len(row)}"))
            continue

        def cell(column: str, row: list[str] = row) -> str | None:
            return _clean(row[index[column]]) if column in index else None

        try:
            entry = _entry(cell("id") or "", cell("decoder"), cell("name"), cell("customer"))
        except ValueError as err:
            errors.append(RowError(line, str(err)))
            continue
        if entry.meter_id in seen:
            first = seen[entry.meter_id]
            errors.append(RowError(line, f"meter {entry.meter_id} already listed on line {first}"))
            continue
        seen[entry.meter_id] = line
        key_text = cell("key")
        key: bytes | None = None
        try:
            if key_text is not None:
                key = parse_key(key_text, entry.meter_id)
            check_decoder(entry.decoder, decoders)
        except (KeyFileError, ValueError) as err:
            errors.append(RowError(line, str(err)))
            continue
        rows.append((entry, key))
    if errors:
        raise ImportRejectedError(errors)
    return rows


def count_rows(text: str) -> int:
    """Data rows in an import list (for a progress bar's total)."""
    return max(0, sum(1 for _ in csv.reader(io.StringIO(text))) - 1)


def entries(meters: Iterable[MeterEntry]) -> list[MeterEntry]:
    """Meters sorted by id, for listings."""
    return sorted(meters, key=lambda entry: entry.meter_id)
