"""Load the real telegrams of ../shared/vectors (wmbusmeters driver test blocks, GPL; used as data).

The folder is found through $WMBUS_SHARED_DIR or beside the repository (../shared). Under CI=true a
missing folder fails the run; elsewhere the tests that need it are skipped with the reason (a module
that reads the vectors while it is collected is skipped whole: its tests are built from them).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from gateway.wmbus.errors import WMBusError
from gateway.wmbus.telegram import Telegram, parse_telegram

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """Return the shared folder or fail/skip as the environment demands."""
    path = Path(os.environ.get("WMBUS_SHARED_DIR", REPO.parent / "shared"))
    if not (path / "vectors" / "wmbusmeters-dev.jsonl").is_file():
        message = f"shared vectors not found at {path} (put shared/ beside the repo or set WMBUS_SHARED_DIR)"
        if os.environ.get("CI") == "true":
            raise RuntimeError(message)
        # pytest sets PYTEST_CURRENT_TEST while a test runs; without it we are collecting a module.
        pytest.skip(message, allow_module_level="PYTEST_CURRENT_TEST" not in os.environ)
    return path


@dataclass(frozen=True)
class Vector:
    """One telegram with its key and the reference decoder's expected output."""

    line: int
    telegram: bytes
    key: bytes | None
    meter_id: str
    driver: str
    meter_type: str
    expected: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.line:03d}-{self.driver}-{self.meter_id}"

    @property
    def wired(self) -> bool:
        return self.telegram[:1] == b"\x68"


@cache
def all_vectors() -> tuple[Vector, ...]:
    """Every line of wmbusmeters-dev.jsonl."""
    path = shared_dir() / "vectors" / "wmbusmeters-dev.jsonl"
    vectors = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        row = json.loads(line)
        key = bytes.fromhex(row["key"]) if len(row["key"]) in {32, 16} else None  # AES-128 or DES
        vectors.append(
            Vector(
                line=number,
                telegram=bytes.fromhex(row["telegram"]),
                key=key,
                meter_id=row["expected"].get("id", row["id"]),
                driver=row["driver"],
                meter_type=row["meter_type"],
                expected=row["expected"],
            )
        )
    return tuple(vectors)


def parsed_vectors() -> list[tuple[Vector, Telegram]]:
    """Each vector that parses with its own key (if any), with its Telegram (parsed anew on each call:
    the records' caches are whatever the caller's test left)."""
    found = []
    for vector in all_vectors():
        try:
            found.append((vector, parse_telegram(vector.telegram, vector.key)))
        except WMBusError:
            continue
    return found


def radio_vectors() -> tuple[Vector, ...]:
    """The wireless telegrams (not wired M-Bus long frames)."""
    return tuple(v for v in all_vectors() if not v.wired)


def water_vectors() -> tuple[Vector, ...]:
    """The water meters' telegrams."""
    return tuple(v for v in all_vectors() if v.meter_type == "WaterMeter")


def captures_dir() -> Path:
    """The folder of raw front-end captures."""
    return shared_dir() / "vectors" / "captures"
