"""``wmbus-gateway decoders``: list the decoders, check a decoder file, try one on a telegram (keys never
printed)."""

from __future__ import annotations

import json
import string
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.markup import escape
from rich.table import Table

from gateway.cli.common import ConfigOption, StateDirOption, console, errors, fail, settings
from gateway.daemon.config import GatewayConfig
from gateway.decoders import REGISTRY
from gateway.decoders.base import STANDARD_FIELDS, Match, MeterDecoder
from gateway.decoders.decoder_file import DecoderFileError
from gateway.decoders.folder import DecoderFolder, FolderReport, read_decoder_file
from gateway.decoders.registry import DecoderRegistry
from gateway.keys import KeyFileError, KeyStore, check_private, load_keys
from gateway.wmbus.errors import WMBusError
from gateway.wmbus.telegram import parse_telegram

USAGE_ERROR = 2
KEY_HEX_DIGITS = 32

decoders_app = typer.Typer(
    help="The meter decoders: built-in ones and decoder files (TOML, see docs/decoders.md).",
    no_args_is_help=True,
)
FileArgument = Annotated[Path, typer.Argument(help="A decoder file (TOML).", show_default=False)]


def builtin_registry() -> DecoderRegistry:
    """A registry of the built-in decoders only: the commands add files to it, not to the process's."""
    registry = DecoderRegistry(REGISTRY.fallback)
    for decoder in REGISTRY.builtin[1:]:
        registry.register(decoder)
    return registry


def add_decoder_files(config: GatewayConfig) -> None:
    """The configured decoder folder into the process's registry, for commands that check decoder names
    (a one-shot command: what the daemon will know)."""
    DecoderFolder(REGISTRY).load(config.decoders_path)


def load_folder(config: GatewayConfig) -> tuple[DecoderRegistry, FolderReport]:
    """The built-in decoders and the configured decoder folder, as the daemon would load them."""
    registry = builtin_registry()
    return registry, DecoderFolder(registry).load(config.decoders_path)


def describe_matches(matches: Iterable[Match]) -> str:
    """Matches in one line, device types of the same maker and version together: ``ZRI v* t06,07``."""
    groups: dict[tuple[str, int | None, frozenset[int] | None], list[int | None]] = {}
    for match in matches:
        groups.setdefault((match.manufacturer, match.version, match.ci), []).append(match.device_type)
    parts = []
    for (maker, version, ci), kinds in groups.items():
        text = f"{maker} v{'*' if version is None else f'{version:02X}'}"
        text += " t" + ",".join("*" if kind is None else f"{kind:02X}" for kind in kinds)
        if ci is not None:
            text += " ci" + ",".join(f"{code:02X}" for code in sorted(ci))
        parts.append(text)
    return "; ".join(parts) or "(only when a meter names it)"


def _shadowed(decoder: MeterDecoder) -> list[str]:
    """The built-in decoders that ``decoder`` comes before, under the same (maker, version, type)."""
    keys = {(m.manufacturer, m.version, m.device_type) for m in decoder.matches}
    return [
        builtin.name
        for builtin in REGISTRY.builtin
        if any((m.manufacturer, m.version, m.device_type) in keys for m in builtin.matches)
    ]


def _print_refused(report: FolderReport) -> None:
    for error in report.refused:
        kept = " (its previous version stays)" if error.path in report.kept else ""
        errors.print(f"[bold red]refused:[/] {escape(str(error))}{kept}", highlight=False)


@decoders_app.command("list")
def list_decoders(config: ConfigOption = None, state_dir: StateDirOption = None) -> None:
    """The built-in decoders and those of the decoder folder (gateway.decoders_dir), refused files last."""
    loaded = settings(config, state_dir)
    registry, report = load_folder(loaded)
    files = {decoder.name: path for path, decoder in report.loaded}
    table = Table(title=f"decoders (decoder folder: {loaded.decoders_path})")
    for column in ("name", "from", "claims", "description"):
        table.add_column(column, overflow="fold")
    for decoder in (*registry.added, *registry.builtin):
        origin = files[decoder.name].name if decoder.name in files else "built-in"
        claims = describe_matches(decoder.matches)
        if decoder is registry.fallback:
            claims = "(any meter nobody claims)"
        shadowed = _shadowed(decoder) if decoder.name in files else []
        if shadowed:
            claims += f" [before {', '.join(shadowed)}]"
        names = ", ".join((decoder.name, *decoder.aliases))
        table.add_row(*(escape(text) for text in (names, origin, claims, decoder.description)))
    console.print(table)
    if report.missing:
        console.print(f"no decoder folder {loaded.decoders_path}: built-in decoders only")
    _print_refused(report)


@decoders_app.command("check")
def check(
    files: Annotated[list[Path], typer.Argument(help="Decoder files (TOML).", show_default=False)],
    config: ConfigOption = None,
    state_dir: StateDirOption = None,
) -> None:
    """Check decoder files as the gateway would load them: errors name the file, the line and the key."""
    _, report = load_folder(settings(config, state_dir))
    failed = 0
    for path in files:
        # Its name may be neither a built-in's nor another file's of the decoder folder.
        others = (d for p, d in report.loaded if p.resolve() != path.resolve())
        taken = REGISTRY.builtin_names() | {name for d in others for name in (d.name, *d.aliases)}
        try:
            decoder = read_decoder_file(path, taken)
        except DecoderFileError as err:
            errors.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False)
            failed += 1
            continue
        console.print(f"[green]OK[/] {escape(str(path))}: {escape(_summary(decoder))}", highlight=False)
    if failed:
        raise typer.Exit(1)


def _summary(decoder: MeterDecoder) -> str:
    parts = [f"decoder {decoder.name!r}", f"claims {describe_matches(decoder.matches)}"]
    shadowed = _shadowed(decoder)
    if shadowed:
        parts.append(f"before the built-in {', '.join(shadowed)} for these")
    own = [row.name for row in decoder.fields if row not in STANDARD_FIELDS]
    standard = "the standard fields" if set(STANDARD_FIELDS) <= set(decoder.fields) else ""
    parts.append(" + ".join(part for part in (standard, *own) if part))
    for what, table in (("error flags", decoder.error_flags), ("TPL bits", decoder.tpl_bits)):
        if table is not None:
            parts.append(f"{what} {' '.join(flag.label for flag in table.flags)}")
    if decoder.target_storage is not None:
        parts.append(f"set day from storage {decoder.target_storage}")
    return "; ".join(parts)


@decoders_app.command("test")
def try_file(
    file: FileArgument,
    telegram: Annotated[str, typer.Argument(help="A telegram as hex (L field first).", show_default=False)],
    key: Annotated[
        str | None,
        typer.Option("--key", help="The meter's AES-128 key (32 hex digits).", show_default=False),
    ] = None,
    key_file: Annotated[
        Path | None,
        typer.Option(
            "--key-file",
            help="A file holding the key (32 hex digits) or a keys file ([keys] by meter id); mode 0600.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Decode one telegram with a decoder file and print the Reading (JSON); the key is never printed."""
    if key is not None and key_file is not None:
        _usage("give --key or --key-file, not both")
    keys = _key_source(key, key_file)
    try:
        data = bytes.fromhex(telegram.removeprefix("0x"))
    except ValueError:
        _usage("the telegram is not a hex string")
    try:
        decoder = read_decoder_file(file, REGISTRY.builtin_names())
    except DecoderFileError as err:
        fail(escape(str(err)))
    try:
        parsed = parse_telegram(data, keys.lookup if isinstance(keys, KeyStore) else keys)
    except WMBusError as err:
        fail(escape(f"the telegram does not parse: {err} ({type(err).__name__})"))
    registry = builtin_registry()
    registry.replace_added([decoder])
    claimed = registry.claims(parsed)
    if claimed is not decoder:
        kind = f"{parsed.manufacturer} version 0x{parsed.version:02X} device type 0x{parsed.device_type:02X}"
        other = claimed.name if claimed is not None else registry.fallback.name
        errors.print(
            escape(f"note: the file's [[match]] does not claim this telegram ({kind}, CI 0x{parsed.ci:02X}): "
            f"the gateway would decode it with {other!r} unless the meter names {decoder.name!r} "
            "in the meters file"),
            highlight=False,
        )
    meter_key = keys.lookup(parsed.meter_id) if isinstance(keys, KeyStore) else keys
    reading = registry.decode(parsed, datetime.now(UTC), decoder.name, key=meter_key)
    typer.echo(json.dumps(reading.to_json(), indent=2))


def _key_source(key: str | None, key_file: Path | None) -> bytes | KeyStore | None:
    """The key from --key or --key-file (one key, or a keys file looked up by meter id); never echoed."""
    if key is not None:
        return _one_key(key, "--key")
    if key_file is None:
        return None
    try:
        check_private(key_file)
        text = key_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        _usage(f"{key_file}: no such file")
    except KeyFileError as err:
        _usage(str(err))
    except (OSError, UnicodeDecodeError):
        _usage(f"{key_file}: cannot be read as text")
    bare = "".join(text.split())
    if len(bare) == KEY_HEX_DIGITS and all(ch in string.hexdigits for ch in bare):
        return bytes.fromhex(bare)
    try:
        return load_keys(key_file)
    except KeyFileError as err:
        _usage(f"{err} (a key file holds 32 hex digits or a [keys] table)")


def _one_key(text: str, where: str) -> bytes:
    cleaned = "".join(text.split())
    if len(cleaned) != KEY_HEX_DIGITS or not all(ch in string.hexdigits for ch in cleaned):
        _usage(f"{where} must be 32 hex digits")
    return bytes.fromhex(cleaned)


def _usage(message: str) -> NoReturn:
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(USAGE_ERROR)


def register(app: typer.Typer) -> None:
    """Add ``decoders`` to the application."""
    app.add_typer(decoders_app, name="decoders")
