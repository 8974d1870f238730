"""Where each key of a TOML text is written, so that a check of a value can name its line.

tomllib reports syntax errors with a line but loses the lines of values; :class:`KeyLines` finds each
key's line in the text itself. Shared by the configuration file and the decoder files.
"""

from __future__ import annotations

import re

KeyPath = tuple[str | int, ...]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_BARE_OR_QUOTED = r"(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')"
_ASSIGN = re.compile(rf"^\s*({_BARE_OR_QUOTED}(?:\s*\.\s*{_BARE_OR_QUOTED})*)\s*=")
_PART = re.compile(r"[A-Za-z0-9_-]+|\"([^\"]*)\"|'([^']*)'")


def _split_key(text: str) -> list[str]:
    parts = []
    for match in _PART.finditer(text):
        parts.append(match.group(1) if match.group(1) is not None else match.group(2) or match.group(0))
    return parts


class KeyLines:
    """The line (1-based) where each key path of a TOML text is written; arrays of tables indexed."""

    def __init__(self, text: str) -> None:
        self._lines: dict[KeyPath, int] = {}
        table: KeyPath = ()
        array_counts: dict[tuple[str, ...], int] = {}
        in_multiline: str | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            if in_multiline is not None:
                if line.count(in_multiline) % 2 == 1:
                    in_multiline = None
                continue
            header = _HEADER.match(line)
            if header is not None and "=" not in header.group(2):
                names = tuple(_split_key(header.group(2)))
                if header.group(1) == "[[":
                    index = array_counts.get(names, 0)
                    array_counts[names] = index + 1
                    table = (*names, index)
                else:
                    table = self._resolve(names, array_counts)
                self._lines.setdefault(table, number)
                continue
            assign = _ASSIGN.match(line)
            if assign is not None:
                self._lines.setdefault((*table, *_split_key(assign.group(1))), number)
                rest = line[assign.end() :]
                for quote in ('"""', "'''"):
                    if rest.count(quote) % 2 == 1:
                        in_multiline = quote

    @staticmethod
    def _resolve(names: tuple[str, ...], arrays: dict[tuple[str, ...], int]) -> KeyPath:
        # [radio.options] after [[radio]] belongs to the latest element of the array
        out: list[str | int] = []
        for depth, name in enumerate(names):
            out.append(name)
            prefix = names[: depth + 1]
            if prefix in arrays and depth + 1 < len(names):
                out.append(arrays[prefix] - 1)
        return tuple(out)

    def line_of(self, path: KeyPath) -> int | None:
        """The line of ``path`` or, failing that, of its nearest written parent."""
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return None


def format_key(path: KeyPath) -> str:
    """A key path as written in messages: ``radio[0].device``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def syntax_error_line(error: Exception) -> int | None:
    """The line a tomllib syntax error names, if any."""
    match = re.search(r"line (\d+)", str(error))
    return int(match.group(1)) if match else None
