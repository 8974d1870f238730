"""The gateway's configuration: one TOML file, validated at load; errors name the key and its line.

tomllib reports syntax errors with a line but loses the lines of values, so ``toml_lines.KeyLines`` finds
each key's line in the text itself; a semantic error ("mqtt.url must start with mqtt://") then points there.
Every problem of a file is found in one pass: a wrong value is recorded and its default used, so that the
rest of its table, and every other table, is still checked.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.billing.settings import BillingSettings
from gateway.clock import DEFAULT_MAX_AHEAD_S, machine_timezone
from gateway.health.settings import HealthSettings, HealthSettingsError
from gateway.toml_lines import KeyLines, KeyPath, format_key, syntax_error_line
from gateway.uplink.homeassistant import DEFAULT_DISCOVERY_PREFIX
from gateway.uplink.metrics_http import MetricsAddressError, parse_listen

DEFAULT_STATE_DIR = Path("state")
DEFAULT_DECODERS_DIR = Path("/etc/wmbus-gateway/decoders.d")
DEFAULT_PREFIX = "wmbus"


class ConfigError(Exception):
    """A configuration value is missing, malformed or out of range; names the file, line and key."""

    def __init__(self, message: str, *, path: Path | None = None, key: str = "", line: int | None = None):
        self.message = message
        self.more: list[ConfigError] = []  # further problems found in the same file
        # the file as far as it could be read (defaults for the wrong values): what else to check
        self.partial: GatewayConfig | None = None
        self.path = path
        self.key = key
        self.line = line
        where = str(path) if path is not None else "<config>"
        if line is not None:
            where += f":{line}"
        super().__init__(f"{where}: {key + ': ' if key else ''}{message}")


class SourceKind(StrEnum):
    """The kinds of radio source the daemon can run."""

    SIMULATOR = "simulator"
    IM871A = "im871a"
    IU891A = "iu891a"
    AMB8465 = "amb8465"
    AMB3665 = "amb3665"
    IM170A = "im170a"
    CUL = "cul"
    RTL_WMBUS = "rtl_wmbus"
    RTL_433 = "rtl_433"
    REPLAY = "replay"


SERIAL_KINDS = frozenset(
    {
        SourceKind.IM871A,
        SourceKind.IU891A,
        SourceKind.AMB8465,
        SourceKind.AMB3665,
        SourceKind.IM170A,
        SourceKind.CUL,
    }
)
N_MODE_KINDS = frozenset({SourceKind.AMB3665, SourceKind.IM170A})  # 169 MHz sticks; the others are 868 MHz
LINK_MODES_868 = ("T1", "C1", "S1", "C1T1")
N_LINK_MODES = tuple(f"N{kind}{channel}" for kind in "12" for channel in "abcdef")
LINK_MODES = LINK_MODES_868 + N_LINK_MODES


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """One radio source: its kind, a unique name and its kind's settings."""

    kind: SourceKind
    name: str
    device: str | None = None
    link_mode: str = "C1T1"
    command: str | None = None  # rtl_wmbus, rtl_433: the shell pipeline to run
    path: Path | None = None  # replay: the recording
    meter_count: int = 36  # simulator: fleet size (36 = the fleet of the bundled example keys)
    seed: int = 1  # simulator: fleet and radio randomness
    speed: float = 1.0  # simulator: simulated seconds per real second


@dataclass(frozen=True, slots=True)
class MqttConfig:
    """The MQTT uplink; ``password_file`` keeps the secret out of the configuration."""

    url: str
    prefix: str = DEFAULT_PREFIX
    username: str | None = None
    password_file: Path | None = None
    client_id: str | None = None
    ca_file: Path | None = None  # mqtts: the CA that signed the broker (default: the system's)
    cert_file: Path | None = None  # mqtts: client certificate, when the broker wants one
    key_file: Path | None = None  # ... and its private key
    raw: bool = False  # also publish raw telegrams (head-end mode)


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """The whole validated configuration."""

    gateway_id: str = "gateway"
    state_dir: Path = DEFAULT_STATE_DIR
    meters_file: Path | None = None
    keys_file: Path | None = None
    decoders_dir: Path | None = None  # decoder files; None: DEFAULT_DECODERS_DIR, which may be absent
    timezone: str = field(default_factory=machine_timezone)  # the configured zone, else the machine's
    timezone_configured: bool = False
    log_level: str = "info"
    sources: tuple[SourceConfig, ...] = (SourceConfig(kind=SourceKind.SIMULATOR, name="simulator"),)
    mqtt: MqttConfig | None = None
    outbox_max_messages: int = 100_000
    dedup_window_s: float = 120.0
    status_interval_s: float = 60.0
    metrics_listen: str | None = None  # [metrics] listen: serve Prometheus /metrics on HOST:PORT
    max_clock_ahead_s: float = DEFAULT_MAX_AHEAD_S  # receive times further ahead of the clock are refused
    ha_discovery: bool = False  # [homeassistant] discovery: publish MQTT discovery configs
    ha_prefix: str = DEFAULT_DISCOVERY_PREFIX
    billing: Mapping[str, Any] = field(default_factory=dict)  # BillingSettings fields, checked
    health: Mapping[str, Any] = field(default_factory=dict)  # HealthSettings fields, checked
    origin: Path | None = None  # the file this came from, for messages; None = embedded default

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def timezone_label(self) -> str:
        """The billing zone and where it comes from, for start-up lines and ``status``."""
        origin = "configured" if self.timezone_configured else "the machine's"
        return f"{self.timezone} ({origin})"

    @property
    def billing_settings(self) -> BillingSettings:
        return BillingSettings.from_mapping(dict(self.billing))

    @property
    def meters_path(self) -> Path:
        return self.meters_file or self.state_dir / "meters.toml"

    @property
    def keys_path(self) -> Path:
        return self.keys_file or self.state_dir / "keys.toml"

    @property
    def decoders_path(self) -> Path:
        return self.decoders_dir or DEFAULT_DECODERS_DIR

    @property
    def state_db_path(self) -> Path:
        return self.state_dir / "state.db"

    @property
    def outbox_path(self) -> Path:
        return self.state_dir / "outbox.db"


# --------------------------------------------------------------------------------------------------
# Typed access to one table, recording what was read so that unknown keys are reported


class _ReportedError(Exception):
    """A problem already recorded; the table it was found in cannot be read further."""


class _Table:
    def __init__(self, data: Mapping[str, Any], path: KeyPath, loader: _Loader) -> None:
        self.data = data
        self.path = path
        self.loader = loader
        self.used: set[str] = set()

    def error(self, key: str | int | None, message: str) -> ConfigError:
        path = self.path if key is None else (*self.path, key)
        return self.loader.error(path, message)

    def report(self, key: str | int | None, message: str) -> None:
        """Record a problem and go on (the caller uses a default)."""
        self.loader.problems.append(self.error(key, message))

    def _get(self, key: str) -> Any:
        self.used.add(key)
        return self.data.get(key)

    def string(self, key: str, default: str | None = None, *, choices: tuple[str, ...] = ()) -> str | None:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, str) or not value.strip():
            self.report(key, "must be a non-empty string")
            return default
        if choices and value not in choices:
            self.report(key, f"must be one of {', '.join(choices)}; got {value!r}")
            return default
        return value

    def required_string(self, key: str, *, choices: tuple[str, ...] = ()) -> str:
        if self.data.get(key) is None:
            raise self.error(None, f"missing required key {key!r}")
        value = self.string(key, choices=choices)
        if value is None:
            raise _ReportedError
        return value

    def number(self, key: str, default: float, *, minimum: float | None = None) -> float:
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.report(key, f"must be a number, got {type(value).__name__}")
            return default
        if minimum is not None and value < minimum:
            self.report(key, f"must be at least {minimum}, got {value}")
            return default
        return float(value)

    def integer(self, key: str, default: int, *, minimum: int | None = None) -> int:
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.report(key, f"must be an integer, got {type(value).__name__}")
            return default
        if minimum is not None and value < minimum:
            self.report(key, f"must be at least {minimum}, got {value}")
            return default
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.report(key, "must be true or false")
            return default
        return value

    def path_value(self, key: str) -> Path | None:
        value = self.string(key)
        if value is None:
            return None
        path = Path(value).expanduser()
        if not path.is_absolute() and self.loader.origin is not None:
            path = self.loader.origin.parent / path
        return path

    def table(self, key: str) -> _Table:
        value = self._get(key)
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self.report(key, "must be a table")
            value = {}
        return _Table(value, (*self.path, key), self.loader)

    def raw_table(self, key: str) -> dict[str, Any]:
        """A table handed as is to the part that owns it (it validates the contents)."""
        return dict(self.table(key).data)

    def finish(self) -> None:
        for key in self.data:
            if key not in self.used:
                self.report(key, "unknown key")


class _Loader:
    def __init__(self, text: str, origin: Path | None) -> None:
        self.origin = origin
        self.lines = KeyLines(text)
        self.problems: list[ConfigError] = []  # recorded by the tables, in the order found

    def error(self, path: KeyPath, message: str) -> ConfigError:
        return ConfigError(message, path=self.origin, key=format_key(path), line=self.lines.line_of(path))


# --------------------------------------------------------------------------------------------------


def parse_config(text: str, origin: Path | None = None) -> GatewayConfig:
    """Validate a configuration text; raise :class:`ConfigError` naming the key and the line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"TOML syntax: {err}", path=origin, line=syntax_error_line(err)) from None
    loader = _Loader(text, origin)
    root = _Table(data, (), loader)

    # Each section is checked even when an earlier one is wrong: every problem is reported at once.
    problems: list[ConfigError] = []
    config_fields: dict[str, Any] = {}

    def section(name: str, parse: Callable[[], Any]) -> None:
        try:
            value = parse()
        except ConfigError as err:
            problems.append(err)
            return
        except _ReportedError:
            return
        if name:
            config_fields[name] = value
        elif isinstance(value, dict):
            config_fields.update(value)

    section("", lambda: _parse_gateway(root))
    section("sources", lambda: _parse_sources(root, loader))
    section("mqtt", lambda: _parse_mqtt(root))
    section("outbox_max_messages", lambda: _one(root.table("outbox"), "max_messages", 100_000, 100))
    section("dedup_window_s", lambda: _one(root.table("dedup"), "window_s", 120.0, 0.0))
    section("metrics_listen", lambda: _parse_metrics(root))
    section("", lambda: _parse_homeassistant(root))
    section("billing", lambda: _check_billing(root.table("billing")))
    section("health", lambda: _check_health(root.table("health")))
    section("", root.finish)
    problems += loader.problems
    if problems:
        problems.sort(key=lambda problem: problem.line or 0)  # in the order of the file
        first = problems[0]
        first.more = problems[1:]
        try:
            first.partial = GatewayConfig(origin=origin, **config_fields)
        except (TypeError, ValueError):
            first.partial = None
        raise first
    return GatewayConfig(origin=origin, **config_fields)


def _parse_gateway(root: _Table) -> dict[str, Any]:
    gateway = root.table("gateway")
    gateway_id = gateway.string("id", "gateway") or "gateway"
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", gateway_id):
        gateway.report("id", "only letters, digits, '_', '.' and '-' (it is an MQTT topic level)")
        gateway_id = "gateway"
    state_dir = gateway.path_value("state_dir") or DEFAULT_STATE_DIR
    configured_timezone = gateway.string("timezone", "")
    timezone = configured_timezone or machine_timezone()
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        gateway.report("timezone", f"unknown time zone {timezone!r}")
        configured_timezone, timezone = "", machine_timezone()
    fields: dict[str, Any] = {
        "gateway_id": gateway_id,
        "state_dir": state_dir,
        "meters_file": gateway.path_value("meters_file"),
        "keys_file": gateway.path_value("keys_file"),
        "decoders_dir": gateway.path_value("decoders_dir"),
        "timezone": timezone,
        "timezone_configured": bool(configured_timezone),
        "log_level": gateway.string("log_level", "info", choices=("debug", "info", "warning", "error")),
        "status_interval_s": gateway.number("status_interval_s", 60.0, minimum=1.0),
        "max_clock_ahead_s": gateway.number("max_clock_ahead_s", DEFAULT_MAX_AHEAD_S, minimum=0.0),
    }
    gateway.finish()
    return fields


def _one(table: _Table, key: str, default: float, minimum: float) -> float:
    """A table of one number (integer if its default is)."""
    value: float
    if isinstance(default, int):
        value = table.integer(key, default, minimum=int(minimum))
    else:
        value = table.number(key, default, minimum=minimum)
    table.finish()
    return value


def _parse_homeassistant(root: _Table) -> dict[str, Any]:
    homeassistant = root.table("homeassistant")
    discovery = homeassistant.boolean("discovery", False)
    prefix = homeassistant.string("prefix", DEFAULT_DISCOVERY_PREFIX) or DEFAULT_DISCOVERY_PREFIX
    if any(ch in prefix for ch in "#+\x00") or prefix.startswith("/"):
        homeassistant.report("prefix", f"{prefix!r} cannot start an MQTT topic")
        prefix = DEFAULT_DISCOVERY_PREFIX
    homeassistant.finish()
    return {"ha_discovery": discovery, "ha_prefix": prefix}


def _parse_metrics(root: _Table) -> str | None:
    metrics = root.table("metrics")
    listen = metrics.string("listen", "")
    if listen:
        try:
            parse_listen(listen)
        except MetricsAddressError as err:
            metrics.report("listen", str(err))
            listen = ""
    metrics.finish()
    return listen or None


def _parse_sources(root: _Table, loader: _Loader) -> tuple[SourceConfig, ...]:
    items = root._get("radio")
    if items is None:
        return GatewayConfig().sources
    if not isinstance(items, list) or not items:
        raise root.error("radio", "must be one or more [[radio]] tables")
    sources: list[SourceConfig] = []
    names: set[str] = set()
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            root.report("radio", "must be one or more [[radio]] tables")
            continue
        # a radio that cannot be read is left out; the others are still checked
        try:
            source = _parse_source(_Table(item, ("radio", index), loader), names)
        except ConfigError as err:
            loader.problems.append(err)
        except _ReportedError:
            pass
        else:
            sources.append(source)
    return tuple(sources)


def _parse_source(table: _Table, names: set[str]) -> SourceConfig:
    kind = SourceKind(table.required_string("type", choices=tuple(SourceKind)))
    name = table.string("name", kind.value) or kind.value
    if name in names:
        raise table.error("name", f"another radio is already named {name!r}; give each a unique name")
    names.add(name)
    device = table.string("device")
    if kind in SERIAL_KINDS and device is None:
        raise table.error(None, f"missing required key 'device' (e.g. /dev/wmbus-{kind})")
    path = table.path_value("path")
    if kind is SourceKind.REPLAY and path is None:
        raise table.error(None, "missing required key 'path' (the recording to replay)")
    source = SourceConfig(
        kind=kind,
        name=name,
        device=device,
        link_mode=_link_mode(table, kind),
        command=table.string("command"),
        path=path,
        meter_count=table.integer("meters", 36, minimum=1),
        seed=table.integer("seed", 1),
        speed=table.number("speed", 1.0, minimum=0.001),
    )
    table.finish()
    return source


def _link_mode(table: _Table, kind: SourceKind) -> str:
    """The [[radio]] link mode, checked against the band of the stick."""
    mode = table.string("link_mode", choices=LINK_MODES)
    if kind in N_MODE_KINDS:
        if mode is None:
            if "link_mode" not in table.data:
                table.report(
                    None, "missing required key 'link_mode': the N channel your meters send on, N1a ... N1f"
                )
            return N_LINK_MODES[0]
        if mode not in N_LINK_MODES:
            table.report(
                "link_mode", f"an {kind} receives 169 MHz N mode (N1a ... N1f, N2a ... N2f), not {mode}"
            )
            return N_LINK_MODES[0]
    elif kind in SERIAL_KINDS and mode in N_LINK_MODES:
        table.report(
            "link_mode",
            f"{mode} is a 169 MHz N mode; an {kind} receives at 868 MHz: use an amb3665 or im170a",
        )
        return "C1T1"
    return mode or "C1T1"


def _parse_mqtt(root: _Table) -> MqttConfig | None:
    if "mqtt" not in root.data:
        root.used.add("mqtt")
        return None
    mqtt = root.table("mqtt")
    url = mqtt.required_string("url")
    try:
        check_mqtt_url(url, lambda message: mqtt.error("url", message))
    except ConfigError as err:
        mqtt.loader.problems.append(err)
    prefix = mqtt.string("prefix", DEFAULT_PREFIX) or DEFAULT_PREFIX
    if any(ch in prefix for ch in "#+") or prefix.startswith("/") or prefix.endswith("/"):
        mqtt.report("prefix", "must not contain '#' or '+' nor start or end with '/'")
        prefix = DEFAULT_PREFIX
    password_file = mqtt.path_value("password_file")
    if "password" in mqtt.data:
        mqtt.used.add("password")
        mqtt.report("password", "put the password in a file of its own and name it in password_file")
    config = MqttConfig(
        url=url,
        prefix=prefix,
        username=mqtt.string("username"),
        password_file=password_file,
        client_id=mqtt.string("client_id"),
        ca_file=mqtt.path_value("ca_file"),
        cert_file=mqtt.path_value("cert_file"),
        key_file=mqtt.path_value("key_file"),
        raw=mqtt.boolean("raw", False),
    )
    mqtt.finish()
    return config


def check_mqtt_url(url: str, error: Any = None) -> None:
    """Accept ``mqtt://host[:port]`` and ``mqtts://host[:port]``; a password in it is never repeated."""
    match = re.fullmatch(r"mqtts?://[^\s/:@]+(:(\d{1,5}))?/?", url)
    message = ""
    userinfo = url.partition("://")[2].partition("/")[0].rpartition("@")[0]
    if ":" in userinfo:
        message = "must not hold the password: put it in a file named by mqtt.password_file (--password-file)"
    elif match is None:
        message = f"must look like mqtt://host:1883 or mqtts://host:8883, got {url!r}"  # no password in it
    elif match.group(2) is not None and not 1 <= int(match.group(2)) <= 65535:
        message = f"port {match.group(2)} is out of range (1-65535)"
    if message:
        raise error(message) if error is not None else ConfigError(message, key="mqtt.url")


def _check_billing(billing: _Table) -> dict[str, Any]:
    """Check [billing] against BillingSettings' fields and its own range checks, every key."""
    known = {item.name: item for item in dataclasses.fields(BillingSettings)}
    out: dict[str, Any] = {}
    for key, value in billing.data.items():
        billing.used.add(key)
        problem = _billing_value_problem(key, value, known)
        if problem:
            billing.report(key, problem)
            continue
        default = known[key].default
        out[key] = float(value) if isinstance(default, float) else value
    try:
        BillingSettings.from_mapping(out)
    except ValueError as err:
        culprit = next((key for key in out if key in str(err)), None)
        billing.report(culprit, str(err))
        return {}
    return out


def _billing_value_problem(key: str, value: Any, known: Mapping[str, dataclasses.Field[Any]]) -> str:
    if key not in known:
        return f"unknown key (known: {', '.join(sorted(known))})"
    default = known[key].default
    if isinstance(default, bool):
        if not isinstance(value, bool):
            return "must be true or false"
    elif isinstance(default, int) and (isinstance(value, bool) or not isinstance(value, int)):
        return "must be an integer"
    elif isinstance(default, float) and (isinstance(value, bool) or not isinstance(value, int | float)):
        return "must be a number"
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        return f"must not be negative, got {value}"
    return ""


def _check_health(health: _Table) -> dict[str, Any]:
    """Check [health] with the health monitor's own validation, pointing at each wrong key's line."""
    data = dict(health.data)
    health.used.update(data)
    try:
        HealthSettings.from_mapping(data)
    except HealthSettingsError as err:
        # the monitor stops at the first wrong key: ask it about each key alone to name them all
        wrong = []
        for key, value in data.items():
            try:
                HealthSettings.from_mapping({key: value})
            except HealthSettingsError as alone:
                wrong.append(alone)
        for problem in wrong or [err]:
            health.report(problem.key if problem.key in data else None, problem.message)
        return {}
    return data


def load_config(path: Path | None) -> GatewayConfig:
    """Load ``path`` or, when None, the embedded default (simulated radio, ./state)."""
    if path is None:
        return GatewayConfig()
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError("no such configuration file", path=path) from None
    except OSError as err:
        raise ConfigError(f"cannot read: {err.strerror}", path=path) from None
    return parse_config(text, origin=path)


def all_problems(err: ConfigError) -> str:
    """Every problem of a configuration error, one a line."""
    return "\n".join(str(problem) for problem in (err, *err.more))


def iter_keys(config: GatewayConfig) -> Iterator[tuple[str, Any]]:
    """The effective settings as (dotted key, value), for ``config check``; no secrets are held here."""
    yield "gateway.id", config.gateway_id
    yield "gateway.state_dir", str(config.state_dir)
    yield "gateway.meters_file", str(config.meters_path)
    yield "gateway.keys_file", str(config.keys_path)
    yield "gateway.decoders_dir", str(config.decoders_path)
    yield "gateway.timezone", config.timezone
    yield "gateway.log_level", config.log_level
    for source in config.sources:
        detail = source.device or (str(source.path) if source.path else "") or source.command or ""
        yield f"radio.{source.name}", f"{source.kind} {detail}".strip()
    yield "mqtt.url", config.mqtt.url if config.mqtt else "(none: readings are printed)"
    yield "metrics.listen", config.metrics_listen or "(off)"
    yield "homeassistant.discovery", f"on, prefix {config.ha_prefix}" if config.ha_discovery else "off"
    yield "outbox.max_messages", config.outbox_max_messages
    yield "dedup.window_s", config.dedup_window_s
    for key, value in config.billing.items():
        yield f"billing.{key}", value
