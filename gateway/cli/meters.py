"""``wmbus-gateway meters``: provision meters (add, import, list, show, remove); keys are never shown."""

from __future__ import annotations

import codecs
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from gateway.billing.meters import (
    ImportRejectedError,
    MeterEntry,
    MetersFileError,
    check_decoder,
    count_rows,
    entries,
    known_decoders,
)
from gateway.cli.common import ConfigOption, StateDirOption, console, errors, fail, provisioning, settings
from gateway.cli.decoders_cmd import add_decoder_files
from gateway.cli.status import open_state
from gateway.daemon.preflight import current_user
from gateway.keys import KeyFileError, parse_key, read_key_file
from gateway.meter_id import normalise_meter_id

KEY_HELP_NOTE = " A key on the command line shows in ps and the shell history: prefer --key-file"

meters_app = typer.Typer(help="Provision the meters this gateway serves.", no_args_is_help=True)

MeterIdArgument = Annotated[str, typer.Argument(help="Meter id, 8 digits as printed on the meter.")]


def _meter_id(text: str) -> str:
    try:
        return normalise_meter_id(text)
    except ValueError as err:
        fail(str(err))


@meters_app.command("add")
def add(
    meter_id: MeterIdArgument,
    *,
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            help="AES-128 key, 32 hex digits (DES: 16). Asked for (not echoed) when omitted."
            + KEY_HELP_NOTE
            + " or the prompt.",
            show_default=False,
        ),
    ] = None,
    key_file: Annotated[
        Path | None,
        typer.Option("--key-file", help="File holding the key (32 hex digits), readable by its owner only."),
    ] = None,
    no_key: Annotated[bool, typer.Option("--no-key", help="The meter does not encrypt.")] = False,
    decoder: Annotated[str | None, typer.Option(help="Decoder name; default: detected.")] = None,
    name: Annotated[str | None, typer.Option(help="A name for people (address, flat).")] = None,
    customer: Annotated[str | None, typer.Option(help="The utility's customer reference.")] = None,
    config: ConfigOption = None,
    state_dir: StateDirOption = None,
) -> None:
    """Provision one meter (or update it); the key goes to the keys file, mode 0600."""
    mid = _meter_id(meter_id)
    loaded = settings(config, state_dir)
    add_decoder_files(loaded)
    try:
        check_decoder(decoder, known_decoders())
    except ValueError as err:
        fail(str(err))
    if key is not None and key_file is not None:
        fail("give --key or --key-file, not both")
    if key_file is not None:
        try:
            key = read_key_file(key_file)
        except KeyFileError as err:
            fail(str(err))
    if key is None and not no_key:
        key = typer.prompt(
            f"AES key of meter {mid} (32 hex digits, DES 16, empty for none)",
            default="",
            show_default=False,
            hide_input=True,
        )
    key_bytes: bytes | None = None
    if key:
        try:
            key_bytes = parse_key(key, mid)
        except KeyFileError as err:
            fail(str(err))
    prov = provisioning(loaded)
    try:
        is_new = prov.add(MeterEntry(mid, decoder, name, customer), key_bytes)
    except (MetersFileError, KeyFileError) as err:
        fail(str(err))
    what = "added" if is_new else "updated"
    key_note = "with its key" if key_bytes else "without a key" if is_new or no_key else "key unchanged"
    console.print(f"[green]{what}[/] meter {mid} {key_note}")


@meters_app.command("import")
def import_(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV with a header row: id,key[,decoder,name,customer]; '-' reads stdin.",
            readable=False,  # checked when read: an unreadable file gets the hint to pipe it in
        ),
    ],
    encoding: Annotated[
        str,
        typer.Option(help="The file's text encoding, e.g. latin-1, or cp1252 for a spreadsheet's export."),
    ] = "utf-8",
    config: ConfigOption = None,
    state_dir: StateDirOption = None,
) -> None:
    """Import an installer's list; every row is checked first and nothing changes if one is wrong."""
    text = _read_text(file, encoding)
    loaded = settings(config, state_dir)
    add_decoder_files(loaded)
    prov = provisioning(loaded)
    with Progress(
        TextColumn("checking {task.description}"), BarColumn(), MofNCompleteColumn(), console=errors
    ) as progress:
        task = progress.add_task(file.name, total=count_rows(text))
        try:
            added, updated = prov.import_csv(text, progress=lambda n: progress.advance(task, n))
        except ImportRejectedError as err:
            progress.stop()
            table = Table(title=f"{file}: {len(err.errors)} invalid row(s); nothing imported")
            table.add_column("line", justify="right")
            table.add_column("problem")
            for row in err.errors:
                table.add_row(str(row.line), row.message)
            errors.print(table)
            raise typer.Exit(1) from None
        except (MetersFileError, KeyFileError) as err:
            fail(str(err))
    console.print(f"[green]imported[/] {file}: {added} added, {updated} updated")


def _read_text(file: Path, encoding: str) -> str:
    try:
        data = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
    except PermissionError:
        fail(
            f"{file}: permission denied for user {current_user()} (the service user cannot read your home"
            f" folder): pipe the file in instead: ... meters import - < {file}"
        )
    except OSError as err:
        fail(f"{file}: {err.strerror}")
    try:
        codec = codecs.lookup(encoding)
    except LookupError:
        fail(f"--encoding {encoding!r} is not a known text encoding")
    try:
        return data.decode("utf-8-sig" if codec.name == "utf-8" else codec.name)
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        fail(
            f"{file} is not {codec.name.upper()} (byte 0x{data[err.start]:02x} on line {line}); save it as"
            " UTF-8, or name its encoding with --encoding (latin-1, or cp1252 for a spreadsheet's export)"
        )


@meters_app.command("list")
def list_(config: ConfigOption = None, state_dir: StateDirOption = None) -> None:
    """List the provisioned meters (whether each has a key, never the key)."""
    loaded = settings(config, state_dir)
    try:
        fleet = provisioning(loaded).load()
    except (MetersFileError, KeyFileError) as err:
        fail(str(err))
    table = Table(title=f"{len(fleet.meters)} meters ({loaded.meters_path})")
    for column in ("id", "decoder", "name", "customer", "key"):
        table.add_column(column)
    for entry in entries(fleet.meters.values()):
        has_key = "yes" if entry.meter_id in fleet.keys else "-"
        decoder = entry.decoder or "auto"
        table.add_row(entry.meter_id, decoder, entry.name or "", entry.customer or "", has_key)
    console.print(table)


@meters_app.command("show")
def show(meter_id: MeterIdArgument, config: ConfigOption = None, state_dir: StateDirOption = None) -> None:
    """Show one meter's provisioning (and its last reading when the state database has one)."""
    mid = _meter_id(meter_id)
    loaded = settings(config, state_dir)
    try:
        fleet = provisioning(loaded).load()
    except (MetersFileError, KeyFileError) as err:
        fail(str(err))
    entry = fleet.meters.get(mid)
    if entry is None:
        fail(f"meter {mid} is not provisioned")
    table = Table(title=f"meter {mid}", show_header=False)
    table.add_column("field", style="cyan")
    table.add_column("value")
    table.add_row("decoder", entry.decoder or "auto")
    table.add_row("name", entry.name or "")
    table.add_row("customer", entry.customer or "")
    table.add_row("key", "set (in the keys file)" if mid in fleet.keys else "none")
    store = open_state(loaded)
    if store is not None:
        try:
            reading = store.last_reading(mid)
            alarms = [alarm.name for alarm in store.open_alarms(mid)]
        finally:
            store.close()
        if reading is not None:
            table.add_row("last reading", str(reading.get("received_at", ""))[:19])
            for key in ("total_m3", "target_m3", "target_date", "flow_m3h", "rssi_dbm", "source"):
                if reading.get(key) is not None:
                    table.add_row(key, str(reading[key]))
        table.add_row("open alarms", ", ".join(alarms) or "none")
    console.print(table)


@meters_app.command("remove")
def remove(meter_id: MeterIdArgument, config: ConfigOption = None, state_dir: StateDirOption = None) -> None:
    """Stop serving a meter and delete its key."""
    mid = _meter_id(meter_id)
    try:
        removed = provisioning(settings(config, state_dir)).remove(mid)
    except (MetersFileError, KeyFileError) as err:
        fail(str(err))
    if not removed:
        fail(f"meter {mid} is not provisioned")
    console.print(f"[green]removed[/] meter {mid} and its key")


@meters_app.command("decoders")
def decoders(config: ConfigOption = None, state_dir: StateDirOption = None) -> None:
    """List the decoder names that --decoder accepts (decoder files included)."""
    add_decoder_files(settings(config, state_dir))
    names = known_decoders()
    if names is None:
        fail("the decoders package is not available")
    for name in sorted(names):
        console.print(name)


def register(app: typer.Typer) -> None:
    app.add_typer(meters_app, name="meters")
