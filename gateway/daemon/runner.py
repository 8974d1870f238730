"""The daemon's lifecycle: sources as tasks, the pipeline, the uplink, signals, systemd notify, shutdown.

SIGTERM/SIGINT stop the sources, flush the state and the outbox, and return. SIGHUP reloads meters, keys,
decoder files and configuration while the radio keeps running. With a replay or a simulated radio the
daemon's clock follows the frames' receive times, so month cut-offs fire by recorded (or simulated) time.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import signal
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway import __version__
from gateway.billing.dedup import Deduplicator
from gateway.billing.meters import Fleet, MeterEntry, MetersFileError, Provisioning
from gateway.billing.processor import ReadingProcessor
from gateway.billing.state import ProvisionedMeter, StateStore
from gateway.clock import Clock, ManualClock, SystemClock, implausible_time
from gateway.daemon.config import (
    ConfigError,
    GatewayConfig,
    MqttConfig,
    SourceConfig,
    SourceKind,
    load_config,
)
from gateway.daemon.discovery import sync_discovery
from gateway.daemon.metrics import GatewayMetrics
from gateway.daemon.pipeline import Pipeline, format_publication
from gateway.daemon.sdnotify import SystemdNotifier
from gateway.daemon.sources import build_source
from gateway.decoders import REGISTRY
from gateway.decoders.folder import DecoderFolder
from gateway.frame import ReceivedFrame
from gateway.health import HealthEvent, HealthMonitor, HealthSettings
from gateway.keys import KeyFileError
from gateway.publication import Publication
from gateway.radio.base import RadioSource, down_reasons, source_settled, source_up
from gateway.radio.replay import ReplayPhase, ReplaySource
from gateway.uplink.messages import publication_message, raw_message
from gateway.uplink.metrics_http import MetricsServer, parse_listen
from gateway.uplink.outbox import Outbox, OutboxStats, describe_counts
from gateway.uplink.topics import Topics

if TYPE_CHECKING:
    from gateway.uplink.mqtt import MqttPublisher

log = logging.getLogger(__name__)

TICK_INTERVAL_S = 60.0  # daemon-clock seconds between processor ticks (cut-offs, grace deadlines)
FLUSH_INTERVAL_S = 0.25  # real seconds between commits of queued publications and state
FLUSH_FRAMES = 500  # ... or this many frames (a fast replay's queued publications stay small)
READY_TIMEOUT_S = 15.0  # READY=1 is sent when every source is connected, or after this long
CONNECT_SETTLE_S = 5.0  # on stop, how long a publisher still connecting may take to be cancellable cleanly
DRAIN_TIMEOUT_S = 5.0  # on stop, how long the publisher may keep sending the outbox
REPLAY_BACKLOG = 20_000  # a replay waits while the outbox holds this many (or half its bound)
DELIVERY_LOG_INTERVAL_S = 5.0  # a replay's end: one progress line this often (no terminal)
OUTBOX_RECENT = 2000  # fresh messages the outbox keeps in memory for the publisher (it reads back the rest)
TIME_WARNING_INTERVAL_S = 60.0  # at most one line a minute about frames with implausible times
STATUS_META_KEY = "daemon.status"  # the last status document, for `wmbus-gateway status`
HEALTH_META_KEY = "health.snapshot"  # the health monitor's learned cadences
REPLAY_META_PREFIX = "replay."  # + source name: where a replay stands, committed with the state it made
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Command-line overrides of ``wmbus-gateway run``."""

    mqtt_url: str | None = None
    speed: float | None = None  # simulator: simulated seconds per real second
    replay: Path | None = None  # process this recording as fast as possible, then stop
    duration_s: float | None = None  # stop after this many real seconds
    print_readings: bool | None = None  # default: print when there is no MQTT uplink
    metrics_listen: str | None = None  # serve Prometheus /metrics on HOST:PORT
    ha_discovery: bool | None = None  # publish Home Assistant discovery configs
    from_start: bool = False  # replay the recording from its first line, not from where the state stopped
    wait_for_delivery: bool = True  # at a replay's end, wait until the outbox has drained


@dataclass(frozen=True, slots=True)
class DeliveryProgress:
    """How far the outbox has drained at a replay's end (for a progress bar or log lines)."""

    delivered: int  # messages acknowledged by the broker since the end of the file
    pending: int  # still in the outbox
    elapsed_s: float
    finished: bool = False


def effective_config(config: GatewayConfig, options: RunOptions) -> GatewayConfig:
    """Apply the command-line overrides to the configuration."""
    if options.mqtt_url is not None:
        mqtt = config.mqtt or MqttConfig(url=options.mqtt_url)
        config = dataclasses.replace(config, mqtt=dataclasses.replace(mqtt, url=options.mqtt_url))
    if options.ha_discovery is not None:
        config = dataclasses.replace(config, ha_discovery=options.ha_discovery)
    if options.metrics_listen is not None:
        config = dataclasses.replace(config, metrics_listen=options.metrics_listen)
    if options.replay is not None:
        replay = SourceConfig(kind=SourceKind.REPLAY, name="replay", path=options.replay)
        config = dataclasses.replace(config, sources=(replay,))
    if options.speed is not None:
        sources = tuple(
            dataclasses.replace(s, speed=options.speed) if s.kind is SourceKind.SIMULATOR else s
            for s in config.sources
        )
        config = dataclasses.replace(config, sources=sources)
    return config


def frames_drive_clock(config: GatewayConfig) -> bool:
    """A replay carries its own time: the daemon's clock then follows the recorded receive times."""
    return all(s.kind is SourceKind.REPLAY for s in config.sources)


def daemon_clock(config: GatewayConfig) -> Clock:
    """Recorded time for a replay, accelerated time for a lone fast simulator, else wall time."""
    if frames_drive_clock(config):
        return ManualClock(EPOCH)
    speeds = {s.speed for s in config.sources if s.kind is SourceKind.SIMULATOR}
    if len(config.sources) == 1 and speeds and speeds != {1.0}:
        from gateway.radio.simulator import AcceleratedClock  # noqa: PLC0415 - simulator only

        return AcceleratedClock(datetime.now(UTC), speeds.pop())
    return SystemClock()


def provision_simulated_fleet(provisioning: Provisioning, sources: list[RadioSource]) -> int:
    """First run of the embedded default: provision the simulated meters and their example keys."""
    if "gateway.radio.simulator" not in sys.modules:
        return 0  # no simulator was built (building one imports it)
    from gateway.radio.simulator import SimulatorSource  # noqa: PLC0415 - simulator only

    entries: list[tuple[MeterEntry, bytes | None]] = []
    for source in sources:
        if isinstance(source, SimulatorSource):
            keys = source.fleet.keys()
            for meter in source.fleet.meters:
                name = f"simulated {meter.format} #{meter.index}"
                entries.append((MeterEntry(meter.meter_id, None, name, None), keys.get(meter.meter_id)))
    if entries:
        provisioning.add_many(entries)
    return len(entries)


class Daemon:
    """One running gateway: build with a configuration, then ``await run()``."""

    def __init__(
        self,
        config: GatewayConfig,
        options: RunOptions | None = None,
        *,
        printer: Callable[[str], None] = print,
        notifier: SystemdNotifier | None = None,
        on_publication: Callable[[Publication], None] | None = None,
        sources: list[RadioSource] | None = None,
        clock: Clock | None = None,
        on_delivery: Callable[[DeliveryProgress], None] | None = None,
    ) -> None:
        self.options = options or RunOptions()
        self._on_delivery = on_delivery
        self._ended_by_sources = False  # the replay reached the end of its file (not a stop)
        self.delivery_note: str | None = None  # what the end of a replay delivered, for the summary
        self.config = effective_config(config, self.options)
        self.notifier = notifier or SystemdNotifier()
        self._printer = printer
        self._on_publication = on_publication
        self._given_sources = sources
        self.clock: Clock = clock or daemon_clock(self.config)
        self._stop = asyncio.Event()
        self._pending: list[Publication] = []
        self._pending_raw: list[Any] = []
        self._unstored: list[Any] = []  # messages the outbox could not store yet (a full disk)
        self._time_warned_at = -TIME_WARNING_INTERVAL_S
        self._storage_faults: dict[str, float] = {}  # "outbox"/"state" -> when writing it began to fail
        self._frames_since_flush = 0
        self._flush_due = False  # a flush is scheduled for the event loop's next turn
        self.sources: list[RadioSource] = []
        self._replays: list[ReplaySource] = []
        self._replay_saved: dict[str, str] = {}  # the last position written to the state, per replay
        self.outbox: Outbox | None = None
        self.publisher: MqttPublisher | None = None
        self._publisher_task: asyncio.Task[None] | None = None
        self.topics = Topics(self.config.gateway_id, self.config.mqtt.prefix if self.config.mqtt else "wmbus")
        self.ready = asyncio.Event()
        self.reloads = 0
        self.failed = False
        self.decoder_files = DecoderFolder(REGISTRY)
        self.metrics = GatewayMetrics(self) if self.config.metrics_listen else None
        self._metrics_server: MetricsServer | None = None

    # -- set-up ------------------------------------------------------------------------------------

    def _open_state(self) -> Fleet:
        state_dir = self.config.state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            state_dir.chmod(0o700)
        provisioning = Provisioning(self.config.meters_path, self.config.keys_path)
        self.sources = self._given_sources or [
            build_source(s, self.clock, self.config.tz) for s in self.config.sources
        ]
        if not self.config.meters_path.exists():
            count = provision_simulated_fleet(provisioning, self.sources)
            if count:
                log.info(
                    "provisioned the %d simulated meters and their example keys in %s",
                    count,
                    self.config.state_dir,
                )
        self._load_decoder_files(self.config)
        fleet = provisioning.load()
        self.store = StateStore(self.config.state_db_path)
        self.health: HealthMonitor | None = None
        if not frames_drive_clock(self.config):  # a replay has no receiver to watch
            self.health = HealthMonitor(self.clock, HealthSettings.from_mapping(self.config.health))
            for source in self.sources:
                self.health.add_source(source)
            saved = self.store.get_meta(HEALTH_META_KEY)
            if saved:
                self.health.restore(json.loads(saved))
        self._sync_meters(fleet)
        self._resume_replays()
        self.processor = ReadingProcessor(
            self.store, self.config.billing_settings, self.config.tz, autocommit=False
        )
        self.dedup = Deduplicator(self.config.dedup_window_s)
        return fleet

    def _resume_replays(self) -> None:
        """A replay of the recording the state has seen continues where the state stopped (one line)."""
        self._replays = [s for s in self.sources if isinstance(s, ReplaySource)]
        for source in self._replays:
            source.lookback_s = self.config.dedup_window_s
            saved = self.store.get_meta(REPLAY_META_PREFIX + source.name)
            if saved is None:
                continue
            self._replay_saved[source.name] = saved
            if self.options.from_start:
                log.info("replay %s: from the start (--from-start)", source.path)
                continue
            try:
                how = source.restore(json.loads(saved))
            except ValueError as err:
                how = f"from the start (the saved position is unusable: {err})"
            log.info("replay %s: %s; --from-start replays it all", source.path, how)

    def _save_replay_positions(self) -> None:
        """Into the state's transaction: what the state covers of each replay (never more, never less)."""
        for source in self._replays:
            document = json.dumps(source.checkpoint(), separators=(",", ":"))
            if self._replay_saved.get(source.name) != document:
                self.store.set_meta(REPLAY_META_PREFIX + source.name, document)
                self._replay_saved[source.name] = document

    def _load_decoder_files(self, config: GatewayConfig) -> None:
        """The decoder folder into the registry (a broken file is refused alone), said in one log line."""
        report = self.decoder_files.load(config.decoders_path)
        log.log(report.level(folder_configured=config.decoders_dir is not None), "%s", report.summary())

    def _sync_meters(self, fleet: Fleet) -> None:
        meters = [ProvisionedMeter(e.meter_id, e.name, e.customer, e.decoder) for e in fleet.meters.values()]
        self.store.sync_meters(meters, created=datetime.now(UTC))
        for meter_id in fleet.meters:
            self.store.forget_unknown(meter_id)
        if self._state_may_commit():  # a reload while the outbox cannot store: the next flush commits
            self.store.commit()

    def _sync_discovery(self, fleet: Fleet, config: GatewayConfig | None = None) -> None:
        """Home Assistant configs for the provisioned meters, removals for the others (MQTT uplink only)."""
        config = config or self.config
        if not config.ha_discovery or self.outbox is None:
            if config.ha_discovery:
                log.warning("Home Assistant discovery needs an MQTT uplink ([mqtt] or --mqtt): not published")
            return
        try:
            sync_discovery(self.store, self.outbox, self.topics, fleet.meters, config.ha_prefix)
        except (OSError, sqlite3.Error) as err:
            log.error("Home Assistant discovery not queued (retried at the next reload or start): %s", err)

    def _open_uplink(self) -> None:
        mqtt = self.config.mqtt
        if mqtt is None:
            return
        # the MQTT client and the outbox only for a daemon that has an MQTT uplink
        from gateway.uplink.broker import BrokerSettings  # noqa: PLC0415
        from gateway.uplink.mqtt import MqttPublisher  # noqa: PLC0415

        self.outbox = Outbox(
            self.config.outbox_path, self.config.outbox_max_messages, recent_max=OUTBOX_RECENT
        )
        broker = BrokerSettings(
            url=mqtt.url,
            username=mqtt.username,
            password_file=mqtt.password_file,
            client_id=mqtt.client_id,
            ca_file=mqtt.ca_file,
            cert_file=mqtt.cert_file,
            key_file=mqtt.key_file,
        )
        self.publisher = MqttPublisher(
            self.outbox,
            broker,
            self.topics,
            version=__version__,
            status=self.status_document,
            status_interval_s=self.config.status_interval_s,
            on_ack=self.metrics.observe_ack if self.metrics is not None else None,
        )

    def _queue(self, publication: Publication) -> None:
        self._pending.append(publication)

    def _publish_raw(self, frame: ReceivedFrame, meter_id: str, manufacturer: str) -> None:
        self._pending_raw.append(
            raw_message(self.topics, frame, meter_id=meter_id, manufacturer=manufacturer)
        )

    # -- the run -----------------------------------------------------------------------------------

    async def run(self) -> int:
        """Run until stopped (signal, --duration, end of a replay); flush on the way out; 0 or 1 (failed)."""
        fleet = self._open_state()
        self._open_uplink()
        self._sync_discovery(fleet)
        raw = self._publish_raw if self.config.mqtt is not None and self.config.mqtt.raw else None
        self.pipeline = Pipeline(
            fleet, self.dedup, self.processor, self._queue, unknown_log=self.store, publish_raw=raw
        )
        loop = asyncio.get_running_loop()
        installed = self._install_signals(loop)
        tasks: list[asyncio.Task[Any]] = []
        try:
            await self._start_metrics()
            if self.publisher is not None:
                self._publisher_task = asyncio.create_task(self.publisher.run(), name="mqtt")
            source_tasks = [
                asyncio.create_task(self._consume(s), name=f"source:{s.name}") for s in self.sources
            ]
            tasks += source_tasks
            tasks.append(asyncio.create_task(self._ticker(), name="ticker"))
            tasks.append(asyncio.create_task(self._flusher(), name="flusher"))
            tasks.append(asyncio.create_task(self._watchdog(), name="watchdog"))
            tasks.append(asyncio.create_task(self._announce_ready(), name="ready"))
            if self.health is not None:
                tasks.append(asyncio.create_task(self._watch_health(self.health), name="health"))
            if self.options.duration_s is not None:
                loop.call_later(self.options.duration_s, self._stop.set)
            sources_done = asyncio.create_task(_all_done(source_tasks))
            stop_wait = asyncio.create_task(_event_set(self._stop))
            await asyncio.wait({stop_wait, sources_done}, return_when=asyncio.FIRST_COMPLETED)
            self._ended_by_sources = sources_done.done() and not self._stop.is_set()
            stop_wait.cancel()
            sources_done.cancel()
        finally:
            self.notifier.stopping()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._shutdown()
            if self._metrics_server is not None:
                await self._metrics_server.stop()
            for sig in installed:
                loop.remove_signal_handler(sig)
        return 1 if self.failed else 0

    def stop(self) -> None:
        """Ask the daemon to stop (what SIGTERM and SIGINT do)."""
        self._stop.set()

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> list[int]:
        installed: list[int] = []
        handlers = {signal.SIGTERM: self.stop, signal.SIGINT: self.stop, signal.SIGHUP: self.reload}
        for sig, handler in handlers.items():
            try:
                loop.add_signal_handler(sig, handler)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread (tests)
                continue
            installed.append(sig)
        return installed

    async def _consume(self, source: RadioSource) -> None:
        follow = isinstance(self.clock, ManualClock)
        clock = self.clock
        handle = self.pipeline.handle
        on_frame = self.health.on_frame if self.health is not None else None
        loop = asyncio.get_running_loop()
        # Receive times come from the system clock or a recording: a time before 2000 or ahead of the
        # system clock is refused here, before it can move the daemon's clock or the billing state.
        # The simulator's accelerated clock runs ahead by design: only the fixed bounds apply to it.
        wall = getattr(source, "kind", None) != "simulator"
        max_ahead_s = self.config.max_clock_ahead_s
        replay = source if isinstance(source, ReplaySource) else None
        # A file can wait where a radio cannot: a replay never lets the outbox reach its bound.
        outbox = self.outbox if replay is not None else None
        backlog = max(1, min(REPLAY_BACKLOG, self.config.outbox_max_messages // 2))
        try:
            async for frame in source.frames():
                if replay is not None and replay.phase is ReplayPhase.WARM:
                    self.pipeline.remember(frame)  # handled before the restart: teach the dedup only
                    continue
                if outbox is not None and len(outbox) + len(self._pending) >= backlog:
                    self.flush()
                    await self._wait_for_room(source.name, outbox, backlog)
                reason = implausible_time(frame.received_at, datetime.now(UTC) if wall else None, max_ahead_s)
                if reason is not None:
                    self._refuse_time(source.name, reason)
                    continue
                if follow:
                    assert isinstance(clock, ManualClock)
                    clock.set(frame.received_at)
                if on_frame is not None:
                    on_frame(frame)  # the receiver's health counts every frame, before dedup
                handle(frame)
                self._frames_since_flush += 1
                if self._frames_since_flush >= FLUSH_FRAMES:
                    self.flush()
                    await asyncio.sleep(0)  # let the publisher and the signals in during a fast replay
                elif not self._flush_due:
                    # Live radio: the source waits for the next frame, so this runs at once and the
                    # reading goes out within milliseconds. A burst (a fast replay) is batched instead.
                    self._flush_due = True
                    loop.call_soon(self._flush_when_idle)
        except Exception:
            # sources never raise for bad input; this is a bug: stop with an error so systemd restarts us
            log.exception("radio source %s failed", source.name)
            self.failed = True
            self._stop.set()

    async def _wait_for_room(self, source: str, outbox: Outbox, backlog: int) -> None:
        """Back-pressure: hold the replay until the publisher has sent a quarter of the backlog.

        A broker that was never reached is not waited for (the outbox then keeps what it can, and its
        drop policy says what it drops); one that was reached and went away is.
        """
        resume_at = backlog * 3 // 4
        paused_at = time.monotonic()
        warned = False
        while len(outbox) + len(self._unstored) > resume_at and not self._stop.is_set():
            publisher = self.publisher
            if publisher is not None and not publisher.stats.connects and publisher.stats.last_error:
                return  # never reached (its ERROR is logged): the outbox keeps all it can, as live
            if (
                not warned
                and publisher is not None
                and not publisher.stats.connected
                and (time.monotonic() - paused_at >= 1.0 or publisher.stats.last_error is not None)
            ):
                warned = True
                log.warning(
                    "%s: replay paused, %s messages wait in the outbox and the broker is not taking"
                    " them (%s); it goes on when they are sent (Ctrl-C stops, the outbox keeps them)",
                    source,
                    f"{len(outbox):,}",
                    publisher.stats.last_error or "not connected",
                )
            await asyncio.sleep(0.01)
        if warned:
            log.warning("%s: replay resumed after %.1f s", source, time.monotonic() - paused_at)

    def _refuse_time(self, source: str, reason: str) -> None:
        """Count a frame with an implausible receive time; one WARNING a minute at most."""
        errors = self.pipeline.counters.errors
        errors["implausible_time"] = errors.get("implausible_time", 0) + 1
        now = time.monotonic()
        if now - self._time_warned_at >= TIME_WARNING_INTERVAL_S:
            self._time_warned_at = now
            log.warning(
                "%s: frame refused, implausible receive time: %s (%d so far, counted as"
                " errors.implausible_time; further ones logged at most once a minute)",
                source,
                reason,
                errors["implausible_time"],
            )

    async def _ticker(self) -> None:
        while True:
            await self.clock.sleep(TICK_INTERVAL_S)
            self.tick()

    def tick(self) -> None:
        """Let the processor see the daemon's time (cut-offs, delayed publications)."""
        now = self.clock.now()
        if now > EPOCH:
            for publication in self.processor.tick(now):
                self.pipeline.emit(publication)

    async def _watch_health(self, health: HealthMonitor) -> None:
        def publish(event: HealthEvent) -> None:
            log.warning("radio source %s: %s", event.source, event.name.value)
            self.pipeline.emit(event.to_publication())

        await health.run(publish)

    async def _flusher(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            self.flush()

    def _flush_when_idle(self) -> None:
        self._flush_due = False
        if self._frames_since_flush:
            self.flush()

    def flush(self) -> None:
        """Queue the pending publications (outbox or printer), then make the state durable.

        When the outbox cannot store them (a full disk), they stay in memory and the state stays
        uncommitted: both are tried again at the next flush, so the state is never ahead of its
        publications and nothing is lost while the process lives.
        """
        pending, self._pending = self._pending, []
        raw, self._pending_raw = self._pending_raw, []
        self._frames_since_flush = 0
        for publication in pending:
            if self._on_publication is not None:
                self._on_publication(publication)
            if self.outbox is None and self._printing:
                self._printer(format_publication(publication))
        if self.outbox is not None:
            self._unstored += [publication_message(self.topics, p) for p in pending] + raw
            if self._unstored:
                try:
                    self.outbox.put_many(self._unstored)
                except sqlite3.Error as err:
                    self._storage_failed("outbox", err, len(self._unstored))
                    return
                self._storage_ok("outbox", len(self._unstored))
                self._unstored = []
        # state after the outbox: what the state calls done is queued for sending
        try:
            self._save_replay_positions()
            self.processor.commit()
        except sqlite3.Error as err:
            self._storage_failed("state", err, 0)
            return
        self._storage_ok("state", 0)
        # forget the dedup windows that have closed (their final copy counts are in the counters)
        self.dedup.expire(self.clock.now().timestamp())

    def _storage_failed(self, what: str, err: sqlite3.Error, kept: int) -> None:
        """Count every failed write; log the first of an episode (one line, no traceback)."""
        errors = self.pipeline.counters.errors
        errors[f"{what}_write"] = errors.get(f"{what}_write", 0) + 1
        if what in self._storage_faults:
            return
        self._storage_faults[what] = time.monotonic()
        if what == "outbox":
            log.error(
                "outbox: cannot store %d publications (%s); keeping them in memory and the state"
                " uncommitted, retrying every flush",
                kept,
                err,
            )
        else:
            log.error("state: cannot commit (%s); retrying every flush", err)

    def _storage_ok(self, what: str, stored: int) -> None:
        since = self._storage_faults.pop(what, None)
        if since is not None:
            held = f", {stored} publications held meanwhile" if what == "outbox" else ""
            log.warning("%s: stored again after %.1f s%s", what, time.monotonic() - since, held)

    @property
    def _printing(self) -> bool:
        return (
            self.options.print_readings
            if self.options.print_readings is not None
            else self.config.mqtt is None
        )

    async def _watchdog(self) -> None:
        interval = self.notifier.watchdog_s
        if interval is None:
            return
        while True:
            self.notifier.watchdog()  # from the event loop: a blocked loop stops the pings
            await asyncio.sleep(interval / 3)

    async def _announce_ready(self) -> None:
        # Report as soon as each source is up or has failed once (with its reason), not after a timeout.
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline and not all(source_settled(s) for s in self.sources):
            await asyncio.sleep(0.05)
        up = sum(1 for s in self.sources if source_up(s))
        status = f"{up}/{len(self.sources)} radio sources up, {self.pipeline.meter_count} meters"
        self.notifier.ready(status)
        self.ready.set()
        if up == len(self.sources):
            log.info("ready: %s", status)
        else:
            log.warning("ready: %s; %s", status, "; ".join(down_reasons(self.sources)))
        while True:
            await asyncio.sleep(self.config.status_interval_s)
            self.save_status()
            self.notifier.status(self._status_line())

    async def _shutdown(self) -> None:
        try:
            self.flush()
            self.tick_final()
            self.save_status()
        except Exception:
            log.exception("flushing the state on stop failed")
        if self.publisher is not None and self._publisher_task is not None:
            if self._ended_by_sources and self.options.wait_for_delivery and frames_drive_clock(self.config):
                await self._deliver_outbox(self.publisher)
            # give the publisher a moment to send what is queued (it stays in the outbox otherwise)
            deadline = time.monotonic() + DRAIN_TIMEOUT_S
            while self.outbox is not None and len(self.outbox) and time.monotonic() < deadline:
                if not self.publisher.stats.connected and self.publisher.stats.last_error is not None:
                    break  # the broker is unreachable: the outbox keeps the backlog for the next start
                if self._stop.is_set() and self._ended_by_sources:
                    break  # Ctrl-C while a replay's outbox drained
                await asyncio.sleep(0.05)
            if not self.publisher.connected_event.is_set() and self.publisher.stats.last_error is None:
                # A replay with nothing new ends while the publisher is still connecting: let it finish
                # connecting (a broker that fails sets last_error), so its status goes out and a cancel
                # never lands mid-handshake (with the aiomqtt publisher that hung 2 runs in 3; kept with
                # our own client, which test_replay_resume has not shown to need it).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.publisher.connected_event.wait(), CONNECT_SETTLE_S)
            self._publisher_task.cancel()
            await asyncio.gather(self._publisher_task, return_exceptions=True)
        if self.outbox is not None:
            self.outbox.close()
        if not self._state_may_commit():
            lost = len(self._pending) + len(self._pending_raw) + len(self._unstored)
            log.error(
                "stopping with %d publications not stored in the outbox (%s): the state of their readings"
                " is not committed (a replay resumes before them)",
                lost,
                "the outbox could not store them" if self._unstored else "not flushed",
            )
            self.store.rollback()
        self.store.close()
        self.notifier.close()

    async def _deliver_outbox(self, publisher: MqttPublisher) -> None:
        """A replay's end: wait until the broker has every message, showing progress; Ctrl-C stops."""
        assert self.outbox is not None
        outbox = self.outbox
        began = time.monotonic()
        acked_before = publisher.stats.acked
        by_kind_before = dict(publisher.stats.acked_by_kind)
        logged_at = began
        lost_at: float | None = None
        outcome = "all delivered"
        at_start = len(outbox)
        while True:
            pending = len(outbox)
            now = time.monotonic()
            delivered = publisher.stats.acked - acked_before
            # acknowledged messages leave the outbox's count a moment later (its syncer deletes them)
            shown = max(0, at_start - delivered) if delivered <= at_start else pending
            progress = DeliveryProgress(delivered, shown, now - began)
            if pending == 0:
                break
            if self._stop.is_set():
                outcome = "stopped waiting"
                break
            if not publisher.stats.connected and publisher.stats.last_error is not None:
                if publisher.stats.connects == 0:
                    outcome = "broker unreachable"  # never reached: no point in waiting
                    break
                if lost_at is None:
                    lost_at = now
                    log.warning(
                        "delivering the replay: %s; %s messages wait in the outbox, retrying (Ctrl-C stops;"
                        " the outbox keeps them for the next start)",
                        publisher.stats.last_error,
                        f"{pending:,}",
                    )
            elif lost_at is not None:
                log.warning(
                    "delivering the replay: the broker takes messages again after %.1f s", now - lost_at
                )
                lost_at = None
            if self._on_delivery is not None:
                self._on_delivery(progress)
            elif now - logged_at >= DELIVERY_LOG_INTERVAL_S:
                logged_at = now
                rate = progress.delivered / max(progress.elapsed_s, 1e-6)
                log.info(
                    "delivering the replay: %s messages sent, %s left (%s/s)",
                    f"{progress.delivered:,}",
                    f"{pending:,}",
                    f"{rate:,.0f}",
                )
            await asyncio.sleep(0.1)
        by_kind = {
            kind: count - by_kind_before.get(kind, 0)
            for kind, count in publisher.stats.acked_by_kind.items()
            if count - by_kind_before.get(kind, 0)
        }
        pending = len(outbox)
        if self._on_delivery is not None:
            delivered = publisher.stats.acked - acked_before
            self._on_delivery(DeliveryProgress(delivered, pending, time.monotonic() - began, True))
        totals = {k: v for k, v in publisher.stats.acked_by_kind.items() if v}
        left = (
            "nothing left in the outbox"
            if pending == 0
            else f"{pending:,} left in the outbox for the next start"
        )
        self.delivery_note = (
            f"{outcome}: {sum(totals.values()):,} messages delivered ({describe_counts(totals)}), {left}"
        )
        level = logging.INFO if pending == 0 else logging.WARNING
        log.log(
            level,
            "replay delivered: %s; after the end of the file %s more in %.1f s (%s)",
            self.delivery_note,
            f"{sum(by_kind.values()):,}",
            time.monotonic() - began,
            describe_counts(by_kind),
        )

    def tick_final(self) -> None:
        """On stop: let the processor see the last instant of a replay or a simulation."""
        if isinstance(self.clock, ManualClock):
            self.tick()
            self.flush()

    # -- reload ------------------------------------------------------------------------------------

    def reload(self) -> None:
        """SIGHUP: re-read configuration, meters, keys and decoder files; keep the radio open. A bad file
        changes nothing (a bad decoder file: only itself)."""
        self.notifier.reloading()
        try:
            fresh = self.config
            if self.config.origin is not None:
                fresh = load_config(self.config.origin)
                fresh = dataclasses.replace(fresh, state_dir=self.config.state_dir)
                fresh = effective_config(fresh, self.options)
            fleet = Provisioning(fresh.meters_path, fresh.keys_path).load()
        except (ConfigError, MetersFileError, KeyFileError) as err:
            more = len(err.more) if isinstance(err, ConfigError) else 0
            log.error(
                "reload refused, keeping the running configuration: %s%s",
                err,
                f" (and {more} more problems: wmbus-gateway config check lists them)" if more else "",
            )
            self.notifier.ready("reload refused: see the log")
            return
        self.flush()
        self._load_decoder_files(fresh)
        self.pipeline.set_fleet(fleet)
        self._sync_meters(fleet)
        self._sync_discovery(fleet, fresh)
        if fresh.sources != self.config.sources:
            log.warning("radio settings changed: they take effect at the next restart")
        if fresh.dedup_window_s != self.config.dedup_window_s:
            self.dedup.window_s = fresh.dedup_window_s
        if (fresh.billing, fresh.timezone) != (self.config.billing, self.config.timezone):
            self.processor = ReadingProcessor(self.store, fresh.billing_settings, fresh.tz, autocommit=False)
            self.pipeline.set_processor(self.processor)
        logging.getLogger("gateway").setLevel(fresh.log_level.upper())
        for part in ("mqtt", "health"):
            if getattr(fresh, part) != getattr(self.config, part):
                log.warning("[%s] settings changed: they take effect at the next restart", part)
        self.config = dataclasses.replace(
            fresh, sources=self.config.sources, mqtt=self.config.mqtt, health=self.config.health
        )
        self.reloads += 1
        log.info("reloaded: %d meters, %d keys", len(fleet.meters), len(fleet.keys))
        self.notifier.ready(self._status_line())

    # -- status ------------------------------------------------------------------------------------

    def status_document(self) -> dict[str, Any]:
        """Sources, counters and coverage: the gateway status message (the uplink adds the rest)."""
        counters = self.pipeline.counters.to_json()
        counters["dedup"] = dataclasses.asdict(self.dedup.stats)
        health = self.health.health_report()["sources"] if self.health is not None else {}
        return {
            "sources": {s.name: {**s.stats.to_json(), **health.get(s.name, {})} for s in self.sources},
            "counters": counters,
            "coverage": self.processor.coverage_report(self.clock.now()),
        }

    async def _start_metrics(self) -> None:
        """Serve /metrics when asked; a port that cannot be had is one ERROR line, never a stop."""
        listen = self.config.metrics_listen
        if self.metrics is None or not listen:
            return
        host, port = parse_listen(listen)
        server = MetricsServer(self.metrics.registry, host, port)
        try:
            await server.start()
        except OSError as err:
            reason = err.strerror or err
            log.error("metrics: cannot listen on %s: %s; running without /metrics", listen, reason)
            return
        self._metrics_server = server

    # GatewaySnapshot, for the metrics collector
    def outbox_stats(self) -> OutboxStats | None:
        return self.outbox.stats() if self.outbox is not None else None

    def publisher_stats(self) -> dict[str, Any] | None:
        return self.publisher.stats.to_json() if self.publisher is not None else None

    def last_heard(self) -> tuple[list[str], dict[str, datetime]]:
        return list(self.store.meter_ids()), self.store.last_seen()

    def now(self) -> datetime:
        return self.clock.now()

    def save_status(self) -> None:
        """Keep the last status in the state database, for ``wmbus-gateway status``."""
        document = {
            "at": self.clock.now().isoformat(),
            "gateway": self.config.gateway_id,
            **self.status_document(),
        }
        self.store.set_meta(STATUS_META_KEY, json.dumps(document, separators=(",", ":")))
        if self.health is not None:  # what was learned of the meters' cadence outlives a restart
            self.store.set_meta(HEALTH_META_KEY, json.dumps(self.health.snapshot(), separators=(",", ":")))
        if self._state_may_commit():  # else the flush that stores the publications commits it all
            self.store.commit()

    def _state_may_commit(self) -> bool:
        """The state's transaction holds what the pipeline did since the last flush: it is committed only
        once their publications are in the outbox (never ahead of them, issue 16 item 4)."""
        return not (self._pending or self._pending_raw or self._unstored)

    def summary(self) -> str:
        """One line of what this run did, for the console on exit (with what a replay delivered)."""
        line = self._status_line()
        return f"{line}; {self.delivery_note}" if self.delivery_note else line

    def _status_line(self) -> str:
        c = self.pipeline.counters
        errors = sum(c.errors.values())
        return f"{c.frames} frames, {c.readings} readings, {c.unknown_meter} unknown, {errors} errors"


async def _all_done(tasks: list[asyncio.Task[None]]) -> None:
    await asyncio.gather(*tasks, return_exceptions=True)


async def _event_set(event: asyncio.Event) -> None:
    await event.wait()
