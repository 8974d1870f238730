"""docs/decoders.md lists every built-in decoder in its supported-families table, rows alphabetical."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.decoders import REGISTRY, decoder_names

DOC = Path(__file__).resolve().parents[2] / "docs" / "decoders.md"


def _family_rows() -> list[str]:
    text = DOC.read_text()
    section = text.split("## Supported families", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| ---")]
    return [re.findall(r"`([\w-]+)`", row.split("|")[1])[0] for row in rows[1:]]  # first row: the header


def test_every_decoder_has_a_family_row() -> None:
    named = set(_family_rows())
    canonical = {REGISTRY.named(name).name for name in decoder_names()} - {"oms"}
    assert canonical - named == set()


def test_rows_are_alphabetical() -> None:
    families = _family_rows()
    assert families == sorted(families)
