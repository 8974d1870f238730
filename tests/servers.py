"""Real test servers on free loopback ports: mosquitto (plain, TLS, password) and VictoriaMetrics.

The fixtures in tests/conftest.py wrap these; tests that need to stop, kill or restart a broker
mid-test call the methods here. A missing binary fails under CI=true and skips otherwise.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

MOSQUITTO_CANDIDATES = ("/usr/sbin/mosquitto", "/usr/bin/mosquitto")
VICTORIA_METRICS_CANDIDATES = ("/usr/bin/victoria-metrics", "/usr/local/bin/victoria-metrics")
START_TIMEOUT_S = 10.0
EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1")  # fast to generate


def require_binary(name: str, candidates: tuple[str, ...]) -> str:
    """The path of a server binary; fail under CI=true when it is missing, skip otherwise."""
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    if found:
        return found
    message = f"{name} is not installed (scripts/bootstrap.sh --test installs it)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(host: str, port: int, timeout_s: float = START_TIMEOUT_S) -> None:
    """Block until something accepts TCP connections on host:port."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout_s} s") from None
            time.sleep(0.02)


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """A test CA, a server certificate for 127.0.0.1/localhost and a client certificate."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_test_ca(directory: Path) -> TlsFiles:
    """Generate a CA and two certificates signed by it with the openssl CLI."""
    if shutil.which("openssl") is None:
        message = "openssl is not installed (scripts/bootstrap.sh --test installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    directory.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req",
        "-x509",
        *EC_KEY,
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=wmbus test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        cwd=directory,
    )
    (directory / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, ext in (("server", ["-extfile", "server.ext"]), ("client", [])):
        _openssl(
            "req",
            *EC_KEY,
            "-nodes",
            "-subj",
            f"/CN=wmbus test {name}",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            cwd=directory,
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            f"{name}.crt",
            *ext,
            cwd=directory,
        )
    return TlsFiles(
        ca_cert=directory / "ca.crt",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        client_cert=directory / "client.crt",
        client_key=directory / "client.key",
    )


@dataclass
class Mosquitto:
    """One mosquitto process with its own config, persistence and log in ``directory``."""

    binary: str
    directory: Path
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    tls: TlsFiles | None = None
    require_client_cert: bool = False
    users: dict[str, str] | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The broker URL the uplink understands (mqtt:// or mqtts://)."""
        scheme = "mqtts" if self.tls else "mqtt"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.directory / "mosquitto.log"

    def _write_config(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        lines = [
            f"listener {self.port} {self.host}",
            "persistence true",
            f"persistence_location {self.directory}/",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "max_queued_messages 0",
            "max_inflight_messages 0",
            "autosave_interval 1",
        ]
        if os.geteuid() == 0:
            # As root mosquitto drops to user "mosquitto", who cannot read pytest's tmp directories.
            lines.append("user root")
        if self.users is None:
            lines.append("allow_anonymous true")
        else:
            passwd = self.directory / "passwd"
            passwd.write_text("")
            passwd.chmod(0o600)
            for user, password in self.users.items():
                subprocess.run(
                    ["mosquitto_passwd", "-b", str(passwd), user, password], check=True, capture_output=True
                )
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        if self.tls is not None:
            lines += [
                f"cafile {self.tls.ca_cert}",
                f"certfile {self.tls.server_cert}",
                f"keyfile {self.tls.server_key}",
                f"require_certificate {'true' if self.require_client_cert else 'false'}",
            ]
        config = self.directory / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n")
        return config

    def start(self) -> None:
        """Start (or restart) the broker on the same port and wait until it listens."""
        if self.process is not None and self.process.poll() is None:
            return
        config = self._write_config()
        self.process = subprocess.Popen(
            [self.binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                log = self.log_path.read_text() if self.log_path.exists() else ""
                raise RuntimeError(f"mosquitto exited at start: {err} {log}")
            try:
                wait_for_port(self.host, self.port, timeout_s=0.1)
                return
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise

    def stop(self) -> None:
        """Stop cleanly (SIGTERM: mosquitto saves its persistence file)."""
        if self.process is None:
            return
        terminate(self.process, timeout_s=5)
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


def terminate(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM (servers save their state on it), then SIGKILL if it has not ended within ``timeout_s``."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class VictoriaMetrics:
    """One victoria-metrics process with a private data directory."""

    binary: str
    directory: Path
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Start and wait for /health to answer OK."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                self.binary,
                f"-httpListenAddr={self.host}:{self.port}",
                f"-storageDataPath={self.directory}",
                # The same (series, timestamp) written twice must count once: that is what the
                # ingester's idempotency relies on (docs/timeseries.md).
                "-dedup.minScrapeInterval=1ms",
                "-retentionPeriod=100y",
                "-search.latencyOffset=0s",
                "-search.disableCache",
                "-loggerLevel=ERROR",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise RuntimeError("victoria-metrics exited at start")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=0.5) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("victoria-metrics did not become healthy")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is None:
            return
        terminate(self.process, timeout_s=10)
        self.process = None

    def flush(self) -> None:
        """Make everything ingested so far searchable."""
        with urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=5):
            pass

    def export(self, match: str = '{__name__=~".+"}') -> list[dict[str, object]]:
        """Every raw sample of the series matching ``match``, one dict per series (after a flush)."""
        self.flush()
        query = urllib.parse.urlencode({"match[]": match})
        with urllib.request.urlopen(f"{self.url}/api/v1/export?{query}", timeout=10) as response:
            body = response.read().decode()
        return [json.loads(line) for line in body.splitlines() if line.strip()]

    def samples(self, match: str) -> list[tuple[dict[str, str], float, int]]:
        """(labels, value, timestamp ms) of every raw sample matching ``match``."""
        out: list[tuple[dict[str, str], float, int]] = []
        for series in self.export(match):
            labels = dict(series["metric"])  # type: ignore[call-overload]
            values = series["values"]
            stamps = series["timestamps"]
            assert isinstance(values, list) and isinstance(stamps, list)
            out += [(labels, float(v), int(t)) for v, t in zip(values, stamps, strict=True)]
        return out

    def wait_for_samples(self, match: str, count: int, timeout_s: float = 15.0) -> int:
        """Poll until at least ``count`` samples match; returns the final count."""
        deadline = time.monotonic() + timeout_s
        seen = 0
        while time.monotonic() < deadline:
            with contextlib.suppress(urllib.error.URLError):
                seen = len(self.samples(match))
                if seen >= count:
                    return seen
            time.sleep(0.1)
        return seen
