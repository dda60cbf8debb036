"""The desk session engine: one per kiosk, one worker thread, one agent at a time.

```python
engine = DeskEngine(config, host_client=host, session_log=log, phone_factory=open_phone,
                    panel=panel).start()
engine.observe(lambda snapshot: ...)      # called on the worker thread: re-post to the UI
engine.sign_in("mai", Secret("…"), stay_signed_in=True)
engine.sign_out()
```

Every command -- sign in, sign out, ACD state, extend, and the events of timers, hook, button,
heartbeat and phone -- runs on the worker (`worker.py`), one after the other, so "one agent per
desk" and "no two sign-ins at once" hold by construction. Commands return a `Future` of an
`Outcome`; observers receive a new `Snapshot` after every change, all through `_publish`.

The engine is the only state machine; its collaborators each do one job and report back:

| collaborator | job |
| --- | --- |
| `Worker` (`worker.py`) | the command loop, timers, `offload` of I/O to the pool |
| `PhoneLink` (`phonelink.py`) | the phone: open and retry, status, power cycle, hook, the line |
| `SignInSaga` (`saga.py`) | the sign-in steps with journal and undo; the throttle |
| `ServerCleanup` (`cleanup.py`) | one rule for freeing the server; the outbox |
| `DeskWatch` (`watch.py`) | heartbeat, "still ours", reconnecting; polls while no push |
| `LiveChannel` (`live.py`) | the agent's Xsi-Events channel: opened, retried, closed |
| `policies.decide` (`policies.py`) | warn, sign out or wait, as a pure function |
| `light_for` (`model.py`) | the status light, as a pure function of the snapshot |
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace

from hardware.phone import DeskPhone, PhoneBusy, PhoneError
from kiosk.callcenter import XsiClient, codec
from kiosk.config import Config
from kiosk.errors import NETWORK_ERRORS, CallCenterError, SessionLogError
from kiosk.secret import Secret
from kiosk.session import cleanup as server
from kiosk.session import policies
from kiosk.session.clock import Clock, SystemClock
from kiosk.session.live import LiveChannel
from kiosk.session.model import (
    Connection,
    Outcome,
    PolicyWarning,
    Snapshot,
    State,
    error_code,
    light_for,
)
from kiosk.session.phonelink import PhoneLink
from kiosk.session.saga import SagaFailed, Session, SignInSaga
from kiosk.session.watch import DeskWatch
from kiosk.session.worker import Result, Timer, Worker
from kiosk.sessionlog import SessionLog

log = logging.getLogger(__name__)

EXTEND_END_OF_DAY_S = 30 * 60
ACD_STATES = ("Available", "Unavailable", "Wrap-Up")
POLICY_TICK_S = 1.0


def default_events_factory(config: Config) -> Callable:
    """Event channels for this desk: one fixed channel set and application ID per kiosk."""
    def make(user_id: str, password: Secret, packages: tuple[str, ...]):
        from kiosk.callcenter.events import APPLICATION_ID, EventChannel

        return EventChannel(config.callcenter, user_id, password,
                            channel_set_id=f"hotdesk-{config.desk.id}",
                            application_id=APPLICATION_ID, packages=packages,
                            own_heartbeats=False,  # the desk watch sends them
                            require_all=True)  # a package left out would go unwatched
    return make


class DeskEngine:
    """The engine for one desk. Seams are keyword arguments:

    - `host_client`: an `XsiClient` logged in as the desk's host (frees the desk after a crash);
    - `agent_client_factory(user_id, password)`: a client for an agent (default: from config);
    - `phone_factory()`: opens the desk phone (`DeskPhone`); retried while it fails;
    - `panel`: the GPIO `DeskPanel`, or None;
    - `session_log`: the `SessionLog`;
    - `events_factory(user_id, password, packages)`: an Xsi-Events `EventChannel` (default:
      from config; none when `callcenter.events` is false);
    - `clock`: monotonic and wall time (`FakeClock` in tests).

    The unit's lock (one kiosk per unit) is `kiosk.wiring`'s business, not the engine's.
    """

    def __init__(self, config: Config, *, host_client: XsiClient, session_log: SessionLog,
                 phone_factory: Callable[[], DeskPhone], panel=None,
                 agent_client_factory: Callable[[str, Secret], XsiClient] | None = None,
                 events_factory: Callable | None = None, clock: Clock | None = None):
        self.config = config
        if events_factory is None and config.callcenter.events:
            events_factory = default_events_factory(config)
        self.events_factory = events_factory
        self.host_client = host_client
        self.session_log = session_log
        self.panel = panel
        self.clock = clock or SystemClock()
        self.worker = Worker(self.clock)
        self._snapshot = Snapshot(language=config.signin.default_language,
                                  stay_signed_in_default=config.signin.stay_signed_in_default)
        self._observers: list[Callable[[Snapshot], None]] = []
        self._session: Session | None = None
        self._busy_state: State | None = None  # SIGNING_IN / SIGNING_OUT while they run
        self._host_limit_hours: int | None = None
        self._unavailable_codes: tuple[tuple[str, str], ...] = ()
        self._release_on_hangup = False
        self._policy_timer: Timer | None = None
        self._started = False
        self._closed = False

        self.phone_link = self._phone_link(phone_factory)
        self.cleanup = server.ServerCleanup(
            host_client, session_log, self.worker, self.clock, logged=self._logged,
            desk_taken=lambda: self._session is not None or self._busy_state is not None)
        self.saga = SignInSaga(
            config, phone=self.phone_link, session_log=session_log, host_client=host_client,
            cleanup=self.cleanup, worker=self.worker, clock=self.clock, logged=self._logged,
            agent_client_factory=agent_client_factory or (
                lambda user_id, password: XsiClient.from_config(config.callcenter, user_id,
                                                                password)),
            limit_hours=self._limit_hours, learn_limit=self._learn_limit)
        self.saga.when_progress = lambda steps: self._publish(steps=steps)
        self.saga.when_event = self._record
        self.watch = self._desk_watch()
        self.live = self._live_channel()

    # --- the collaborators and what they report -----------------------------------------------

    def _phone_link(self, phone_factory) -> PhoneLink:
        link = PhoneLink(phone_factory, self.worker, panel=self.panel, clock=self.clock)
        link.when_status_changed = lambda status, reason: self._publish(out_of_order=reason)
        link.when_hook_changed = self._on_hook
        link.when_needs_line = self._reapply_phone
        link.when_event = self._record
        return link

    def _desk_watch(self) -> DeskWatch:
        watch = DeskWatch(self.config, self.worker, self.clock, host_client=self.host_client,
                          phone=self.phone_link, session=lambda: self._session,
                          busy=lambda: self._busy_state is not None)
        watch.when_guest = self._seen
        watch.when_host = self._host_seen
        watch.when_lost = self._connection_lost
        watch.when_rejected = lambda session: self._evicted("credentials_rejected")
        watch.when_reconnected = self._reconnected
        watch.when_reconnect_failed = lambda session, error, retry_in: self._record(
            "reconnect_failed", session.log_id, error=error_code(error), retry_in_s=retry_in)
        watch.when_alive = lambda: self._snapshot.connection == Connection.OK or self._publish(
            connection=Connection.OK)
        watch.when_channel_dead = lambda session, channel: self.live.channel_dead(
            session, channel, "the channel is gone (heartbeat 404)")
        return watch

    def _live_channel(self) -> LiveChannel:
        live = LiveChannel(self.events_factory, self.worker, self.clock,
                           current=lambda: self._session,
                           busy=lambda: self._busy_state is not None)
        live.when_acd = self._acd_seen
        live.when_guest = self._check_still_ours
        live.when_unassigned = lambda session: self._evicted("released")
        live.when_up = self._push_up
        live.when_down = self._push_down
        return live

    # --- life cycle -------------------------------------------------------------------------

    def start(self) -> DeskEngine:
        """Start the worker; it first recovers what a crash left open, then serves commands."""
        if not self._started:
            self._started = True
            self.worker.start()
            self.worker.submit(self._startup)
        return self

    def close(self, timeout: float = 10.0) -> None:
        """Stop the worker and the pool, and close the phone; the panel is its owner's."""
        if self._closed:
            return
        self._closed = True
        self.worker.stop(timeout)
        self.live.close_all()
        self.phone_link.close()

    def __enter__(self) -> DeskEngine:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def phone(self) -> DeskPhone | None:
        return self.phone_link.phone

    @property
    def overlap_steps(self) -> bool:
        return self.saga.overlap_steps

    @overlap_steps.setter
    def overlap_steps(self, value: bool) -> None:
        self.saga.overlap_steps = value

    # --- observing --------------------------------------------------------------------------

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def observe(self, callback: Callable[[Snapshot], None]) -> Callable[[], None]:
        """Call `callback(snapshot)` on every change (on the worker thread); returns a function
        that stops it. The current snapshot is delivered at once."""
        self._observers.append(callback)
        callback(self._snapshot)

        def stop() -> None:
            if callback in self._observers:
                self._observers.remove(callback)

        return stop

    def _publish(self, **changes) -> None:
        """The one way the snapshot changes: apply `changes`, derive the rest, show the light,
        tell the observers."""
        snapshot = replace(self._snapshot, **changes)
        snapshot = replace(snapshot, state=self._derive_state(), agent=self._session.agent()
                           if self._session else None, off_hook=self.phone_link.off_hook,
                           phone=self.phone_link.status,
                           unavailable_codes=self._unavailable_codes)
        self._snapshot = snapshot
        if self.panel is not None:
            light = light_for(snapshot)
            if self.panel.pattern != light:
                self.panel.show(str(light))
        for callback in list(self._observers):
            try:
                callback(snapshot)
            except Exception:
                log.exception("an engine observer failed")

    def _derive_state(self) -> State:
        if self._busy_state is not None:
            return self._busy_state
        if self.phone_link.status.out_of_order:
            return State.OUT_OF_ORDER
        if self._session is not None:
            return State.RECONNECTING if self._session.reconnecting else State.ACTIVE
        return State.IDLE

    # --- commands (any thread) --------------------------------------------------------------

    def submit(self, fn: Callable[[], object]) -> Future:
        """Run `fn` on the worker thread; its result arrives in the returned Future."""
        return self.worker.submit(fn)

    def sign_in(self, typed_user_id: str, password: Secret | str, *, option_domain: str = "",
                language: str | None = None, stay_signed_in: bool | None = None) -> Future:
        secret = password if isinstance(password, Secret) else Secret(password)
        return self.submit(lambda: self._sign_in(typed_user_id, secret, option_domain,
                                                 language, stay_signed_in))

    def sign_out(self, reason: str = "agent", *, confirmed: bool = False) -> Future:
        return self.submit(lambda: self._sign_out_command(reason, confirmed))

    def cancel_sign_out(self) -> Future:
        """The agent declined the off-hook confirmation."""
        return self.submit(lambda: self._publish(confirm=None) or Outcome(True))

    def set_acd_state(self, state: str, unavailable_code: str | None = None) -> Future:
        return self.submit(lambda: self._set_acd_state(state, unavailable_code))

    def extend(self) -> Future:
        return self.submit(self._extend)

    def touch(self) -> None:
        """The agent touched the screen: activity for the idle policy."""
        self.submit(self._touch)

    def dismiss_notice(self) -> Future:
        return self.submit(lambda: self._publish(notice=None, error=None,
                                                 throttle_wait_s=None) or Outcome(True))

    def set_language(self, language: str) -> Future:
        """The language picked at the welcome or sign-in screen (before a session)."""
        def change():
            if language not in self.config.signin.languages:
                return Outcome(False, "unknown_language")
            self._publish(language=language)
            return Outcome(True)
        return self.submit(change)

    def settle(self, timeout: float = 30, *, io: bool = True) -> Outcome:
        """Block until the worker has handled every command queued before and run every timer
        already due, and (with `io`) every request it sent out has come back and been acted
        on: a barrier for tests and benchmarks."""
        self.worker.settle(timeout, io=io)
        return Outcome(True)

    # --- start-up ---------------------------------------------------------------------------

    def _startup(self) -> Outcome:
        if self.panel is not None:  # the hook switch and button report, phone or no phone
            if self.panel.hook is not None:
                self.panel.when_hook_changed = lambda off: self.submit(
                    lambda: self._on_hook(off))
            self.panel.when_sign_out_held = lambda: self.sign_out("button")
        self.phone_link.open()
        self._recover()
        self.cleanup.start()
        self.watch.start()
        self._publish()
        return Outcome(True)

    def _recover(self) -> None:
        """Clean up sessions a crash left open: the host frees the desk, the phone goes back to
        the desk default, what needs the network and cannot reach it goes to the outbox."""
        for row in self._logged(self.session_log.open_sessions) or []:
            log.warning("recovering session %s of %s left open (%s)", row["id"], row["agent"],
                        row["status"])
            owed = self.cleanup.recover(row)
            try:
                self.phone_link.release(force=True)
            except PhoneError as exc:
                log.warning("could not release the phone while recovering: %s", exc)
            self._logged(self.session_log.end_session, row["id"], "recovered",
                         steps=[f"{s}:{p}" for s, p in row["steps"]], owed=owed or None)

    # --- the session log, never in the way ------------------------------------------------

    def _logged(self, fn, *args, **kwargs):
        """Call a session-log method; a failure is surfaced in the snapshot, never raised."""
        try:
            result = fn(*args, **kwargs)
        except SessionLogError as exc:
            if self._snapshot.log_problem != str(exc):
                self._publish(log_problem=str(exc))
            return None
        if self._snapshot.log_problem is not None:
            self._publish(log_problem=None)
        return result

    def _record(self, kind: str, session: int | None = None, **detail) -> None:
        self._logged(self.session_log.record, kind, session, **detail)

    # --- the phone's events -----------------------------------------------------------------

    def _reapply_phone(self) -> None:
        """The phone is back or rebooted: the agent's line again, or the desk default."""
        session = self._session
        self.phone_link.reapply(session.line if session else None,
                                session.language if session else "")
        self._publish()

    def _on_hook(self, off_hook: bool) -> Outcome:
        self.phone_link.off_hook = off_hook
        if not off_hook and self._release_on_hangup and self._session is None:
            self._release_on_hangup = False
            try:
                self.phone_link.release()
            except PhoneError as exc:
                log.warning("could not release the phone after the call: %s", exc)
        session = self._session
        if session is not None:
            session.idle.off_hook = off_hook
            session.idle.activity(self.clock.monotonic())
            if not off_hook and session.pending_policy is not None:
                reason = session.pending_policy.kind
                session.pending_policy = None
                return self._sign_out(reason)
            if not off_hook and self._snapshot.confirm == "off_hook":
                self._publish(confirm=None)
                return Outcome(True)
        self._publish()
        return Outcome(True)

    # --- sign in ----------------------------------------------------------------------------

    def _sign_in(self, typed: str, password: Secret, option_domain: str, language: str | None,
                 stay: bool | None) -> Outcome:
        state = self._derive_state()
        if self._session is not None or state is not State.IDLE:
            password.wipe()
            code = "out_of_order" if state is State.OUT_OF_ORDER else "one_agent_per_desk"
            self._publish(error=code)
            return Outcome(False, code)
        language = language if language in self.config.signin.languages else (
            self._snapshot.language)
        stay = self.config.signin.stay_signed_in_default if stay is None else stay
        self.cleanup.wait_in_flight()  # an owed clean-up on the network lands first
        self._busy_state = State.SIGNING_IN
        self._publish(error=None, notice=None, throttle_wait_s=None, confirm=None,
                      language=language)
        try:
            session = self.saga.run(typed, password, option_domain, language, stay)
        except SagaFailed as failure:
            password.wipe()
            self._busy_state = None
            self._publish(error=failure.code, steps=self.saga.steps,
                          throttle_wait_s=self.saga.throttle_wait_s)
            return Outcome(False, failure.code, str(failure.cause))
        self._busy_state = None
        self._session = session
        self._publish(steps=self.saga.steps, language=language)
        self._fetch_unavailable_codes(session)
        self._policy_timer = self.worker.call_every(POLICY_TICK_S, self._check_policies)
        self.live.open(session)
        return Outcome(True)

    def _limit_hours(self) -> int:
        hours = self.config.session.association_limit_hours
        if self._host_limit_hours is not None:
            hours = min(hours, self._host_limit_hours)
        return hours

    def _learn_limit(self, hours: int) -> None:
        self._host_limit_hours = hours

    # --- sign out ---------------------------------------------------------------------------

    def _sign_out_command(self, reason: str, confirmed: bool) -> Outcome:
        if self._session is None:
            return Outcome(False, "not_signed_in")
        if self.phone_link.off_hook and not confirmed:
            self._publish(confirm="off_hook")
            return Outcome(False, "confirm_needed")
        return self._sign_out(reason, force_phone=confirmed)

    def _sign_out(self, reason: str, *, force_phone: bool = False,
                  server_side: str = "agent", notice: str | None = None) -> Outcome:
        """Undo every step and record the end. `server_side`: `agent` (clean up with the
        agent's credentials), `outbox` (network down: owe it), or `none` (nothing to do
        there)."""
        session = self._session
        if session is None:
            return Outcome(False, "not_signed_in")
        if self._policy_timer is not None:
            self._policy_timer.cancel()
        self.live.close(session)
        self._busy_state = State.SIGNING_OUT
        self._publish(confirm=None, warning=None)
        if session.log_id is not None:
            self._logged(self.session_log.mark_signing_out, session.log_id, reason)
        if server_side == "agent" and session.reconnecting:
            server_side = "outbox"  # the network is down: do not wait for it
        server_job = None
        if server_side == "agent":
            client, agent = session.client, session.role == "agent"
            server_job = self.worker.in_background(
                lambda: server.sign_out_agent(client, queues=agent))
        phone_ok = True
        try:
            self.phone_link.release(force=force_phone)
        except PhoneBusy:  # never drop a call: release when the handset goes down
            self._release_on_hangup = True
        except PhoneError as exc:
            phone_ok = False
            log.warning("could not release the phone at sign-out: %s", exc)
        acd_at_end = session.acd_state
        owed: list[str] = []
        if server_job is not None:
            owed = server_job.result()
            if "queues" not in owed and session.role == "agent":
                acd_at_end = "Sign-Out"
        elif server_side == "outbox":
            owed = ["queues", "associate"] if session.role == "agent" else ["associate"]
        self.cleanup.owe(owed, session.user_id, session.log_id)
        if session.log_id is not None:
            self._logged(self.session_log.end_session, session.log_id, reason,
                         acd_state=acd_at_end, owed=owed or None, phone_released=phone_ok)
        if not owed and server_side == "agent":
            self.worker.in_background(session.client.close)  # j_logout: nobody waits for it
        else:
            session.client.session.close()
        session.password.wipe()
        self._session = None
        self._busy_state = None
        self._unavailable_codes = ()
        if notice is None and reason != "agent":
            notice = f"signed_out_{reason}"
        self._publish(notice=notice, warning=None, auto_sign_out_in_s=None, steps=(), push=False,
                      language=self.config.signin.default_language,
                      connection=Connection.LOST if server_side == "outbox" else Connection.OK)
        return Outcome(True)

    # --- while signed in --------------------------------------------------------------------

    def _touch(self) -> Outcome:
        session = self._session
        if session is not None:
            session.idle.activity(self.clock.monotonic())
            if self._snapshot.warning is not None and self._snapshot.warning.kind == "idle":
                self._publish(warning=None)
        return Outcome(True)

    def _fetch_unavailable_codes(self, session: Session) -> None:
        """The reasons an agent may give for Unavailable, for the ACD buttons (background)."""
        group = session.profile.group_id
        if not group or session.role != "agent":
            return
        client = session.client

        def listed(result: Result) -> None:
            if isinstance(result.error, CallCenterError):
                log.info("no unavailable codes: %s", result.error)
            elif result.error is None and self._session is session:
                self._unavailable_codes = tuple(
                    (c.code, c.description or c.code) for c in result.value
                    if c.code and c.active is not False)
                self._publish()

        self.worker.offload(lambda: client.unavailable_codes(group), listed)

    def _set_acd_state(self, state: str, code: str | None) -> Outcome:
        session = self._session
        if session is None:
            return Outcome(False, "not_signed_in")
        if state not in ACD_STATES:
            return Outcome(False, "rejected", f"unknown ACD state {state}")
        if session.role != "agent":
            return Outcome(False, "not_an_agent", "a supervisor has no ACD state")
        session.idle.activity(self.clock.monotonic())
        code = code if state == "Unavailable" else None
        try:
            session.client.set_acd_state(state, unavailable_code=code)
        except CallCenterError as exc:
            self._publish(error=error_code(exc))
            return Outcome(False, error_code(exc), str(exc))
        session.acd_state = state
        session.unavailable_code = code
        self._record("acd_state", session.log_id, state=state, unavailable_code=code)
        self._publish(error=None)
        return Outcome(True)

    def _check_policies(self) -> None:
        """Every second while signed in: act on what the policies decide."""
        session = self._session
        if session is None or session.reconnecting or self._busy_state is not None:
            return
        decision = policies.decide(
            now=self.clock.monotonic(), deadlines=session.deadlines, idle=session.idle,
            off_hook=self.phone_link.off_hook, warn_before_s=self.config.session.warn_before_s)
        deadline = decision.deadline
        if decision.action == "sign_out":
            self._record("policy_sign_out", session.log_id, policy=deadline.kind)
            self._sign_out(deadline.kind)
        elif decision.action == "wait":
            if session.pending_policy is None:
                session.pending_policy = deadline
                self._record("policy_deferred", session.log_id, policy=deadline.kind)
            self._publish(warning=PolicyWarning(deadline.kind, 0, False,
                                                waiting_for_hangup=True),
                          auto_sign_out_in_s=0)
        elif decision.action == "warn":
            if self._snapshot.warning is None:
                self._record("warning", session.log_id, policy=deadline.kind,
                             seconds=round(decision.seconds_left))
            self._publish(warning=PolicyWarning(deadline.kind, decision.seconds_left,
                                                deadline.can_extend),
                          auto_sign_out_in_s=decision.auto_sign_out_in_s)
        elif self._snapshot.warning is not None or self._snapshot.auto_sign_out_in_s is None or \
                abs(self._snapshot.auto_sign_out_in_s - (decision.auto_sign_out_in_s or 0)) >= 1:
            self._publish(warning=None, auto_sign_out_in_s=decision.auto_sign_out_in_s)

    def _extend(self) -> Outcome:
        session = self._session
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
                                         limit_hours=self._limit_hours())
            except CallCenterError as exc:
                self._publish(error=error_code(exc))
                return Outcome(False, error_code(exc))
            session.deadlines = [d for d in session.deadlines if d.kind != "limit"] + [
                policies.Deadline("limit", now + self._limit_hours() * 3600, True)]
        else:
            session.deadlines = [d for d in session.deadlines if d.kind != "end_of_day"] + [
                policies.Deadline("end_of_day", deadline.at + EXTEND_END_OF_DAY_S, True)]
        self._record("extended", session.log_id, policy=deadline.kind)
        session.pending_policy = None
        self._publish(warning=None)
        self._check_policies()
        return Outcome(True)

    # --- what the desk watch found ----------------------------------------------------------

    def _host_seen(self, host: codec.HotelingHost | None, error: Exception | None) -> None:
        if host is not None:
            self._host_limit_hours = (host.association_limit_hours
                                      if host.enforce_association_limit else None)
        lost = isinstance(error, NETWORK_ERRORS)
        self._publish(connection=Connection.LOST if lost else Connection.OK)

    def _seen(self, session: Session, guest: codec.HotelingGuest,
              call_center: codec.CallCenter | None) -> None:
        """The heartbeat's answer: the agent's seat, and (agents) their ACD state, whoever
        changed it: a supervisor, the wrap-up timer, an ACD key on the phone."""
        if self._check_still_ours(session, guest) and call_center is not None:
            self._acd_seen(session, call_center.agent_acd_state,
                           call_center.agent_unavailable_code)

    def _acd_seen(self, session: Session, state: str | None, code: str | None) -> None:
        if state in (None, "Sign-In"):
            return  # transitional
        if (state, code) != (session.acd_state, session.unavailable_code):
            session.acd_state, session.unavailable_code = state, code
            self._record("acd_state_seen", session.log_id, state=state, unavailable_code=code)
            self._publish()

    def _push_up(self, session: Session) -> None:
        self._record("events_up", session.log_id)
        self._publish(push=True)

    def _push_down(self, session: Session, why) -> None:
        backoff = session.events_backoff
        if self._snapshot.push or backoff.current == backoff.first:  # not every retry
            detail = ({"error": error_code(why)} if isinstance(why, BaseException)
                      else {"reason": why})
            self._record("events_down", session.log_id, **detail)
        if self._snapshot.push:
            self._publish(push=False)
            self.watch.beat()  # look now: a change may have been missed while it died

    def _check_still_ours(self, session: Session, guest: codec.HotelingGuest) -> bool:
        if guest.host_user_id == self.config.desk.host_user_id:
            if self._snapshot.connection != Connection.OK:
                self._publish(connection=Connection.OK)
            return True
        self._evicted("moved" if guest.host_user_id else "released",
                      elsewhere=guest.host_user_id)
        return False

    def _evicted(self, why: str, elsewhere: str | None = None) -> None:
        session = self._session
        self._record("evicted", session.log_id, why=why, elsewhere=elsewhere)
        # Moved to another desk: they work there now, so their queues are left alone.
        # Released by an admin: the association is gone; take them out of their queues.
        if why == "released" and session.role == "agent":
            server.clean(lambda: session.client.set_acd_state("Sign-Out"))
        self._sign_out("evicted", server_side="none", notice=f"evicted_{why}")

    def _connection_lost(self, session: Session, error: Exception) -> None:
        self._record("connection_lost", session.log_id, error=error_code(error),
                     stay_signed_in=session.stay_signed_in)
        if not session.stay_signed_in:
            self._sign_out("connection_lost", server_side="outbox",
                           notice="signed_out_connection_lost")
            return
        session.reconnecting = True
        self.live.close(session)  # a channel over a dead network is dead too
        self.watch.reconnect(session)
        self._publish(connection=Connection.LOST, notice="reconnecting")

    def _reconnected(self, session: Session, guest: codec.HotelingGuest) -> None:
        session.reconnecting = False
        if self._check_still_ours(session, guest):
            self._record("reconnected", session.log_id)
            self._publish(connection=Connection.OK, notice=None, push=False)
            self.live.open(session)

