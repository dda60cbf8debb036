"""The policies at work: every second while an agent is signed in, warn, sign out or wait for
the call to end, as `policies.decide` says; the agent's touch and *Extend*.

```python
keeper = PolicyKeeper(config, worker, clock, current=…, busy=…, off_hook=…, snapshot=…,
                      publish=…, record=…, sign_out=…, limit_hours=…)
keeper.start()        # at sign-in: checked every POLICY_TICK_S on the worker
keeper.stop()         # at sign-out
keeper.touch(); keeper.extend()
```
"""

from __future__ import annotations

from collections.abc import Callable

from kiosk.config import Config
from kiosk.errors import CallCenterError
from kiosk.session import policies
from kiosk.session.clock import Clock
from kiosk.session.model import Outcome, PolicyWarning, error_code
from kiosk.session.worker import Timer, Worker

EXTEND_END_OF_DAY_S = 30 * 60
POLICY_TICK_S = 1.0


class PolicyKeeper:
    def __init__(self, config: Config, worker: Worker, clock: Clock, *, current: Callable,
                 busy: Callable[[], bool], off_hook: Callable[[], bool], snapshot: Callable,
                 publish: Callable, record: Callable, sign_out: Callable,
                 limit_hours: Callable[[], int]):
        self.config = config
        self.worker = worker
        self.clock = clock
        self.current = current
        self.busy = busy
        self.off_hook = off_hook
        self.snapshot = snapshot
        self.publish = publish
        self.record = record
        self.sign_out = sign_out
        self.limit_hours = limit_hours
        self._timer: Timer | None = None

    def start(self) -> None:
        self.stop()
        self._timer = self.worker.call_every(POLICY_TICK_S, self.check)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def touch(self) -> Outcome:
        session = self.current()
        if session is not None:
            session.idle.activity(self.clock.monotonic())
            if self.snapshot().warning is not None and self.snapshot().warning.kind == "idle":
                self.publish(warning=None)
        return Outcome(True)

    def check(self) -> None:
        """Every second while signed in: act on what the policies decide."""
        session = self.current()
        if session is None or session.reconnecting or self.busy():
            return
        decision = policies.decide(
            now=self.clock.monotonic(), deadlines=session.deadlines, idle=session.idle,
            off_hook=self.off_hook(), warn_before_s=self.config.session.warn_before_s,
            hangup_wait_max_s=self.config.session.hangup_wait_max_min * 60)
        deadline = decision.deadline
        if decision.action == "sign_out":
            waited = self.off_hook() and session.pending_policy is not None
            self.record("policy_sign_out", session.log_id, policy=deadline.kind,
                        still_off_hook=True if waited else None)
            self.sign_out(deadline.kind)
        elif decision.action == "wait":
            if session.pending_policy is None:
                session.pending_policy = deadline
                self.record("policy_deferred", session.log_id, policy=deadline.kind)
            self.publish(warning=PolicyWarning(deadline.kind, 0, False,
                                                waiting_for_hangup=True),
                          auto_sign_out_in_s=0)
        elif decision.action == "warn":
            if self.snapshot().warning is None:
                self.record("warning", session.log_id, policy=deadline.kind,
                             seconds=round(decision.seconds_left))
            self.publish(warning=PolicyWarning(deadline.kind, decision.seconds_left,
                                                deadline.can_extend),
                          auto_sign_out_in_s=decision.auto_sign_out_in_s)
        elif self.snapshot().warning is not None or self.snapshot().auto_sign_out_in_s is None or \
                abs(self.snapshot().auto_sign_out_in_s - (decision.auto_sign_out_in_s or 0)) >= 1:
            self.publish(warning=None, auto_sign_out_in_s=decision.auto_sign_out_in_s)

    def extend(self) -> Outcome:
        session = self.current()
        if session is None:
            return Outcome(False, "not_signed_in")
        now = self.clock.monotonic()
        decision = policies.decide(
            now=now, deadlines=session.deadlines, idle=session.idle, off_hook=False,
            warn_before_s=self.config.session.warn_before_s)
        deadline = decision.deadline
        if decision.action not in ("warn", "sign_out"):
            return Outcome(False, "nothing_to_extend")
        if not deadline.can_extend:
            return Outcome(False, "not_allowed")
        if deadline.kind == "idle":
            session.idle.activity(now)
        elif deadline.kind == "limit":
            try:  # a new association restarts the server's own limit too
                session.client.associate(self.config.desk.host_user_id,
                                         limit_hours=self.limit_hours())
            except CallCenterError as exc:
                self.publish(error=error_code(exc))
                return Outcome(False, error_code(exc))
            session.deadlines = [d for d in session.deadlines if d.kind != "limit"] + [
                policies.Deadline("limit", now + self.limit_hours() * 3600, True)]
        else:
            session.deadlines = [d for d in session.deadlines if d.kind != "end_of_day"] + [
                policies.Deadline("end_of_day", deadline.at + EXTEND_END_OF_DAY_S, True)]
        self.record("extended", session.log_id, policy=deadline.kind)
        session.pending_policy = None
        self.publish(warning=None)
        self.check()
        return Outcome(True)
