"""A Prometheus ``/metrics`` endpoint served from the event loop (collectors read live state safely)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

log = logging.getLogger(__name__)

DEFAULT_LISTEN = "127.0.0.1:9464"


class MetricsAddressError(ValueError):
    """A ``HOST:PORT`` that cannot be listened on."""


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9464`` for IPv6) as (host, port); the port must be 1-65535."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise MetricsAddressError(f"{text!r}: expected HOST:PORT, e.g. {DEFAULT_LISTEN}")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise MetricsAddressError(f"{text!r}: port {port} is out of range 1-65535")
    return host.strip("[]"), port


class MetricsServer:
    """Answers ``GET /metrics`` (and ``/``) with the registry's text exposition; anything else is 404."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self.registry = registry
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        sockets = self._server.sockets or ()
        if sockets and self.port == 0:
            self.port = sockets[0].getsockname()[1]
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
            method, _, rest = request.partition(b" ")
            path = rest.split(b" ", 1)[0].split(b"?", 1)[0]
            if method not in (b"GET", b"HEAD") or path not in (b"/metrics", b"/"):
                await _answer(writer, b"404 Not Found", b"text/plain", b"not found\n", method == b"HEAD")
                return
            body = generate_latest(self.registry)
            await _answer(writer, b"200 OK", CONTENT_TYPE_LATEST.encode(), body, method == b"HEAD")
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def _answer(
    writer: asyncio.StreamWriter, status: bytes, content_type: bytes, body: bytes, head: bool
) -> None:
    writer.write(
        b"HTTP/1.1 "
        + status
        + b"\r\nContent-Type: "
        + content_type
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\nConnection: close\r\n\r\n"
        + (b"" if head else body)
    )
    await writer.drain()
