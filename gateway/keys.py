"""The keys file: one key per meter, in a file of its own that other users may not read.

Format (TOML)::

    [keys]
    "12345678" = "000102030405060708090A0B0C0D0E0F"
    "00000001" = "0102030405060708"

A key is AES-128 (32 hex digits) or, for old modules that still send security mode 2, DES (16).

Keys never leave this module in text form: KeyStore's repr and errors name meters, not keys.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path

from gateway.meter_id import normalise_meter_id

KEY_HEX_DIGITS = 32
DES_KEY_HEX_DIGITS = 16  # security mode 2 (DES-CBC), withdrawn from the standard, still in the field


class KeyFileError(Exception):
    """The keys file is unreadable, malformed or readable by other users."""


def parse_key(text: str, meter_id: str) -> bytes:
    """Parse 32 hex digits into a 16-byte AES key (16 digits: an 8-byte DES key); the error names the
    meter, never the text."""
    cleaned = text.strip().replace(" ", "")
    if len(cleaned) not in {KEY_HEX_DIGITS, DES_KEY_HEX_DIGITS}:
        raise KeyFileError(
            f"key for meter {meter_id} must be {KEY_HEX_DIGITS} hex digits (DES: {DES_KEY_HEX_DIGITS})"
        )
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise KeyFileError(f"key for meter {meter_id} is not hexadecimal") from None


class KeyStore(Mapping[str, bytes]):
    """Meter id -> AES-128 (or DES) key; O(1) lookup, in either case of the id; its repr never shows a key."""

    def __init__(self, keys: Mapping[str, bytes] | None = None) -> None:
        self._keys = {normalise_meter_id(mid): key for mid, key in (keys or {}).items()}

    def __getitem__(self, meter_id: str) -> bytes:
        found = self.lookup(meter_id)
        if found is None:
            raise KeyError(meter_id)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def lookup(self, meter_id: str) -> bytes | None:
        """The key of ``meter_id`` or None (the shape the protocol core asks for)."""
        # the core's ids are canonical already: one dict access; others are lowered on a miss
        return self._keys.get(meter_id) or self._keys.get(meter_id.lower())

    def __repr__(self) -> str:
        return f"KeyStore({len(self._keys)} meters)"


def check_private(path: Path) -> None:
    """Refuse a keys file that users other than its owner can read or write."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"{path} is accessible by other users (mode {stat.S_IMODE(mode):04o}); run: chmod 600 {path}"
        )


def load_keys(path: Path) -> KeyStore:
    """Load and validate a keys file."""
    try:
        check_private(path)
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise KeyFileError(f"{path}: no such keys file") from None
    except tomllib.TOMLDecodeError as err:
        raise KeyFileError(f"{path}: {err}") from None
    table = data.get("keys", {})
    if not isinstance(table, dict):
        raise KeyFileError(f"{path}: [keys] must be a table of meter id = key")
    keys: dict[str, bytes] = {}
    for meter_id, text in table.items():
        try:
            mid = normalise_meter_id(str(meter_id))
        except ValueError as err:
            raise KeyFileError(f"{path}: {err}") from None
        if not isinstance(text, str):
            raise KeyFileError(f"{path}: key for meter {mid} must be a string")
        keys[mid] = parse_key(text, mid)
    return KeyStore(keys)


def save_keys(path: Path, keys: Mapping[str, bytes]) -> None:
    """Write a keys file atomically with mode 0600."""
    lines = ["# AES-128 (or DES) keys, one per meter id. Keep this file mode 0600.", "[keys]"]
    lines += [f'"{mid}" = "{key.hex().upper()}"' for mid, key in sorted(keys.items())]
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_key_file(path: Path) -> str:
    """The key text of a file holding one key (32 hex digits; spaces and newlines ignored).

    Refused if group or others may read it, as the keys file; the error never holds the file's text.
    """
    try:
        check_private(path)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError):
        raise KeyFileError(f"{path}: cannot be read as text") from None
    return "".join(text.split())
