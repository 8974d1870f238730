"""One log format for every line: journald's priority prefix under systemd, local time on a terminal, JSON.

Under systemd (``JOURNAL_STREAM`` names standard error) a line is ``<4>gateway.radio: ...``: journald
takes the syslog priority from the prefix (so ``journalctl -p warning`` works) and stamps the time
itself. Elsewhere a line starts with the local time and its UTC offset. ``json`` gives one object a
line for log shippers.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import datetime
from enum import StrEnum
from typing import TextIO

# logging level -> syslog priority (RFC 5424): debug 7, info 6, warning 4, error 3, critical 2
_PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))


class LogLevel(StrEnum):
    """The levels an operator picks from."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class LogFormat(StrEnum):
    """How log lines look; ``auto`` picks ``journal`` under systemd and ``text`` elsewhere."""

    AUTO = "auto"
    TEXT = "text"
    JOURNAL = "journal"
    JSON = "json"


def syslog_priority(levelno: int) -> int:
    """The syslog priority of a logging level."""
    for threshold, priority in _PRIORITIES:
        if levelno >= threshold:
            return priority
    return 7


class JournalFormatter(logging.Formatter):
    """``<priority>logger: message``; journald adds the time."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.name}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        # journald reads the prefix of each line: keep a traceback's lines at the record's priority
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + part for part in text.split("\n"))


class TextFormatter(logging.Formatter):
    """``2026-12-05T15:04:05.123+01:00 WARNING logger: message`` (local time with its offset)."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds")
        text = f"{stamp} {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (ISO 8601 with offset), level, logger, message[, exception]."""

    def format(self, record: logging.LogRecord) -> str:
        document = {
            "time": datetime.fromtimestamp(record.created)
            .astimezone()
            .isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "priority": syslog_priority(record.levelno),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False)


def under_journald(stream: TextIO, environ: dict[str, str] | None = None) -> bool:
    """Whether ``stream`` is the journal stream systemd gave us (``JOURNAL_STREAM`` = device:inode)."""
    value = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    if not device.isdigit() or not inode.isdigit():
        return False
    try:
        status = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (status.st_dev, status.st_ino) == (int(device), int(inode))


def formatter_for(log_format: LogFormat, stream: TextIO) -> logging.Formatter:
    if log_format is LogFormat.AUTO:
        log_format = LogFormat.JOURNAL if under_journald(stream) else LogFormat.TEXT
    if log_format is LogFormat.JOURNAL:
        return JournalFormatter()
    if log_format is LogFormat.JSON:
        return JsonFormatter()
    return TextFormatter()


def configure_logging(
    level: str, log_format: LogFormat = LogFormat.AUTO, stream: TextIO | None = None
) -> None:
    """Every logger's lines (ours and the libraries') go to ``stream`` (stderr) in one format."""
    target = sys.stderr if stream is None else stream
    handler = logging.StreamHandler(target)
    handler.setFormatter(formatter_for(log_format, target))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
