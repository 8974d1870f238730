"""Where the ingester's points go: an InfluxDB-compatible write API (InfluxDB 2/3, VictoriaMetrics).

influxdb-client posts line protocol to ``/api/v2/write?bucket=..&org=..&precision=ms``;
VictoriaMetrics (1.79 and later) accepts that endpoint and ignores bucket, org and token.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, cast


class LineSink(Protocol):
    """Accepts a batch of line-protocol lines or raises; blocking (the ingester calls it in a thread)."""

    def write(self, lines: Sequence[str]) -> None: ...

    def close(self) -> None: ...


# What the store answers when the content itself is wrong (bad line, too large): retrying the same batch
# cannot help. Other answers (401/403/404: credentials or bucket; 429, 5xx; no answer) are retried.
REFUSED_STATUSES = frozenset({400, 413, 422})


class SinkError(Exception):
    """The store did not accept a batch; ``refused`` when it refused the content (HTTP 400, 413, 422)."""

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


def read_token(path: Path | None) -> str:
    """The API token from its file (first line); an empty token when there is no file."""
    if path is None:
        return ""
    text = path.read_text()
    return text.splitlines()[0].strip() if text else ""


class InfluxSink:
    """Synchronous line-protocol writes with influxdb-client; millisecond precision."""

    def __init__(
        self, url: str, bucket: str, *, org: str = "", token: str = "", timeout_ms: int = 10_000
    ) -> None:
        # influxdb-client costs ~30 MB resident to import: only the ingester loads it, the daemon never.
        from influxdb_client.client.influxdb_client import InfluxDBClient  # noqa: PLC0415
        from influxdb_client.client.write_api import SYNCHRONOUS  # noqa: PLC0415

        self.bucket = bucket
        self.org = org or "-"
        self._client = InfluxDBClient(url=url, token=token, org=self.org, timeout=timeout_ms)
        self._write = self._client.write_api(write_options=SYNCHRONOUS)

    def write(self, lines: Sequence[str]) -> None:
        if not lines:
            return
        body = "\n".join(lines).encode()
        try:
            self._write.write(bucket=self.bucket, org=self.org, record=body, write_precision=cast(Any, "ms"))
        except Exception as err:  # influxdb-client raises ApiException, urllib3 errors, OSError ...
            raise SinkError(
                _describe(err), refused=getattr(err, "status", None) in REFUSED_STATUSES
            ) from None

    def close(self) -> None:
        self._write.close()  # type: ignore[no-untyped-call]
        self._client.close()  # type: ignore[no-untyped-call]


def _describe(err: Any) -> str:
    status = getattr(err, "status", None)
    reason = getattr(err, "reason", None) or type(err).__name__
    body = getattr(err, "body", None)
    text = f"HTTP {status} {reason}" if status else str(reason)
    if body:
        text += f": {str(body)[:200]}"
    return text
