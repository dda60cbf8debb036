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
| `ServerSync` (`sync.py`) | the view of the server: a cache repaired, never trusted |
| `ServerReactions` (`reactions.py`) | what the engine does about what the server says |
| `PolicyKeeper` (`timekeeper.py`) | the policies at work every second; touch and extend |
| `policies.decide` (`policies.py`) | warn, sign out or wait, as a pure function |
| `light_for` (`model.py`) | the status light, as a pure function of the snapshot |
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace

from hardware.phone import DeskPhone, PhoneBusy, PhoneError
from kiosk.callcenter import XsiClient
from kiosk.config import Config
from kiosk.errors import CallCenterError, SessionLogError
from kiosk.secret import Secret
from kiosk.session import cleanup as server
from kiosk.session.badging import BadgeTaps
from kiosk.session.clock import Clock, SystemClock
from kiosk.session.live import default_events_factory
from kiosk.session.model import (
    Connection,
    Outcome,
    Snapshot,
    State,
    error_code,
    light_for,
)
from kiosk.session.phonelink import PhoneLink
from kiosk.session.reactions import ServerReactions
from kiosk.session.saga import SagaFailed, Session, SignInSaga
from kiosk.session.timekeeper import PolicyKeeper
from kiosk.session.worker import Worker
from kiosk.sessionlog import SessionLog

log = logging.getLogger(__name__)

ACD_STATES = ("Available", "Unavailable", "Wrap-Up")


class DeskEngine(ServerReactions, BadgeTaps):
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
        self._release_on_hangup = False
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
                                                                password)))
        self.saga.when_progress = lambda steps: self._publish(steps=steps)
        self.saga.when_event = self._record
        self.policy = PolicyKeeper(
            config, self.worker, self.clock, current=lambda: self._session,
            busy=lambda: self._busy_state is not None, off_hook=lambda: self.phone_link.off_hook,
            snapshot=lambda: self._snapshot, publish=self._publish, record=self._record,
            sign_out=self._sign_out, limit_hours=self.saga.limit_hours)
        self.sync = self._server_sync()
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
                           unavailable_codes=self._session.offered_codes() if self._session
                           else ())
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
        return self.submit(self.policy.extend)

    def touch(self) -> None:
        """The agent touched the screen: activity for the idle policy."""
        self.submit(self.policy.touch)

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
        self.cleanup.recover_open_sessions(self.phone_link)
        self.cleanup.start()
        self.watch.start()
        self._publish()
        return Outcome(True)

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
        self._busy_state = State.SIGNING_IN
        self.cleanup.sign_in_began()  # a release on the network may land after it
        self._publish(error=None, notice=None, throttle_wait_s=None, confirm=None,
                      language=language, badge=None)
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
        self.sync.start(session)
        self.policy.start()
        self.live.open(session)
        return Outcome(True)

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
        """Undo every step and record the end. The screen, the phone and the light are free at
        once; the server's share goes on in the background (`ServerCleanup.end_session`):
        `server_side` is `agent` (ACD Sign-Out and free the desk), `queues` (released by an
        administrator: ACD Sign-Out only), `outbox` (network down: owe it), or `none`."""
        session = self._session
        if session is None:
            return Outcome(False, "not_signed_in")
        self.policy.stop()
        self.live.close(session)
        self.sync.stop(session)
        self._busy_state = State.SIGNING_OUT
        self._publish(confirm=None, warning=None, badge=None)
        if session.log_id is not None:
            self._logged(self.session_log.mark_signing_out, session.log_id, reason)
        if server_side in ("agent", "queues") and session.reconnecting:
            server_side = "outbox"  # the network is down: do not wait for it
        phone_ok = True
        try:
            self.phone_link.release(force=force_phone)
        except PhoneBusy:  # never drop a call: release when the handset goes down
            self._release_on_hangup = True
        except PhoneError as exc:
            phone_ok = False
            log.warning("could not release the phone at sign-out: %s", exc)
        self.cleanup.end_session(session, reason, server_side, phone_released=phone_ok)
        self._session = None
        self._busy_state = None
        if notice is None and reason != "agent":
            notice = f"signed_out_{reason}"
        self._publish(notice=notice, warning=None, auto_sign_out_in_s=None, steps=(), push=False,
                      language=self.config.signin.default_language,
                      connection=Connection.LOST if server_side == "outbox" else Connection.OK)
        return Outcome(True)

    # --- while signed in --------------------------------------------------------------------

    def _set_acd_state(self, state: str, code: str | None) -> Outcome:
        session = self._session
        if session is None:
            return Outcome(False, "not_signed_in")
        if state not in ACD_STATES:
            return Outcome(False, "rejected", f"unknown ACD state {state}")
        if session.role != "agent":
            return Outcome(False, "not_an_agent", "a supervisor has no ACD state")
        session.idle.activity(self.clock.monotonic())
        code = session.code_for(state, code)
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
