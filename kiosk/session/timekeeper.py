"""The policies at work: every second while an agent is signed in and the server answers, warn,
sign out or wait for the call to end, as `policies.decide` says; the agent's touch and *Extend*.

```python
keeper = PolicyKeeper(config, clock, limit=association_limit, record=recorder.record,
                      report=engine.report)  # SignOutAsked, PolicyWaits; None: changed
keeper.start(session)                   # at sign-in: the session's deadlines and idle clock
keeper.check(session, off_hook)         # every POLICY_TICK_S, from the engine's timer
keeper.touch(session); keeper.hook(session)
outcome = yield from keeper.extend(session)   # a flow (a new association for the limit)
keeper.stop()                           # at sign-out: no warning left on the screen
```

The warning and the time to the next automatic sign-out are the keeper's own output (the
snapshot shows them); what is due is decided by `policies.decide`, and what the desk does about
it by the engine's state machine (`machine.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kiosk.config import Config
from kiosk.errors import CallCenterError
from kiosk.session import policies
from kiosk.session.clock import Clock
from kiosk.session.machine import PolicyWaits, SignOutAsked
from kiosk.session.model import Outcome, PolicyWarning, error_code

EXTEND_END_OF_DAY_S = 30 * 60
POLICY_TICK_S = 1.0


@dataclass
class Policies:
    """One session's deadlines and idle clock (owned by the keeper)."""

    deadlines: list[policies.Deadline]
    idle: policies.Idle
    deferred: str | None = None  # the policy whose sign-out waits for the hang-up (logged)


class PolicyKeeper:
    """Decides every second what the session's policies say, and says it."""

    def __init__(self, config: Config, clock: Clock, *, limit: policies.AssociationLimit,
                 record: Callable[..., None], report: Callable[[object], None]):
        self.config = config
        self.clock = clock
        self.limit = limit
        self.record = record
        self.report = report
        self.warning: PolicyWarning | None = None
        self.auto_sign_out_in_s: float | None = None

    def start(self, session) -> None:
        session_config = self.config.session
        now = self.clock.monotonic()
        session.policy = Policies(
            deadlines=policies.deadlines(
                started_mono=now, started_local=self.clock.now(),
                limit_hours=self.limit.hours(), end_of_day=session_config.end_of_day,
                allow_extend=session_config.allow_extend),
            idle=policies.Idle(session_config.idle_sign_out_min, now))

    def stop(self) -> None:
        self._show(None, None)

    def _show(self, warning: PolicyWarning | None, auto: float | None) -> None:
        if (warning, auto) != (self.warning, self.auto_sign_out_in_s):
            self.warning, self.auto_sign_out_in_s = warning, auto
            self.report(None)

    def touch(self, session) -> None:
        """The agent touched the screen."""
        session.policy.idle.activity(self.clock.monotonic())
        if self.warning is not None and self.warning.kind == "idle":
            self._show(None, self.auto_sign_out_in_s)

    def hook(self, session) -> None:
        """The handset went up or down: activity."""
        session.policy.idle.activity(self.clock.monotonic())

    def check(self, session, off_hook: bool) -> None:
        """Every second while signed in: act on what the policies decide."""
        state = session.policy
        decision = policies.decide(
            now=self.clock.monotonic(), deadlines=state.deadlines, idle=state.idle,
            off_hook=off_hook, warn_before_s=self.config.session.warn_before_s,
            hangup_wait_max_s=self.config.session.hangup_wait_max_min * 60)
        deadline = decision.deadline
        if decision.action == "sign_out":
            waited = off_hook and state.deferred is not None
            self.record("policy_sign_out", session.log_id, policy=deadline.kind,
                        still_off_hook=True if waited else None)
            self.report(SignOutAsked(deadline.kind, ask=False))
        elif decision.action == "wait":
            if state.deferred is None:
                state.deferred = deadline.kind
                self.record("policy_deferred", session.log_id, policy=deadline.kind)
                self.report(PolicyWaits(deadline.kind))
            self._show(PolicyWarning(deadline.kind, 0, False, waiting_for_hangup=True), 0)
        elif decision.action == "warn":
            if self.warning is None:
                self.record("warning", session.log_id, policy=deadline.kind,
                            seconds=round(decision.seconds_left))
            self._show(PolicyWarning(deadline.kind, decision.seconds_left, deadline.can_extend),
                       decision.auto_sign_out_in_s)
        elif self.warning is not None or self.auto_sign_out_in_s is None or \
                abs(self.auto_sign_out_in_s - (decision.auto_sign_out_in_s or 0)) >= 1:
            self._show(None, decision.auto_sign_out_in_s)

    def extend(self, session):
        """The agent asked for more time (a flow: returns an Outcome)."""
        state = session.policy
        now = self.clock.monotonic()
        decision = policies.decide(now=now, deadlines=state.deadlines, idle=state.idle,
                                   off_hook=False,
                                   warn_before_s=self.config.session.warn_before_s)
        deadline = decision.deadline
        if decision.action not in ("warn", "sign_out"):
            return Outcome(False, "nothing_to_extend")
        if not deadline.can_extend:
            return Outcome(False, "not_allowed")
        if deadline.kind == "idle":
            state.idle.activity(now)
        elif deadline.kind == "limit":
            hours, host = self.limit.hours(), self.config.desk.host_user_id
            try:  # a new association restarts the server's own limit too
                yield lambda: session.client.associate(host, limit_hours=hours)
            except CallCenterError as exc:
                return Outcome(False, error_code(exc))
            now = self.clock.monotonic()
            state.deadlines = [d for d in state.deadlines if d.kind != "limit"] + [
                policies.Deadline("limit", now + hours * 3600, True)]
        else:
            state.deadlines = [d for d in state.deadlines if d.kind != "end_of_day"] + [
                policies.Deadline("end_of_day", deadline.at + EXTEND_END_OF_DAY_S, True)]
        self.record("extended", session.log_id, policy=deadline.kind)
        state.deferred = None
        self._show(None, self.auto_sign_out_in_s)
        return Outcome(True)
