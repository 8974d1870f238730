"""The configuration file: defaults, the documented example, and errors that name the key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.daemon.config import (
    ConfigError,
    GatewayConfig,
    SourceKind,
    iter_keys,
    load_config,
    parse_config,
)

REPO = Path(__file__).resolve().parents[2]


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, origin=Path("/etc/wmbus-gateway/gateway.toml"))
    return info.value


def test_no_file_is_the_embedded_default_simulator() -> None:
    config = load_config(None)
    assert config == GatewayConfig()
    assert [source.kind for source in config.sources] == [SourceKind.SIMULATOR]
    assert config.mqtt is None
    assert config.keys_path == Path("state/keys.toml")
    assert config.tz.key == "Europe/Rome"  # the machine's zone: tests/conftest.py pins TZ
    assert not config.timezone_configured


def test_zone_is_the_configured_one_or_the_machines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    assert load_config(None).timezone_label == "America/New_York (the machine's)"
    configured = parse_config('[gateway]\ntimezone = "Europe/Berlin"\n')
    assert configured.timezone_label == "Europe/Berlin (configured)"


def test_documented_example_is_valid() -> None:
    config = load_config(REPO / "config" / "gateway.example.toml")
    assert config.gateway_id
    assert config.mqtt is not None and config.mqtt.url.startswith("mqtt")
    assert len(config.sources) >= 1


def test_values_are_read() -> None:
    config = parse_config(
        """
[gateway]
id = "pumping-station-3"
state_dir = "/var/lib/wmbus-gateway"
timezone = "Europe/Berlin"

[[radio]]
type = "im871a"
name = "roof"
device = "/dev/wmbus-im871a"
link_mode = "T1"

[[radio]]
type = "rtl_wmbus"
command = "rtl_sdr -f 868.95M -s 1.6e6 - | rtl_wmbus"

[mqtt]
url = "mqtts://broker.example.net:8883"
prefix = "utility"

[dedup]
window_s = 30
"""
    )
    assert config.gateway_id == "pumping-station-3"
    assert config.state_dir == Path("/var/lib/wmbus-gateway")
    assert config.timezone == "Europe/Berlin"
    assert next((s.kind, s.name, s.device, s.link_mode) for s in config.sources) == (
        SourceKind.IM871A,
        "roof",
        "/dev/wmbus-im871a",
        "T1",
    )
    assert config.sources[1].name == "rtl_wmbus"
    assert config.mqtt is not None and config.mqtt.prefix == "utility"
    assert config.dedup_window_s == 30.0


@pytest.mark.parametrize(
    ("text", "key", "line", "words"),
    [
        ('[gateway]\nid = "a"\n\n[mqtt]\nurl = "http://x"\n', "mqtt.url", 5, "mqtt://"),
        ('[gateway]\nid = "a"\ncolour = "red"\n', "gateway.colour", 3, "unknown key"),
        ('[gateway]\n# a comment\ntimezone = "Mars/Olympus"\n', "gateway.timezone", 3, "time zone"),
        (
            '[[radio]]\ntype = "simulator"\n\n[[radio]]\ntype = "cul"\nlink_mode = "T9"\ndevice = "/dev/x"\n',
            "radio[1].link_mode",
            6,
            "one of",
        ),
        ('[[radio]]\ntype = "im871a"\nname = "roof"\n', "radio[0]", 1, "device"),
        ('[[radio]]\ntype = "replay"\n', "radio[0]", 1, "path"),
        ('[[radio]]\ntype = "sdr"\n', "radio[0].type", 2, "one of"),
        ('[[radio]]\ntype = "simulator"\nmeters = 0\n', "radio[0].meters", 3, "at least 1"),
        ('[outbox]\nmax_messages = "many"\n', "outbox.max_messages", 2, "integer"),
        ('[mqtt]\nurl = "mqtt://h:1883"\npassword = "secret"\n', "mqtt.password", 3, "password_file"),
        ('[mqtt]\nprefix = "x"\n', "mqtt", 1, "url"),
        ('[gateway]\nid = "has space"\n', "gateway.id", 2, "letters"),
        ("dedup.window_s = -1\n", "dedup.window_s", 1, "at least"),
    ],
)
def test_errors_name_key_and_line(text: str, key: str, line: int, words: str) -> None:
    err = error_of(text)
    assert err.key == key
    assert err.line == line
    assert words in err.message
    assert str(err).startswith(f"/etc/wmbus-gateway/gateway.toml:{line}: {key}: ")


def test_syntax_error_has_a_line() -> None:
    err = error_of('[gateway]\nid = "a"\n\n[mqtt\n')
    assert err.line == 4
    assert "TOML syntax" in str(err)


def test_duplicate_radio_names_are_refused() -> None:
    err = error_of('[[radio]]\ntype = "simulator"\n\n[[radio]]\ntype = "simulator"\n')
    assert err.key in {"radio[1].name", "radio[1]"}
    assert err.line == 4
    assert "unique" in err.message


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text('[gateway]\nstate_dir = "data"\nkeys_file = "secret/keys.toml"\n')
    config = load_config(path)
    assert config.state_dir == tmp_path / "data"
    assert config.keys_path == tmp_path / "secret" / "keys.toml"
    assert config.meters_path == tmp_path / "data" / "meters.toml"


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "nope.toml")


def test_billing_table_is_checked_against_the_settings() -> None:
    config = parse_config(
        "[billing]\ncutoff_day = 5\ninterpolation_span_h = 48\nreading_notifications = false\n"
    )
    settings = config.billing_settings
    assert (settings.cutoff_day, settings.interpolation_span_h, settings.reading_notifications) == (
        5,
        48.0,
        False,
    )
    err = error_of("[billing]\n\ncutoff_day = 31\n")
    assert (err.key, err.line) == ("billing.cutoff_day", 3)
    err = error_of("[billing]\ncutof_day = 3\n")
    assert (err.key, err.line, err.message.split(" (")[0]) == ("billing.cutof_day", 2, "unknown key")
    err = error_of('[billing]\nno_consumption_days = "a week"\n')
    assert (err.key, err.line) == ("billing.no_consumption_days", 2)


def test_health_table_is_checked_with_key_and_line() -> None:
    assert parse_config("[health]\nmin_silence_s = 600\n").health == {"min_silence_s": 600}
    err = error_of("[health]\n# quiet\nmin_silence_s = -5\n")
    assert (err.key, err.line) == ("health.min_silence_s", 3)
    err = error_of("[health]\nno_such_knob = 1\n")
    assert (err.key, err.line) == ("health.no_such_knob", 2)


def test_decoders_dir_defaults_to_etc_and_is_relative_to_the_file() -> None:
    assert GatewayConfig().decoders_path == Path("/etc/wmbus-gateway/decoders.d")
    config = parse_config('[gateway]\ndecoders_dir = "meters.d"\n', origin=Path("/srv/gw/gateway.toml"))
    assert config.decoders_path == Path("/srv/gw/meters.d")
    assert ("gateway.decoders_dir", "/srv/gw/meters.d") in list(iter_keys(config))
