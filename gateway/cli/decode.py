"""``wmbus-gateway decode``: telegrams (hex) in, one JSON object per telegram out; keys never printed."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, time
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TextIO, cast

import typer

from gateway import json_codec
from gateway.keys import KeyFileError, read_key_file
from gateway.wmbus.errors import Identity, WMBusError
from gateway.wmbus.records import DataRecord, Function
from gateway.wmbus.telegram import Telegram, parse_telegram

USAGE_ERROR = 2
OUTPUT_LINES = 256  # JSON lines written at once


class _UsageError(Exception):
    """Bad command-line input (exit status 2)."""


_PLAIN = frozenset({int, float, str, bool, type(None)})
_FUNCTIONS = {function: function.name.lower() for function in Function}


def _json_value(value: Any) -> Any:
    """Record values as JSON: dates ISO 8601, bytes as hex, invalid fields as their digits."""
    if type(value) in _PLAIN:  # nearly every value: exact types, no isinstance of a union
        return value
    if isinstance(value, Enum):  # before int: IntEnum codes print by name
        return str(value.name).lower()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, frozenset | set | tuple | list):
        return sorted(_json_value(item) for item in value)
    digits = getattr(value, "hex_digits", None)
    if digits is not None:
        return {"invalid": digits, "reason": getattr(value, "reason", "")}
    return str(value)


def record_json(record: DataRecord) -> dict[str, Any]:
    """The fields of one data record a reader needs."""
    value = record.value
    out: dict[str, Any] = {
        "quantity": record.quantity,
        "unit": record.unit,
        "value": value if type(value) in _PLAIN else _json_value(value),
        "storage": record.storage,
        "tariff": record.tariff,
        "subunit": record.subunit,
        "function": _FUNCTIONS[record.function],
    }
    if record.modifiers:
        out["modifiers"] = sorted(record.modifiers)
    out["offset"] = record.offset
    out["raw"] = record.raw.hex()
    return out


def _reading_fields(telegram: Telegram, key: bytes | None, now: datetime) -> dict[str, Any]:
    try:
        from gateway.decoders import decode_reading  # noqa: PLC0415 - the decoders are optional here
    except ImportError:
        return {}
    try:
        reading = decode_reading(telegram, now, key=key)
    except Exception as exc:  # a decoder's failure must not hide the telegram's records
        return {"reading_error": f"{type(exc).__name__}: {exc}"}
    return {name: value for name, value in reading.to_json().items() if value is not None}


def telegram_json(
    telegram: Telegram, key: bytes | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """One decoded telegram as printed by ``decode``; reading fields from the decoders merged in."""
    status_flags = telegram.status_flags
    out: dict[str, Any] = {
        "id": telegram.meter_id,
        **({} if telegram.link_id is None else {"link_id": telegram.link_id}),
        "manufacturer": telegram.manufacturer,
        "version": telegram.version,
        "device_type": telegram.device_type,
        "medium": telegram.medium,
        "ci": f"{telegram.ci:#04x}",
        "security_mode": telegram.security_mode,
        "encrypted": telegram.encrypted,
        "access_number": telegram.access_number,
        "status": telegram.status,
        "status_flags": sorted(status_flags) if status_flags else [],
        "wired": telegram.wired,
        "payload": telegram.payload.hex(),
        "records": [record_json(record) for record in telegram.records],
    }
    if telegram.records_error:
        out["records_error"] = telegram.records_error
    reading = _reading_fields(telegram, key, now or datetime.now(UTC))
    reading.pop("meter_id", None)
    reading.pop("manufacturer", None)
    out.update(reading)
    return out


def _parse_key(text: str) -> bytes:
    """A 32-hex-digit AES key (16 digits: DES, security mode 2); the message never repeats the text."""
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise _UsageError("a key must be 32 hex digits (DES: 16)") from None
    if len(key) not in {16, 8}:
        raise _UsageError("a key must be 32 hex digits (DES: 16)")
    return key


def _lines(source: TextIO) -> Iterator[tuple[str, str | None]]:
    for line in source:
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        parts = text.split()
        yield parts[0], parts[1] if len(parts) > 1 else None


def _decode_one(
    hex_text: str, key_text: str | None, default_key: bytes | None, now: datetime | None = None
) -> dict[str, Any]:
    try:
        key = default_key if key_text is None else _parse_key(key_text)
    except _UsageError as exc:
        return {"telegram": hex_text, "error": f"bad key on this line: {exc}"}
    try:
        data = bytes.fromhex(hex_text.removeprefix("0x"))
    except ValueError:
        return {"telegram": hex_text, "error": "not a hex string"}
    try:
        telegram = parse_telegram(data, key)
    except WMBusError as exc:
        return {"telegram": hex_text, **identity_json(exc.identity), "error": str(exc),
                "error_type": type(exc).__name__}
    return telegram_json(telegram, key, now)


def identity_json(identity: Identity | None) -> dict[str, Any]:
    """The header fields an error carries (what was decoded before it), as ``decode`` prints them."""
    if identity is None:
        return {}
    out: dict[str, Any] = {"id": identity.meter_id}
    if identity.link_id is not None:
        out["link_id"] = identity.link_id
    out.update(
        manufacturer=identity.manufacturer,
        version=identity.version,
        device_type=identity.device_type,
        medium=identity.medium,
        ci=None if identity.ci is None else f"{identity.ci:#04x}",
        access_number=identity.access_number,
    )
    return out


def decode_all(items: Iterable[tuple[str, str | None]], default_key: bytes | None, out: TextIO) -> int:
    """Decode and print every item in order (a JSON object a line); return how many failed."""
    failed = 0
    lines: list[bytes] = []
    write = _writer(out)
    for hex_text, key_text in items:
        # Each line's received_at is the time it was decoded, read once a line as before.
        result = _decode_one(hex_text, key_text, default_key, datetime.now(UTC))
        failed += "error" in result
        line = json_codec.dumps(result)
        if not line.isascii():  # rare: escaped as before, so that no U+2028 or U+0085 splits a line
            line = json_codec.stdlib_dumps(result)
        lines.append(line)
        if len(lines) >= OUTPUT_LINES:
            write(b"\n".join(lines) + b"\n")
            lines.clear()
    if lines:
        write(b"\n".join(lines) + b"\n")
    return failed


def _writer(out: TextIO) -> Callable[[bytes], object]:
    """Write UTF-8 bytes to the text stream's binary buffer (stdout), or as text where it has none."""
    buffer = getattr(out, "buffer", None)
    if buffer is None:
        return lambda data: out.write(data.decode())
    out.flush()
    return cast(Callable[[bytes], object], buffer.write)


def decode(
    telegrams: Annotated[list[str] | None, typer.Argument(help="Telegrams as hex (L field first).")] = None,
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            help="AES-128 key (32 hex digits; DES: 16) for every telegram. It shows in ps and the shell"
            " history: prefer --key-file.",
            show_default=False,
        ),
    ] = None,
    key_file: Annotated[
        Path | None,
        typer.Option(
            "--key-file", help="File holding that key (32 hex digits; DES: 16), readable by its owner only."
        ),
    ] = None,
    input_file: Annotated[
        str | None,
        typer.Option("--input", "-i", help="File of telegrams, one a line: HEX or HEX KEY; '-' = stdin."),
    ] = None,
) -> None:
    """Decode wireless or wired M-Bus telegrams and print one JSON object per telegram."""
    try:
        if key is not None and key_file is not None:
            raise _UsageError("give --key or --key-file, not both")
        if key_file is not None:
            try:
                key = read_key_file(key_file)
            except KeyFileError as err:
                raise _UsageError(str(err)) from None
        default_key = None if key is None else _parse_key(key)
        items: list[tuple[str, str | None]] = [(text, None) for text in telegrams or ()]
        if input_file == "-":
            items.extend(_lines(sys.stdin))
        elif input_file is not None:
            try:
                with Path(input_file).open(encoding="utf-8") as handle:
                    items.extend(_lines(handle))
            except OSError as exc:
                raise _UsageError(f"cannot read {input_file}: {exc.strerror}") from None
        if not items:
            raise _UsageError("no telegrams: give HEX arguments or --input FILE|-")
    except _UsageError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(USAGE_ERROR) from None
    failed = decode_all(items, default_key, sys.stdout)
    sys.stdout.flush()
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``decode`` to the application."""
    app.command("decode")(decode)
