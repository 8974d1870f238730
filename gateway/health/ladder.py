"""The escalating heal steps of one silent source: which is due, when to escalate, when to give up."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from gateway.health.settings import HealthSettings

_HISTORY = 10


class HealAction(StrEnum):
    """Heal steps, gentlest first."""

    REINITIALISE = "reinitialise"  # set the mode again over the dongle protocol
    REOPEN = "reopen"  # close and reopen the port, or restart the rtl_wmbus pipeline
    USB_RESET = "usb_reset"  # reset the USB device behind the port


class HealOutcome(StrEnum):
    """How one heal step ended."""

    RECOVERED = "recovered"  # frames came back after it
    NO_EFFECT = "no_effect"  # it ran, frames did not come back in the verify window
    FAILED = "failed"  # it raised or timed out
    UNAVAILABLE = "unavailable"  # not possible here (no USB device, no permission)


@dataclass(frozen=True, slots=True)
class HealAttempt:
    """One heal step, for the status report."""

    action: HealAction
    started_at: float
    outcome: HealOutcome | None
    detail: str = ""


class HealLadder:
    """Position on the ladder (reset by recovery) and the tallies of every step ever tried (never reset)."""

    def __init__(self, actions: tuple[HealAction, ...], settings: HealthSettings) -> None:
        if not actions:
            raise ValueError("a heal ladder needs at least one action")
        self.actions = actions
        self._settings = settings
        self.tallies: dict[HealAction, dict[HealOutcome, int]] = {
            action: dict.fromkeys(HealOutcome, 0) for action in actions
        }
        self.history: deque[HealAttempt] = deque(maxlen=_HISTORY)
        self.gave_up = False
        self._step = 0
        self._round = 0
        self._next_at: float | None = None
        self._pending: HealAttempt | None = None
        self._verify_until = 0.0
        self.attempts_this_episode = 0

    @property
    def active(self) -> bool:
        return self._next_at is not None or self._pending is not None

    @property
    def pending(self) -> HealAttempt | None:
        return self._pending

    def start(self, now: float) -> None:
        """The source went silent: the first step is due now."""
        self._step = 0
        self._round = 0
        self._next_at = now
        self._pending = None
        self.gave_up = False
        self.attempts_this_episode = 0

    def due(self, now: float) -> HealAction | None:
        """The step to run now, if any (it becomes pending until ``finished``)."""
        if self._pending is not None or self._next_at is None or self.gave_up or now < self._next_at:
            return None
        return self.actions[self._step]

    def begin(self, action: HealAction, now: float) -> None:
        self._pending = HealAttempt(action, now, None)
        self._next_at = None
        self.attempts_this_episode += 1

    def finished(self, outcome: HealOutcome | None, now: float, verify_s: float, detail: str = "") -> bool:
        """The step ran (outcome None: wait ``verify_s`` for frames). True when the ladder gave up."""
        pending = self._pending
        assert pending is not None
        if outcome is None:
            self._verify_until = now + verify_s
            return False
        return self._close(outcome, now, detail)

    def expire(self, now: float) -> bool:
        """Escalate when the pending step's verify window passed without frames. True when it gave up."""
        pending = self._pending
        if pending is None or now < self._verify_until:
            return False
        return self._close(HealOutcome.NO_EFFECT, now, "")

    @property
    def verifying(self) -> bool:
        """A step was taken and its effect is being waited for (frames now are its doing)."""
        return self._pending is not None

    def recovered(self) -> HealAction | None:
        """Frames are back: credit the pending step (if any) and step off the ladder."""
        pending = self._pending
        healed_by = None
        if pending is not None:
            self._record(HealAttempt(pending.action, pending.started_at, HealOutcome.RECOVERED))
            healed_by = pending.action
        elif self.attempts_this_episode and self.history[-1].outcome is HealOutcome.NO_EFFECT:
            healed_by = self.history[-1].action  # a late effect of the last step
        self._pending = None
        self._next_at = None
        self._step = 0
        self._round = 0
        self._verify_until = 0.0
        self.gave_up = False
        return healed_by

    def _close(self, outcome: HealOutcome, now: float, detail: str) -> bool:
        pending = self._pending
        assert pending is not None
        self._record(HealAttempt(pending.action, pending.started_at, outcome, detail))
        self._pending = None
        self._verify_until = 0.0
        self._step += 1
        if self._step < len(self.actions):
            self._next_at = now
            return False
        self._step = 0
        self._round += 1
        if self._round >= self._settings.heal_rounds:
            self.gave_up = True
            self._next_at = None
            return True
        self._next_at = now + self._settings.heal_backoff_s * 2 ** (self._round - 1)
        return False

    def _record(self, attempt: HealAttempt) -> None:
        assert attempt.outcome is not None
        self.tallies[attempt.action][attempt.outcome] += 1
        self.history.append(attempt)

    def report(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "gave_up": self.gave_up,
            "round": self._round,
            "next_step": self.actions[self._step].value if self.active and not self._pending else None,
            "pending": self._pending.action.value if self._pending else None,
            "attempts": {
                action.value: {outcome.value: n for outcome, n in tally.items()}
                for action, tally in self.tallies.items()
            },
        }
