"""How to reach an MQTT broker: URL, TLS, credentials from a file, protocol version, clear refusals."""

from __future__ import annotations

import ssl
import urllib.parse
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from gateway.mqtt.packets import Version, reason_text

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
# CONNACK codes that mean "speak an older protocol": 3.1.1 rc 1, MQTT 5 reason 132.
_UNSUPPORTED_PROTOCOL = frozenset({1, 132})
_REFUSED_CREDENTIALS = frozenset({4, 5, 134, 135, 140})


class Protocol(StrEnum):
    """Which MQTT version to speak; AUTO tries 5 and falls back to 3.1.1."""

    AUTO = "auto"
    V5 = "5"
    V311 = "3.1.1"


class BrokerError(Exception):
    """The broker cannot be used as configured: refused login, bad TLS files, bad URL."""


class MqttError(Exception):
    """The connection to the broker could not be made or was lost (gateway.uplink.client)."""


class ConnectRefusedError(MqttError):
    """The broker answered CONNECT with a refusal: ``code`` is its return (3.1.1) or reason (5) code."""

    def __init__(self, code: int, version: Version, reason_string: str | None = None) -> None:
        text = reason_text(code, version, connack=True)
        super().__init__(f"{text}: {reason_string}" if reason_string else text)
        self.code = code


class ConnectionLostError(MqttError):
    """The connection dropped, the broker closed it, or it sent something we cannot read."""


def redacted(url: str) -> str:
    """The URL with any user and password replaced by ``***`` (for error messages and logs)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url if "@" not in url else "***@" + url.rpartition("@")[2]
    netloc, slash, path = rest.partition("/")
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    return f"{scheme}://{netloc}{slash}{path}"


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """Where the broker is and how to log in; the password only ever lives in ``password_file``."""

    url: str
    username: str | None = None
    password_file: Path | None = None
    client_id: str | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    protocol: Protocol = Protocol.AUTO
    keepalive_s: int = 30

    def __post_init__(self) -> None:
        parsed = urllib.parse.urlsplit(self.url)
        if "@" in parsed.netloc and ":" in parsed.netloc.rpartition("@")[0]:
            raise BrokerError("do not put the password in the broker URL; use a password file")
        if parsed.scheme not in DEFAULT_PORTS or not parsed.hostname:
            raise BrokerError(
                f"broker URL must look like mqtt://host:1883 or mqtts://host:8883, got {redacted(self.url)!r}"
            )
        if (self.cert_file is None) != (self.key_file is None):
            raise BrokerError("a client certificate needs both cert_file and key_file")

    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        parsed = urllib.parse.urlsplit(self.url)
        return parsed.port or DEFAULT_PORTS[parsed.scheme]

    @property
    def tls(self) -> bool:
        return urllib.parse.urlsplit(self.url).scheme == "mqtts" or self.ca_file is not None

    @property
    def user(self) -> str | None:
        return self.username or urllib.parse.urlsplit(self.url).username

    def password(self) -> str | None:
        """Read the password file (first line, without the newline)."""
        if self.password_file is None:
            return None
        try:
            text = self.password_file.read_text()
        except OSError as err:
            raise BrokerError(
                f"cannot read the MQTT password file {self.password_file}: {err.strerror}"
            ) from None
        return text.splitlines()[0] if text else ""

    def tls_context(self) -> ssl.SSLContext | None:
        """A verifying client context (system CAs unless ``ca_file``), with the client certificate."""
        if not self.tls:
            return None
        try:
            context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
            if self.cert_file is not None and self.key_file is not None:
                context.load_cert_chain(str(self.cert_file), str(self.key_file))
        except (OSError, ssl.SSLError) as err:
            raise BrokerError(f"cannot load the TLS files: {err}") from None
        return context


def wire_version(protocol: Protocol) -> Version:
    """The CONNECT protocol level for V5 or V311."""
    return Version.V311 if protocol is Protocol.V311 else Version.V5


def connect_error_code(err: BaseException) -> int | None:
    """The CONNACK code of a refused connection, or None when it is not a refusal."""
    if isinstance(err, ConnectRefusedError):
        return err.code
    return None


def wants_older_protocol(err: BaseException) -> bool:
    return connect_error_code(err) in _UNSUPPORTED_PROTOCOL


def describe_connect_error(
    settings: BrokerSettings, err: BaseException, *, was_connected: bool = False
) -> str:
    """One line an operator understands: refused login, TLS failure, lost or unreachable broker."""
    where = f"{settings.host}:{settings.port}"
    if was_connected:
        return f"lost the connection to broker {where}: {err}"
    code = connect_error_code(err)
    if code in _REFUSED_CREDENTIALS:
        who = f"user {settings.user!r}" if settings.user else "an anonymous client"
        return f"broker {where} refused the login of {who}: {err} (check username and password file)"
    if code is not None:
        return f"broker {where} refused the connection: {err}"
    text = str(err)
    if "CERTIFICATE" in text.upper() or "SSL" in text.upper():
        return f"TLS handshake with {where} failed: {text}"
    return f"cannot connect to broker {where}: {text or type(err).__name__}"
