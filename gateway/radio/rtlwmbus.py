"""rtl_wmbus (SDR) output: one line a telegram, read from stdin or from a pipeline we run and restart.

Line (rtl-wmbus README): ``MODE;crc_ok;3of6_ok;timestamp;rssi;?;id;0xHEX``, e.g.
``T1;1;1;2019-04-03 19:00:42.000;97;148;88888888;0x2e44...``. The hex is the frame with its CRCs
removed, L first. The rssi column is rtl_wmbus' own signal level, not dBm, so rssi_dbm stays None.
Telegrams whose CRC failed (crc_ok 0) are counted and dropped unless ``include_crc_failed``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import NamedTuple

from gateway.clock import Clock
from gateway.frame import LinkMode, ReceivedFrame
from gateway.radio.base import Backoff, ErrorReason
from gateway.radio.pipeline import PipelineSource

FIELDS = 8
_MODES = {"T1": LinkMode.T1, "C1": LinkMode.C1, "S1": LinkMode.S1, "N1": LinkMode.N}


class RtlWmbusLine(NamedTuple):
    """One parsed rtl_wmbus line (a named tuple: made once a line, it costs a fraction of a dataclass)."""

    link_mode: LinkMode
    crc_ok: bool
    three_of_six_ok: bool
    timestamp: datetime | None
    data: bytes


def _utc_stamp(text: str) -> datetime:
    """rtl_wmbus prints the receiver's clock without a zone; the gateway runs in UTC. (Parsed with the
    zone appended: ``replace(tzinfo=...)`` costs five times the parse; a stamp with a zone of its own
    takes the slow way and has its zone replaced, as always.)"""
    try:
        return datetime.fromisoformat(text + "+00:00")
    except ValueError:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)


def parse_rtl_wmbus_line(line: str) -> RtlWmbusLine:
    """Parse one line; ValueError says what is wrong with it."""
    fields = line.strip().split(";")
    if len(fields) != FIELDS or not fields[7].lower().startswith("0x"):
        raise ValueError(f"not an rtl_wmbus line ({len(fields)} fields)")
    data = bytes.fromhex(fields[7][2:])
    if not data or len(data) < data[0] + 1:
        raise ValueError("telegram shorter than its L field")
    timestamp = None
    if fields[3]:
        timestamp = _utc_stamp(fields[3])
    return RtlWmbusLine(
        link_mode=_MODES.get(fields[0].upper(), LinkMode.UNKNOWN),
        crc_ok=fields[1] == "1",
        three_of_six_ok=fields[2] == "1",
        timestamp=timestamp,
        data=data[: data[0] + 1],
    )


class RtlWmbusSource(PipelineSource):
    """rtl_wmbus lines from a shell pipeline (restarted when it ends) or from standard input."""

    kind = "rtl_wmbus"

    def __init__(
        self,
        name: str,
        command: str | None = None,
        *,
        clock: Clock | None = None,
        backoff: Backoff | None = None,
        include_crc_failed: bool = False,
        stdin: asyncio.StreamReader | None = None,
    ) -> None:
        super().__init__(name, command, clock=clock, backoff=backoff, stdin=stdin)
        self.include_crc_failed = include_crc_failed

    def _frame(self, raw: bytes) -> ReceivedFrame | None:
        text = raw.decode("ascii", "replace").strip()
        if not text or text.startswith("#"):
            return None
        try:
            line = parse_rtl_wmbus_line(text)
        except ValueError as err:
            self.stats.count_error(ErrorReason.MALFORMED, str(err))
            self.stats.garbage_bytes += len(raw)
            return None
        if not line.crc_ok and not self.include_crc_failed:
            self.stats.count_error(ErrorReason.LINK_CRC, "rtl_wmbus reported a CRC failure")
            return None
        now = self._clock.now()
        self.stats.count_frame(now)
        return ReceivedFrame(line.data, line.link_mode, None, now, self.name)
