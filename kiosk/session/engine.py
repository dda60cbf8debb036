"""The desk session engine: one per kiosk, one loop, one agent at a time.

```python
engine = DeskEngine(config, host_client=host, session_log=log, phone_factory=open_phone,
                    panel=panel).start()
engine.observe(lambda snapshot: ...)      # called on the loop's thread: re-post to the UI
engine.sign_in("mai", Secret("…"), stay_signed_in=True)
engine.sign_out()
```

Everything happens on one loop (`Worker`): commands, timers, the phone's and the panel's
events, and the answers of requests, which run on an I/O pool and never on the loop. Every
event that can change what the desk *is* goes through one pure function,
`machine.transition(desk, event) → (desk, effects)`; the engine keeps the `Desk` it returns and
carries out the effects. The snapshot the screens see is derived from the desk and the rooms'
own outputs after every event, and never read back.

The engine composes rooms, each with one job:

| room | job |
| --- | --- |
| `Worker` (`worker.py`) | the loop: commands, timers, flows, I/O on the pool |
| `Scope`, `Session` (`scope.py`) | what one session has running; ended in one call |
| `PhoneLink` (`phonelink.py`) | the phone: open and retry, status, power cycle, its line |
| `SignInSaga` (`saga.py`) | the sign-in in two round trips, with journal and undo |
| `ServerCleanup` (`cleanup.py`) | one rule for freeing the server; the outbox; late releases |
| `ServerSync` (`sync.py`) | the one home of the server's view: events, reads, own writes |
| `DeskWatch` (`watch.py`) | heartbeat, "still ours", reconnecting |
| `LiveChannel` (`live.py`) | the agent's Xsi-Events channel |
| `PolicyKeeper` (`timekeeper.py`) | limit, end of day and idle: warn, sign out, extend |
| `BadgeDesk` (`badging.py`) | badge taps: the tap limit, the lookup, the log |
| `Display` (`display.py`) | the snapshot and the light, derived after every event |
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future

from hardware.phone import DeskPhone, PhoneBusy, PhoneError
from kiosk.callcenter import XsiClient
from kiosk.callcenter.codec import same_user
from kiosk.config import Config
from kiosk.secret import Secret
from kiosk.session import machine as m
from kiosk.session.badging import BadgeDesk, next_tap
from kiosk.session.cleanup import ServerCleanup
from kiosk.session.clock import Clock, SystemClock
from kiosk.session.display import Display
from kiosk.session.live import LiveChannel, default_events_factory
from kiosk.session.model import BadgeTap, Outcome, Snapshot
from kiosk.session.phonelink import PhoneLink
from kiosk.session.policies import AssociationLimit
from kiosk.session.recorder import Recorder
from kiosk.session.saga import SagaFailed, SignInSaga
from kiosk.session.scope import Scope, Session
from kiosk.session.sync import ServerSync
from kiosk.session.timekeeper import POLICY_TICK_S, PolicyKeeper
from kiosk.session.watch import DeskWatch
from kiosk.session.worker import Worker
from kiosk.sessionlog import SessionLog, utc_iso

log = logging.getLogger(__name__)

ACD_STATES = ("Available", "Unavailable", "Wrap-Up")


class DeskEngine:
    """The engine for one desk. Seams are keyword arguments:

    - `host_client`: an `XsiClient` logged in as the desk's host (frees the desk after a crash);
    - `agent_client_factory(user_id, password)`: a client for an agent (default: from config);
    - `phone_factory()`: opens the desk phone (`DeskPhone`); retried while it fails; None for a
      desk without an HD-AT/1 phone (any BroadWorks phone: nothing is provisioned);
    - `panel`: the GPIO `DeskPanel`, or None;
    - `session_log`: the `SessionLog`;
    - `events_factory(user_id, password, packages)`: an Xsi-Events `EventChannel` (default:
      from config; none when `callcenter.events` is false);
    - `clock`: monotonic and wall time (`FakeClock` in tests).

    The unit's lock (one kiosk per unit) is `kiosk.wiring`'s business, not the engine's.
    """

    def __init__(self, config: Config, *, host_client: XsiClient, session_log: SessionLog,
                 phone_factory: Callable[[], DeskPhone] | None, panel=None,
                 agent_client_factory: Callable[[str, Secret], XsiClient] | None = None,
                 events_factory: Callable | None = None, clock: Clock | None = None):
        self.config = config
        self.session_log = session_log
        self.panel = panel
        self.clock = clock = clock or SystemClock()
        self.worker = worker = Worker(clock)
        self.desk = m.Desk()
        self.session: Session | None = None
        self._idle: Scope | None = None  # what the free desk has running (its heartbeat)
        self._started = self._closed = False
        self._ending: Future | None = None  # the flow that frees the desk at a sign-out
        self._ready: Future | None = None  # start-up's flow: recovery frees the desk first
        if events_factory is None and config.callcenter.events:
            events_factory = default_events_factory(config)

        self.recorder = recorder = Recorder(session_log, lambda: self.display.changed())
        record, report = recorder.record, self.report
        limit = AssociationLimit(config.session.association_limit_hours)
        self.phone_link = PhoneLink(phone_factory, worker, panel=panel, clock=clock,
                                    record=record, report=report)
        self.cleanup = ServerCleanup(host_client, recorder, worker, clock)
        self.saga = SignInSaga(
            config, phone=self.phone_link, recorder=recorder, host_client=host_client,
            cleanup=self.cleanup, limit=limit, clock=clock,
            agent_client_factory=agent_client_factory or (
                lambda user_id, password: XsiClient.from_config(config.callcenter, user_id,
                                                                password)))
        self.saga.when_progress = lambda steps: self._publish()
        self.sync = ServerSync(config, clock, cleanup=self.cleanup, limit=limit, record=record,
                               report=report)
        self.watch = DeskWatch(config, worker, clock, host_client=host_client,
                               phone=self.phone_link, cleanup=self.cleanup, sync=self.sync,
                               limit=limit, record=record, report=report)
        self.live = LiveChannel(events_factory, clock, sync=self.sync, watch=self.watch,
                                record=record, report=report, journal=session_log)
        self.watch.live = self.live
        self.policy = PolicyKeeper(config, clock, limit=limit, record=record, report=report)
        self.badges = BadgeDesk(worker, clock, record=record, found=self._badge_found,
                                show=lambda tap: self._publish(badge=tap))
        self.display = Display(self, panel)
        self._publish = self.display.publish

    # --- life cycle -------------------------------------------------------------------------

    def start(self) -> DeskEngine:
        """Start the loop; it first recovers what a crash left open, then serves commands."""
        if not self._started:
            self._started = True
            self.worker.start()
            self._ready = self.worker.submit(self._startup)
        return self

    def close(self, timeout: float = 10.0) -> None:
        """Stop the loop and the pool, and close the phone; the panel is its owner's."""
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

    def _startup(self):
        if self.panel is not None:  # the hook switch and button report, phone or no phone
            if self.panel.hook is not None:
                self.panel.when_hook_changed = lambda off: self.submit(
                    lambda: self.report(m.Hook(off)))
            self.panel.when_sign_out_held = lambda: self.sign_out("button")
        yield from self.phone_link.start()
        yield from self.cleanup.recover_open_sessions(self.phone_link)
        self.cleanup.start()
        self.watch.start()
        self._enter_idle()
        self._publish()
        return Outcome(True)

    # --- the state machine ------------------------------------------------------------------

    def report(self, event) -> tuple:
        """Feed an event to the machine (on the loop) and carry out its effects; None only
        says that a room's output changed. Returns the effects."""
        effects: tuple = ()
        if event is not None:
            self.desk, effects = m.transition(self.desk, event)
            self.cleanup.desk_taken = self.desk.phase is not m.Phase.IDLE
            for effect in effects:
                self._carry_out(effect)
        self._publish()
        return effects

    def _carry_out(self, effect) -> None:
        session = self.session
        match effect:
            case m.EndSession():
                self._ending = self.worker.run(self._end(effect))
            case m.StartSession() | m.BeginSignIn():
                self._leave_idle()
            case m.Activity():
                self.policy.hook(session)
            case m.ReleasePhone():
                self.worker.offload(self.phone_link.release(), lambda result: None if
                                    result.error is None else log.warning(
                                        "could not release the phone after the call: %s",
                                        result.error))
            case m.GoOffline():
                session.online.close()
                self.watch.follow(None)
                self.watch.reconnect(session)
                self.display.screen["notice"] = "reconnecting"
            case m.GoOnline():
                self.display.screen["notice"] = None
                self._go_online(session)

    def _enter_idle(self) -> None:
        self._idle = Scope(self.worker, "free desk")
        self.watch.follow(self._idle)

    def _leave_idle(self) -> None:
        if self._idle is not None:
            self._idle.close()
            self._idle = None
        self.watch.follow(None)

    def _go_online(self, session: Session) -> None:
        session.online = Scope(self.worker, f"{session.user_id} online")
        self.watch.follow(session.online, session)
        self.sync.go_online(session)
        session.online.call_every(POLICY_TICK_S, lambda: self.policy.check(
            session, self.desk.off_hook))
        self.live.open(session)

    # --- observing --------------------------------------------------------------------------

    @property
    def snapshot(self) -> Snapshot:
        return self.display.snapshot

    def observe(self, callback: Callable[[Snapshot], None]) -> Callable[[], None]:
        """Call `callback(snapshot)` on every change (on the loop's thread); returns a function
        that stops it. The current snapshot is delivered at once."""
        return self.display.observe(callback)

    # --- commands (any thread) --------------------------------------------------------------

    def submit(self, fn: Callable[[], object]) -> Future:
        """Run `fn` on the loop; its result (a flow's: when it ends) arrives in the Future."""
        return self.worker.submit(fn)

    def sign_in(self, typed_user_id: str, password: Secret | str, *, option_domain: str = "",
                language: str | None = None, stay_signed_in: bool | None = None) -> Future:
        secret = password if isinstance(password, Secret) else Secret(password)
        return self.submit(lambda: self._sign_in(typed_user_id, secret, option_domain,
                                                 language, stay_signed_in))

    def sign_out(self, reason: str = "agent", *, confirmed: bool = False) -> Future:
        """Its Future is done once the desk is free (the server's share goes on)."""
        return self.submit(lambda: self._sign_out(m.SignOutAsked(reason, confirmed)))

    def cancel_sign_out(self) -> Future:
        """The agent declined the off-hook confirmation."""
        return self.submit(lambda: self._command(m.ConfirmDeclined()))

    def set_acd_state(self, state: str, unavailable_code: str | None = None) -> Future:
        return self.submit(lambda: self._set_acd_state(state, unavailable_code))

    def extend(self) -> Future:
        return self.submit(self._extend)

    def touch(self) -> None:
        """The agent touched the screen: activity for the idle policy."""
        self.submit(lambda: self.session and self.policy.touch(self.session))

    def dismiss_notice(self) -> Future:
        return self.submit(lambda: self._publish(notice=None, error=None, throttle_wait_s=None)
                           or Outcome(True))

    def set_language(self, language: str) -> Future:
        """The language picked at the welcome or sign-in screen (before a session)."""
        def change():
            if language not in self.config.signin.languages:
                return Outcome(False, "unknown_language")
            self._publish(language=language)
            return Outcome(True)
        return self.submit(change)

    def settle(self, timeout: float = 30, *, io: bool = True) -> Outcome:
        """Block until the loop has handled every command queued before and run every timer
        already due, and (with `io`) every request it sent out has come back and been acted
        on: a barrier for tests and benchmarks."""
        self.worker.settle(timeout, io=io)
        return Outcome(True)

    def _command(self, event) -> Outcome:
        for effect in self.report(event):
            if isinstance(effect, m.Refuse):
                return Outcome(False, effect.code)
            if isinstance(effect, m.AskConfirm):
                return Outcome(False, "confirm_needed")
        return Outcome(True)

    # --- badges -----------------------------------------------------------------------------

    @property
    def badge_resolver(self):
        return self.badges.resolver

    @badge_resolver.setter
    def badge_resolver(self, resolver) -> None:
        self.badges.resolver = resolver

    def badge_tapped(self, number: str) -> Future | None:
        busy = self.desk.phase in (m.Phase.SIGNING_IN, m.Phase.SIGNING_OUT)
        return self.badges.tapped(number, busy=busy)  # (the desk as it was at the tap)

    def badge_unreadable(self, reason: str) -> Future | None:
        return self.badges.unreadable(reason)

    def dismiss_badge(self) -> Future:
        return self.submit(lambda: self._publish(badge=None) or Outcome(True))

    def _badge_found(self, ref: str, user_id: str, source: str) -> None:
        kind, outcome = m.badge_kind(self.desk, user_id, same_user)
        session = self.session
        self.recorder.record("badge_read", session.log_id if session else None, badge=ref,
                             agent=user_id, source=source, outcome=outcome)
        name = session.agent().display_name if session else None
        self._publish(badge=BadgeTap(kind, user_id=user_id, name=name, seq=next_tap()))

    # --- sign in ----------------------------------------------------------------------------

    def _sign_in(self, typed: str, password: Secret, option_domain: str, language: str | None,
                 stay: bool | None):
        if self._ready is not None and not self._ready.done():
            yield self._ready  # what a crash left on the server is cleaned up first
        refused = self._command(m.SignInAsked())
        if not refused.ok:
            password.wipe()
            self._publish(error=refused.error)
            return refused
        language = language if language in self.config.signin.languages else (
            self.display.screen["language"])
        stay = self.config.signin.stay_signed_in_default if stay is None else stay
        self.cleanup.sign_in_began()  # a release on the network may land after it
        self._publish(error=None, notice=None, throttle_wait_s=None, language=language,
                      badge=None)
        try:
            seat = yield from self.saga.run(typed, password, option_domain, language, stay)
        except SagaFailed as failure:
            password.wipe()
            self.report(m.SignInEnded(None))
            self._enter_idle()
            self._publish(error=failure.code, throttle_wait_s=self.saga.throttle_wait_s,
                          badge=self.display.badge_done())
            return Outcome(False, failure.code, str(failure.cause))
        self.session = session = Session(
            log_id=seat.log_id, user_id=seat.user_id, profile=seat.profile, client=seat.client,
            password=password, language=language, stay_signed_in=stay,
            since=utc_iso(self.clock.time()), line=seat.line, role=seat.role,
            scope=Scope(self.worker, seat.user_id), online=Scope(self.worker))
        self.policy.start(session)
        self.sync.start(session)
        self.report(m.SignInEnded(seat.user_id, stay))
        self._go_online(session)
        self._publish(language=language, badge=self.display.badge_done())
        return Outcome(True)

    # --- sign out ---------------------------------------------------------------------------

    def _sign_out(self, asked: m.SignOutAsked):
        outcome = self._command(asked)
        if outcome.ok and self._ending is not None:
            yield self._ending
        return outcome

    def _end(self, end: m.EndSession):
        """Undo every step and record the end (a flow). The screen and the light are free at
        once, the phone as soon as it answers; the server's share goes on in the background
        (`ServerCleanup.end_session`)."""
        session, self.session = self.session, None
        channel_closed = self.live.close(session)  # (deleted before the password goes)
        session.end()  # every timer, request and flow of the session stops here
        self.policy.stop()
        self.saga.forget()
        self.watch.follow(None)
        if session.log_id is not None:
            self.recorder(self.session_log.mark_signing_out, session.log_id, end.reason)
        self._publish(badge=None, notice=end.notice,
                      language=self.config.signin.default_language)
        phone = "released"
        try:
            yield self.phone_link.release(force=end.force_phone)
        except PhoneBusy:  # never drop a call: release when the handset goes down
            phone = "busy"
        except PhoneError as exc:
            phone = "failed"
            log.warning("could not release the phone at sign-out: %s", exc)
        self.cleanup.end_session(session, end.reason, end.server_side,
                                 phone_released=phone != "failed",
                                 channel_closed=channel_closed)
        self.report(m.SignedOut(phone))
        self._enter_idle()
        self._publish(badge=self.display.badge_done())
        return Outcome(True)

    # --- while signed in --------------------------------------------------------------------

    def _set_acd_state(self, state: str, code: str | None):
        session = self.session
        if session is None:
            return Outcome(False, "not_signed_in")
        if state not in ACD_STATES:
            return Outcome(False, "rejected", f"unknown ACD state {state}")
        if session.role != "agent":
            return Outcome(False, "not_an_agent", "a supervisor has no ACD state")
        if self.desk.phase is m.Phase.RECONNECTING:
            self._publish(error="unreachable")
            return Outcome(False, "unreachable", "the Call Center cannot be reached now")
        self.policy.touch(session)
        outcome = yield session.scope.run(self.sync.set_acd_state(
            session, state, session.code_for(state, code)))
        if outcome is None:  # the session ended meanwhile
            return Outcome(False, "not_signed_in")
        self._publish(error=outcome.error)
        return outcome

    def _extend(self):
        session = self.session
        if session is None:
            return Outcome(False, "not_signed_in")
        outcome = yield session.scope.run(self.policy.extend(session))
        if outcome is None:  # the session ended meanwhile
            return Outcome(False, "not_signed_in")
        if outcome.ok:
            self.report(m.Extended())
            self.policy.check(session, self.desk.off_hook)
        elif outcome.error not in ("nothing_to_extend", "not_allowed"):
            self._publish(error=outcome.error)
        return outcome
