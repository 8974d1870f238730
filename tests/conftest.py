"""Team-wide fixtures: real mosquitto and VictoriaMetrics on free loopback ports (see tests/servers.py)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.servers import (
    MOSQUITTO_CANDIDATES,
    VICTORIA_METRICS_CANDIDATES,
    Mosquitto,
    TlsFiles,
    VictoriaMetrics,
    make_test_ca,
    require_binary,
)

MosquittoFactory = Callable[..., Mosquitto]

# Without a configured zone the gateway bills in the machine's zone: the suite pins the "machine's" zone
# (and so every subprocess's) to the one its expectations were written in, whatever CI's machine uses.
os.environ["TZ"] = "Europe/Rome"
time.tzset()


@pytest.fixture(autouse=True)
def _root_logger_restored() -> Iterator[None]:
    """A command run in a test (``configure_logging``) must not leave its handler for later tests.

    Otherwise the root logger keeps writing to a stream the test runner has closed ("Logging error:
    I/O operation on closed file" in every later test) at the level that command chose.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[MosquittoFactory]:
    """Start brokers on demand: ``factory(tls=..., users={"name": "password"}, require_client_cert=...)``.

    Every broker started is stopped at teardown; tests may ``.stop()``, ``.start()``, ``.restart()``.
    """
    binary = require_binary("mosquitto", MOSQUITTO_CANDIDATES)
    brokers: list[Mosquitto] = []

    def factory(
        *, tls: TlsFiles | None = None, users: dict[str, str] | None = None, require_client_cert: bool = False
    ) -> Mosquitto:
        broker = Mosquitto(
            binary=binary,
            directory=tmp_path / f"mosquitto-{len(brokers)}",
            tls=tls,
            users=users,
            require_client_cert=require_client_cert,
        )
        brokers.append(broker)
        broker.start()
        return broker

    yield factory
    for broker in brokers:
        broker.stop()


@pytest.fixture
def mosquitto(mosquitto_factory: MosquittoFactory) -> Mosquitto:
    """A plain anonymous broker; ``.host``, ``.port``, ``.url``."""
    return mosquitto_factory()


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A throw-away CA with server (127.0.0.1) and client certificates, made with openssl."""
    return make_test_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def victoria_metrics(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    """A VictoriaMetrics with a private data directory; ``.url``, ``.samples(match)``, ``.flush()``."""
    binary = require_binary("victoria-metrics", VICTORIA_METRICS_CANDIDATES)
    server = VictoriaMetrics(binary=binary, directory=tmp_path / "victoria-metrics")
    server.start()
    yield server
    server.stop()
