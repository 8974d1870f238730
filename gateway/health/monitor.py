"""The health monitor: watches each radio source's traffic, declares it silent, heals it, reports.

The daemon calls ``on_frame`` for every frame a source yields (before dedup: it measures the receiver,
not the meters) and ``await tick()`` every ``settings.tick_s``; ``tick`` returns the events to publish
and runs due heal steps. ``health_report()`` is the per-source part of the status message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from gateway.clock import Clock
from gateway.frame import ReceivedFrame
from gateway.health.events import HealthEvent, HealthEventName
from gateway.health.ladder import HealAction, HealLadder, HealOutcome
from gateway.health.settings import HealthSettings
from gateway.health.traffic import Expectation, SourceTraffic
from gateway.radio.usb_reset import UsbResetError, UsbResetFailure, reset_usb_for_tty

log = logging.getLogger(__name__)

DEGRADED_HOLD_WINDOWS = 1 / 3
"""A change between healthy and degraded must be judged this share of ``rate_window_s`` in a row (5 min)."""

UsbResetter = Callable[[str], Awaitable[str]]
"""Resets the USB device behind a port path; returns what it did, raises UsbResetError when it cannot."""


class HealableSource(Protocol):
    """What health needs of a radio source (every ``gateway.radio`` source has it)."""

    @property
    def name(self) -> str: ...

    @property
    def device_path(self) -> str | None: ...

    async def reinitialise(self) -> None: ...

    async def reopen(self) -> None: ...


class SourceState(StrEnum):
    """Health of one source."""

    LEARNING = "learning"  # no meter cadence learned yet: nothing to compare with
    HEALTHY = "healthy"
    DEGRADED = "degraded"  # delivering, but well below its own history (rate or RSSI)
    SILENT = "silent"  # far fewer frames than its meters should deliver; healing
    FAILED = "failed"  # silent, and every heal step was tried without effect: needs a person


@dataclass(slots=True)
class _Watched:
    source: HealableSource
    traffic: SourceTraffic
    ladder: HealLadder
    state: SourceState = SourceState.LEARNING
    state_since: float = 0.0
    reason: str | None = None
    change_judged_since: float | None = None  # when healthy/degraded was first judged otherwise, in a row
    expectation: Expectation | None = None
    detected_at: float | None = None
    frame_before_silence: float | None = None
    verify_s: float = 0.0
    silent_episodes: int = 0
    recoveries: int = 0
    last_detection_s: float | None = None
    last_heal_s: float | None = None
    last_healed_by: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class HealthMonitor:
    """Receiver health of every source; all times come from ``clock`` (a ManualClock in tests)."""

    def __init__(
        self,
        clock: Clock,
        settings: HealthSettings | None = None,
        *,
        usb_resetter: UsbResetter | None = reset_usb_for_tty,
    ) -> None:
        self._clock = clock
        self.settings = settings or HealthSettings()
        self._usb_resetter = usb_resetter
        self._sources: dict[str, _Watched] = {}
        self.unknown_source_frames = 0

    def add_source(self, source: HealableSource) -> None:
        """Watch ``source``; its ladder has a USB reset step only when it sits on a device node."""
        actions = [HealAction.REINITIALISE, HealAction.REOPEN]
        if source.device_path and self._usb_resetter is not None:
            actions.append(HealAction.USB_RESET)
        now = self._clock.now().timestamp()
        self._sources[source.name] = _Watched(
            source,
            SourceTraffic(self.settings, now),
            HealLadder(tuple(actions), self.settings),
            state_since=now,
        )

    def state(self, source_name: str) -> SourceState:
        return self._sources[source_name].state

    def on_frame(self, frame: ReceivedFrame) -> None:
        """Count one received frame; cheap and constant-time (the per-telegram path)."""
        watched = self._sources.get(frame.source)
        if watched is None:
            self.unknown_source_frames += 1
            return
        # The link-layer M and A fields identify the transmitter without parsing the telegram.
        watched.traffic.observe(frame.data[2:10], frame.received_at.timestamp(), frame.rssi_dbm)

    async def tick(self) -> list[HealthEvent]:
        """Re-evaluate every source, run the heal steps now due; return the events to publish."""
        now = self._clock.now().timestamp()
        events: list[HealthEvent] = []
        due: list[tuple[_Watched, HealAction]] = []
        for watched in self._sources.values():
            events.extend(self._evaluate(watched, now))
            action = watched.ladder.due(now)
            if action is not None:
                due.append((watched, action))
        if due:
            for produced in await asyncio.gather(*(self._heal(w, action) for w, action in due)):
                events.extend(produced)
        return events

    async def run(self, publish: Callable[[HealthEvent], None]) -> None:
        """Tick forever on the monitor's clock, handing each event to ``publish``."""
        while True:
            await self._clock.sleep(self.settings.tick_s)
            for event in await self.tick():
                publish(event)

    def _evaluate(self, watched: _Watched, now: float) -> list[HealthEvent]:
        traffic = watched.traffic
        if watched.state in (SourceState.SILENT, SourceState.FAILED):
            if traffic.resumed_at is not None:
                return [self._recovered(watched, now)]
            if watched.ladder.expire(now):
                return [self._gave_up(watched, now)]
            return []
        expectation = traffic.expectation(now)
        watched.expectation = expectation
        last = traffic.last_frame_at
        if last is None or expectation.meters_expected == 0:
            self._set_state(watched, SourceState.LEARNING, None, now)
            return []
        gap_s = now - last
        settings = self.settings
        overdue = expectation.expected_in_gap >= settings.silence_expected_frames
        if gap_s >= settings.min_silence_s and overdue and gap_s >= self._quiet_habit_s(traffic):
            return [self._silent(watched, now, gap_s, expectation)]
        self._hold_or_change(watched, *self._degradation(watched, now, expectation), now=now)
        return []

    def _quiet_habit_s(self, traffic: SourceTraffic) -> float:
        """How long this source has lately been quiet by itself: 10 typical gaps, 1.5 x its longest gap.

        A district that slows down (meters on a night schedule, often in step) stretches both before its
        gaps grow; a stalled dongle stops abruptly, with its recent gaps short.
        """
        typical = traffic.typical_gap_s or 0.0
        return max(
            self.settings.silence_expected_frames * typical,
            self.settings.silence_longest_gap_factor * traffic.longest_recent_gap_s(),
        )

    def _degradation(
        self, watched: _Watched, now: float, expectation: Expectation
    ) -> tuple[SourceState, str | None]:
        settings = self.settings
        traffic = watched.traffic
        frames, covered_s = traffic.rate.count(now)
        predicted = expectation.long_rate_per_s * covered_s
        if (
            now - traffic.started_at >= settings.rate_window_s
            and predicted >= settings.degraded_min_expected
            and frames < settings.degraded_rate_ratio * predicted
        ):
            reason = f"rate: {frames} frames in {covered_s:.0f} s, its history predicts {predicted:.0f}"
            return SourceState.DEGRADED, reason
        delta = traffic.rssi_delta_db
        enough = traffic.rssi_frames >= settings.rssi_min_frames
        if enough and delta is not None and delta < -settings.rssi_drop_db:
            return SourceState.DEGRADED, f"rssi: meters arrive {-delta:.1f} dB below their own average"
        return SourceState.HEALTHY, None

    def _hold_or_change(self, watched: _Watched, state: SourceState, reason: str | None, now: float) -> None:
        """Enter or leave ``degraded`` only once every tick for a while has judged so.

        A window rate near the threshold crosses it back and forth as single frames enter and leave the
        window; without the hold the state, its log lines and the status topic would flap on every tick.
        """
        current = watched.state
        if state is not current and SourceState.DEGRADED in (state, current):
            if watched.change_judged_since is None:
                watched.change_judged_since = now
            if now - watched.change_judged_since < DEGRADED_HOLD_WINDOWS * self.settings.rate_window_s:
                return
        self._set_state(watched, state, reason, now)

    def _set_state(self, watched: _Watched, state: SourceState, reason: str | None, now: float) -> None:
        watched.change_judged_since = None
        if state is not watched.state:
            if state is SourceState.DEGRADED:
                log.warning("source %s degraded: %s", watched.source.name, reason)
            elif watched.state is SourceState.DEGRADED:
                log.info("source %s no longer degraded", watched.source.name)
            watched.state = state
            watched.state_since = now
        watched.reason = reason

    def _silent(self, watched: _Watched, now: float, gap_s: float, expectation: Expectation) -> HealthEvent:
        settings = self.settings
        watched.detected_at = now
        watched.frame_before_silence = watched.traffic.last_frame_at
        watched.silent_episodes += 1
        watched.last_detection_s = gap_s
        rate = expectation.rate_per_s
        verify_s = settings.heal_verify_expected_frames / rate if rate > 0 else settings.heal_verify_max_s
        watched.verify_s = min(settings.heal_verify_max_s, max(settings.heal_verify_min_s, verify_s))
        watched.traffic.forget_gap()
        watched.ladder.start(now)
        reason = (
            f"no frame for {gap_s:.0f} s while its {expectation.meters_expected} meters "
            f"should have delivered {expectation.expected_in_gap:.1f}"
        )
        self._set_state(watched, SourceState.SILENT, reason, now)
        log.warning("source %s silent: %s", watched.source.name, reason)
        return self._event(
            watched,
            HealthEventName.SOURCE_SILENT,
            now,
            last_frame_at=_iso(watched.frame_before_silence),
            silent_for_s=round(gap_s, 1),
            expected_frames=round(expectation.expected_in_gap, 1),
            meters_expected=expectation.meters_expected,
            connected=getattr(getattr(watched.source, "stats", None), "connected", None),
        )

    def _recovered(self, watched: _Watched, now: float) -> HealthEvent:
        resumed = watched.traffic.resumed_at
        detected = watched.detected_at
        assert resumed is not None and detected is not None
        # Cured: frames came back while a heal step was being verified. Back later (a step credited with
        # a late effect, or none taken) the silence may have been the meters' own pause: learn it.
        watched.traffic.end_silence(cured=watched.ladder.verifying)
        healed_by = watched.ladder.recovered()
        attempts = watched.ladder.attempts_this_episode
        watched.recoveries += 1
        watched.last_heal_s = max(0.0, resumed - detected)
        watched.last_healed_by = healed_by.value if healed_by else None
        before = watched.frame_before_silence
        log.warning(
            "source %s recovered after %.0f s of silence (heal: %s, %d steps tried)",
            watched.source.name,
            resumed - (before if before is not None else detected),
            watched.last_healed_by or "none",
            attempts,
        )
        self._set_state(watched, SourceState.HEALTHY, None, now)
        watched.traffic.resumed_at = None
        return self._event(
            watched,
            HealthEventName.SOURCE_RECOVERED,
            now,
            silent_since=_iso(before),
            detected_at=_iso(detected),
            resumed_at=_iso(resumed),
            outage_s=round(resumed - (before if before is not None else detected), 1),
            heal_s=round(watched.last_heal_s, 1),
            healed_by=watched.last_healed_by,
            heal_steps=attempts,
        )

    def _gave_up(self, watched: _Watched, now: float) -> HealthEvent:
        attempts = watched.ladder.attempts_this_episode
        self._set_state(watched, SourceState.FAILED, f"no frames after {attempts} heal steps", now)
        log.error(
            "source %s: giving up after %d heal steps; it stays silent until frames come back by themselves",
            watched.source.name,
            attempts,
        )
        return self._event(
            watched,
            HealthEventName.SOURCE_HEAL_FAILED,
            now,
            silent_since=_iso(watched.frame_before_silence),
            heal_steps=attempts,
            steps=[action.value for action in watched.ladder.actions],
        )

    async def _heal(self, watched: _Watched, action: HealAction) -> list[HealthEvent]:
        ladder = watched.ladder
        name = watched.source.name
        started = self._clock.now().timestamp()
        ladder.begin(action, started)
        log.warning("source %s: heal step %s (attempt %d)", name, action.value, ladder.attempts_this_episode)
        outcome: HealOutcome | None = None
        detail = ""
        try:
            async with asyncio.timeout(self.settings.heal_timeout_s):
                detail = await self._perform(watched.source, action)
        except UsbResetError as err:
            outcome, detail = HealOutcome.UNAVAILABLE, str(err)
        except TimeoutError:
            outcome, detail = HealOutcome.FAILED, f"timed out after {self.settings.heal_timeout_s:.0f} s"
        except Exception as err:  # a heal step must never kill the monitor, whatever the source raises
            outcome, detail = HealOutcome.FAILED, f"{type(err).__name__}: {err}"
        if outcome is not None:
            log.warning("source %s: heal step %s %s: %s", name, action.value, outcome.value, detail)
        elif detail:
            log.info("source %s: heal step %s done: %s", name, action.value, detail)
        if ladder.finished(outcome, self._clock.now().timestamp(), watched.verify_s, detail):
            return [self._gave_up(watched, self._clock.now().timestamp())]
        return []

    async def _perform(self, source: HealableSource, action: HealAction) -> str:
        if action is HealAction.REINITIALISE:
            await source.reinitialise()
            return ""
        if action is HealAction.REOPEN:
            await source.reopen()
            return ""
        if self._usb_resetter is None or not source.device_path:
            raise UsbResetError(UsbResetFailure.NOT_USB, source.device_path or source.name, "no device node")
        return await self._usb_resetter(source.device_path)

    def _event(self, watched: _Watched, name: HealthEventName, now: float, **details: Any) -> HealthEvent:
        episode = watched.detected_at if watched.detected_at is not None else now
        return HealthEvent(name, watched.source.name, _datetime(now), _datetime(episode), details)

    def snapshot(self) -> dict[str, Any]:
        """What was learned of every source's meters (JSON-ready), for the daemon to keep over restarts."""
        return {"version": 1, "sources": {name: w.traffic.to_json() for name, w in self._sources.items()}}

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Take back a ``snapshot`` for the sources added so far; unknown sources and versions are ignored.

        Every meter counts as heard now, so a dongle dead from the start is still found within the usual
        bound, and the downtime is not learned as a gap.
        """
        if snapshot.get("version") != 1:
            return
        now = self._clock.now().timestamp()
        for name, saved in snapshot.get("sources", {}).items():
            watched = self._sources.get(name)
            if watched is not None:
                watched.traffic.restore(saved, now)

    def health_report(self) -> dict[str, Any]:
        """Per-source health for ``wmbus-gateway status`` and the retained status topic (JSON-ready)."""
        now = self._clock.now().timestamp()
        return {
            "sources": {name: self._source_report(watched, now) for name, watched in self._sources.items()},
            "unknown_source_frames": self.unknown_source_frames,
        }

    def _source_report(self, watched: _Watched, now: float) -> dict[str, Any]:
        traffic = watched.traffic
        expectation = watched.expectation or traffic.expectation(now)
        frames, covered_s = traffic.rate.count(now)
        last = traffic.last_frame_at
        stats = getattr(watched.source, "stats", None)
        return {
            "state": watched.state.value,
            "since": _iso(watched.state_since),
            "reason": watched.reason,
            "connected": getattr(stats, "connected", None),
            "last_frame_at": _iso(last),
            "quiet_s": round(now - last, 1) if last is not None else None,
            "frames": traffic.frames,
            "frames_per_min": round(60.0 * frames / covered_s, 2) if covered_s > 0 else 0.0,
            "expected_per_min": round(60.0 * expectation.rate_per_s, 2),
            "history_per_min": round(60.0 * expectation.long_rate_per_s, 2),
            "meters_tracked": expectation.meters_tracked,
            "meters_expected": expectation.meters_expected,
            "rssi_delta_db": round(traffic.rssi_delta_db, 1) if traffic.rssi_delta_db is not None else None,
            "silent_episodes": watched.silent_episodes,
            "recoveries": watched.recoveries,
            "last_detection_s": _round(watched.last_detection_s),
            "last_heal_s": _round(watched.last_heal_s),
            "last_healed_by": watched.last_healed_by,
            "heal": watched.ladder.report(),
            "recent_heals": [
                {
                    "action": attempt.action.value,
                    "at": _iso(attempt.started_at),
                    "outcome": attempt.outcome.value if attempt.outcome else None,
                    "detail": attempt.detail,
                }
                for attempt in watched.ladder.history
            ],
        }


def _datetime(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC)


def _iso(at: float | None) -> str | None:
    return _datetime(at).isoformat() if at is not None else None


def _round(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None
