"""169 MHz sticks and N-mode link modes in the configuration, and the sources built from them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.clock import ManualClock
from gateway.daemon.config import N_LINK_MODES, ConfigError, SourceConfig, SourceKind, parse_config
from gateway.daemon.sources import build_source, link_modes
from gateway.frame import LinkMode
from gateway.radio.amb3665 import Amb3665Source
from gateway.radio.im170a import Im170aSource
from gateway.radio.simulator import FORMATS_169, FORMATS_868, SimulatorSource


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, origin=Path("/etc/wmbus-gateway/gateway.toml"))
    return info.value


def test_169_mhz_sticks_are_read_with_their_channel() -> None:
    config = parse_config(
        """
[[radio]]
type = "amb3665"
device = "/dev/wmbus-amb3665"
link_mode = "N1c"

[[radio]]
type = "im170a"
name = "tower"
device = "/dev/wmbus-im170a"
link_mode = "N2f"
"""
    )
    assert [(s.kind, s.name, s.link_mode) for s in config.sources] == [
        (SourceKind.AMB3665, "amb3665", "N1c"),
        (SourceKind.IM170A, "tower", "N2f"),
    ]
    assert N_LINK_MODES == (
        "N1a",
        "N1b",
        "N1c",
        "N1d",
        "N1e",
        "N1f",
        "N2a",
        "N2b",
        "N2c",
        "N2d",
        "N2e",
        "N2f",
    )


@pytest.mark.parametrize(
    ("text", "key", "line", "words"),
    [
        ('[[radio]]\ntype = "amb3665"\ndevice = "/dev/x"\n', "radio[0]", 1, "'link_mode'"),
        (
            '[[radio]]\ntype = "im170a"\ndevice = "/dev/x"\nlink_mode = "T1"\n',
            "radio[0].link_mode",
            4,
            "169 MHz",
        ),
        (
            '[[radio]]\ntype = "im871a"\ndevice = "/dev/x"\nlink_mode = "N1a"\n',
            "radio[0].link_mode",
            4,
            "868 MHz",
        ),
        (
            '[[radio]]\ntype = "amb8465"\ndevice = "/dev/x"\nlink_mode = "N2b"\n',
            "radio[0].link_mode",
            4,
            "amb3665",
        ),
        (
            '[[radio]]\ntype = "amb3665"\ndevice = "/dev/x"\nlink_mode = "N1g"\n',
            "radio[0].link_mode",
            4,
            "one of",
        ),
        ('[[radio]]\ntype = "im170a"\nlink_mode = "N1a"\n', "radio[0]", 1, "device"),
    ],
)
def test_a_mode_of_the_wrong_band_names_key_and_line(text: str, key: str, line: int, words: str) -> None:
    err = error_of(text)
    assert (err.key, err.line) == (key, line)
    assert words in err.message


def test_link_mode_text_to_modes() -> None:
    assert link_modes("C1T1") == (LinkMode.C1, LinkMode.T1)
    assert link_modes("N1c") == (LinkMode.N1C,)
    assert link_modes("N2f") == (LinkMode.N2F,)


def test_sources_built_for_169_mhz() -> None:
    clock = ManualClock(datetime(2026, 9, 1, tzinfo=UTC))
    amb = build_source(SourceConfig(SourceKind.AMB3665, "a", "/dev/a", "N1e"), clock)
    im = build_source(SourceConfig(SourceKind.IM170A, "i", "/dev/i", "N2a"), clock)
    assert isinstance(amb, Amb3665Source) and amb.link_modes == (LinkMode.N1E,) and amb.baudrate == 9600
    assert isinstance(im, Im170aSource) and im.link_modes == (LinkMode.N2A,) and im.baudrate == 57600
    n_sim = build_source(SourceConfig(SourceKind.SIMULATOR, "s", link_mode="N1b", meter_count=4), clock)
    sim = build_source(SourceConfig(SourceKind.SIMULATOR, "t", meter_count=4), clock)
    assert isinstance(n_sim, SimulatorSource) and isinstance(sim, SimulatorSource)
    assert {m.format for m in n_sim.fleet.meters} == set(FORMATS_169)
    assert {m.link_mode for m in n_sim.fleet.meters} == {LinkMode.N1B}
    assert {m.format for m in sim.fleet.meters} == set(FORMATS_868)
