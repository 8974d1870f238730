"""The decoder folder: every ``*.toml`` decoder file in it loaded into the registry, again on each reload.

A file that cannot be read or compiled is refused with its file:line reason and changes nothing else: the
built-in decoders and the other files stay, and a file that loaded before keeps its previous version
until it is fixed. The daemon logs :meth:`FolderReport.summary` as one line.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from gateway.decoders.base import MeterDecoder
from gateway.decoders.decoder_file import DecoderFileError, parse_decoder
from gateway.decoders.registry import DecoderRegistry

MAX_FILE_BYTES = 256 * 1024  # a decoder file is a few kB; anything larger is a mistake


def read_decoder_file(path: Path, taken: Iterable[str] = ()) -> MeterDecoder:
    """Read and compile one decoder file; ``taken`` are names it may not use (built-ins, other files)."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DecoderFileError(f"{size} bytes: a decoder file is at most {MAX_FILE_BYTES}", path=path)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DecoderFileError("no such file", path=path) from None
    except UnicodeDecodeError as err:
        raise DecoderFileError(f"not UTF-8 text (byte {err.start})", path=path) from None
    except OSError as err:
        raise DecoderFileError(f"cannot read: {err.strerror}", path=path) from None
    return parse_decoder(text, path, taken=frozenset(taken))


def decoder_files(folder: Path) -> list[Path]:
    """The folder's decoder files in name order (``*.toml``, hidden files and editor backups left out)."""
    return sorted(path for path in folder.glob("*.toml") if not path.name.startswith(".") and path.is_file())


@dataclass(frozen=True, slots=True)
class FolderReport:
    """What one load of the folder did."""

    folder: Path
    loaded: tuple[tuple[Path, MeterDecoder], ...] = ()
    refused: tuple[DecoderFileError, ...] = ()
    kept: frozenset[Path] = frozenset()  # refused files whose previous version stays loaded
    missing: bool = False  # the folder does not exist (or is not a folder)

    @property
    def decoders(self) -> tuple[MeterDecoder, ...]:
        return tuple(decoder for _, decoder in self.loaded)

    def level(self, *, folder_configured: bool) -> int:
        """WARNING when a file was refused (or a configured folder is missing), else INFO."""
        return logging.WARNING if self.refused or (self.missing and folder_configured) else logging.INFO

    def summary(self) -> str:
        """One line: how many decoders from which files, and each refused file with its reason."""
        if self.missing:
            return f"decoder files: none, no folder {self.folder} (built-in decoders only)"
        loaded = ", ".join(f"{decoder.name} ({path.name})" for path, decoder in self.loaded)
        line = f"decoder files in {self.folder}: {len(self.loaded)} loaded"
        if loaded:
            line += f": {loaded}"
        if self.refused:
            reasons = "; ".join(
                str(err) + (" (its previous version stays)" if err.path in self.kept else "")
                for err in self.refused
            )
            line += f"; {len(self.refused)} refused: {reasons}"
        return line


class DecoderFolder:
    """Loads a folder of decoder files into a registry, keeping each file's last good version."""

    def __init__(self, registry: DecoderRegistry) -> None:
        self.registry = registry
        self._last_good: dict[Path, MeterDecoder] = {}

    def load(self, folder: Path) -> FolderReport:
        """Read every decoder file of ``folder`` and make them the registry's added decoders."""
        if not folder.is_dir():
            self._last_good.clear()
            self.registry.replace_added(())
            return FolderReport(folder, missing=True)
        taken = set(self.registry.builtin_names())
        loaded: list[tuple[Path, MeterDecoder]] = []
        refused: list[DecoderFileError] = []
        kept: set[Path] = set()
        for path in decoder_files(folder):
            try:
                decoder = read_decoder_file(path, taken)
            except DecoderFileError as err:
                refused.append(err)
                previous = self._last_good.get(path)
                if previous is None or taken & _names(previous):
                    continue
                decoder = previous
                kept.add(path)
            taken |= _names(decoder)
            loaded.append((path, decoder))
        self.registry.replace_added([decoder for _, decoder in loaded])
        self._last_good = dict(loaded)
        return FolderReport(folder, tuple(loaded), tuple(refused), frozenset(kept))


def _names(decoder: MeterDecoder) -> set[str]:
    return {decoder.name, *decoder.aliases}
