"""The desk session engine: one per kiosk, one worker thread, one agent at a time.

```python
engine = DeskEngine(config, host_client=host, session_log=log, phone_factory=open_phone,
                    panel=panel).start()
engine.observe(lambda snapshot: ...)      # called on the worker thread: re-post to the UI
engine.sign_in("mai", Secret("…"), stay_signed_in=True)
engine.sign_out()
```

Every command -- sign in, sign out, ACD state, extend, and the events of timers, hook, button,
heartbeat and phone -- runs on the worker thread, one after the other, so "one agent per desk"
and "no two sign-ins at once" hold by construction. Commands return a `Future` of an `Outcome`;
observers receive a new `Snapshot` after every change. Slow checks (heartbeat, outbox) run on a
small I/O pool and post their results back to the worker.

The sign-in saga (`normalise → authenticate → associate → phone → queues → commit`) journals
each step in the session log before trying it, and undoes the steps done, in reverse, when one
fails; phone and queues overlap. See `DESIGN.md`, *The desk session engine*.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

from hardware.phone import (
    DeskPhone,
    GuestLine,
    PhoneBusy,
    PhoneDisconnected,
    PhoneError,
    PhoneTimeout,
)
from kiosk.callcenter import XsiClient, codec
from kiosk.config import Config
from kiosk.errors import (
    CallCenterError,
    IdentityError,
    InvalidCredentials,
    NotFound,
    NotPermitted,
    Rejected,
    ServerBusy,
    SessionLogError,
    Unreachable,
)
from kiosk.identity import normalise_user_id
from kiosk.secret import Secret
from kiosk.session import policies
from kiosk.session.clock import Clock, SystemClock
from kiosk.session.lock import RuntimeLock
from kiosk.session.model import (
    STEPS,
    Agent,
    Outcome,
    Snapshot,
    State,
    StepProgress,
    Warning,
    error_code,
)
from kiosk.sessionlog import SessionLog, utc_iso

log = logging.getLogger(__name__)

NETWORK_ERRORS = (Unreachable, ServerBusy)
EXTEND_END_OF_DAY_S = 30 * 60
PHONE_RETRY_S = 2.0
PHONE_SILENT_RETRY_S = 10.0
PHONE_BOOT_WAIT_S = 30.0
RECONNECT_BACKOFF = (2.0, 60.0)  # first retry, longest wait
OUTBOX_BACKOFF = (5.0, 300.0)
ACD_STATES = ("Available", "Unavailable", "Wrap-Up")

#: gettext language names that the phone knows under another BCP 47 tag
PHONE_LANGUAGE_TAGS = {"zh_CN": "zh-Hans"}


def phone_language(language: str) -> str:
    return PHONE_LANGUAGE_TAGS.get(language, language.replace("_", "-"))


class _SagaFailed(Exception):
    def __init__(self, step: str, cause: BaseException):
        self.step = step
        self.cause = cause
        super().__init__(f"{step}: {cause}")


@dataclass
class _Session:
    log_id: int | None
    user_id: str
    profile: codec.Profile
    client: XsiClient
    password: Secret
    language: str
    stay_signed_in: bool
    since: str
    line: GuestLine
    deadlines: list[policies.Deadline]
    idle: policies.Idle
    acd_state: str | None = None
    unavailable_code: str | None = None
    pending_policy: policies.Deadline | None = None  # reached while off hook
    reconnecting: bool = False
    reconnect_delay: float = RECONNECT_BACKOFF[0]
    reconnect_at: float = 0.0

    def agent(self) -> Agent:
        return Agent(
            user_id=self.user_id, first_name=self.profile.first_name or "",
            last_name=self.profile.last_name or "", number=self.profile.number or "",
            extension=self.profile.extension or "", language=self.language,
            stay_signed_in=self.stay_signed_in, since=self.since, acd_state=self.acd_state,
            unavailable_code=self.unavailable_code)


class DeskEngine:
    """The engine for one desk. Seams are keyword arguments:

    - `host_client`: an `XsiClient` logged in as the desk's host (frees the desk after a crash);
    - `agent_client_factory(user_id, password)`: a client for an agent (default: from config);
    - `phone_factory()`: opens the desk phone (`DeskPhone`); retried while it fails;
    - `panel`: the GPIO `DeskPanel`, or None;
    - `session_log`: the `SessionLog`;
    - `clock`: monotonic and wall time (`FakeClock` in tests);
    - `lock_path`: the unit's lock file (None: no lock, for tests of several engines).
    """

    def __init__(self, config: Config, *, host_client: XsiClient, session_log: SessionLog,
                 phone_factory: Callable[[], DeskPhone], panel=None,
                 agent_client_factory: Callable[[str, Secret], XsiClient] | None = None,
                 clock: Clock | None = None, lock_path=None, use_lock: bool = True,
                 overlap_steps: bool = True):
        self.config = config
        self.host_client = host_client
        self.session_log = session_log
        self.phone_factory = phone_factory
        self.panel = panel
        self.clock = clock or SystemClock()
        self.overlap_steps = overlap_steps  # phone and queues at once (off: to measure)
        self.agent_client_factory = agent_client_factory or (
            lambda user_id, password: XsiClient.from_config(config.callcenter, user_id,
                                                            password))
        self._lock = RuntimeLock(lock_path) if use_lock else None
        self._throttle = policies.Throttle(max_failures=config.signin.max_failures,
                                           cooldown_s=config.signin.cooldown_s)
        self._snapshot = Snapshot(language=config.signin.default_language,
                                  stay_signed_in_default=config.signin.stay_signed_in_default)
        self._observers: list[Callable[[Snapshot], None]] = []
        self._queue: queue.Queue = queue.Queue()
        self._pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="engine-io")
        self._session: _Session | None = None
        self._busy_state: State | None = None  # SIGNING_IN / SIGNING_OUT while they run
        self.phone: DeskPhone | None = None
        self._phone_status = "unknown"
        self._phone_serial: str | None = None
        self._phone_boot_deadline: float | None = None
        self._off_hook = False
        self._next_heartbeat = 0.0
        self._heartbeat_running = False
        self._next_outbox = 0.0
        self._outbox_running = False
        self._outbox_delay = OUTBOX_BACKOFF[0]
        self._next_phone_retry = 0.0
        self._next_tick = 0.0
        self._host_limit_hours: int | None = None
        self._unavailable_codes: tuple[tuple[str, str], ...] = ()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._release_on_hangup = False
        self._closed = False
        if hasattr(self.clock, "when_advanced"):
            self.clock.when_advanced.append(self.poke)

    # --- life cycle -------------------------------------------------------------------------

    def start(self) -> DeskEngine:
        """Start the worker; it first recovers what a crash left open, then serves commands."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="desk-engine", daemon=True)
            self._thread.start()
            self.submit(self._startup)
        return self

    def close(self, timeout: float = 10.0) -> None:
        """Stop the worker and the pool; the phone and panel are closed by their owner."""
        if self._closed:
            return
        self._closed = True
        self._stopping.set()
        self._queue.put(_STOP)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self.phone is not None:
            self.phone.close()
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> DeskEngine:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

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
        snapshot = replace(self._snapshot, **changes)
        state = self._derive_state()
        snapshot = replace(snapshot, state=state, agent=self._session.agent()
                           if self._session else None, off_hook=self._off_hook,
                           phone=self._phone_status,
                           unavailable_codes=self._unavailable_codes)
        self._snapshot = snapshot
        for callback in list(self._observers):
            try:
                callback(snapshot)
            except Exception:
                log.exception("an engine observer failed")

    def _derive_state(self) -> State:
        if self._busy_state is not None:
            return self._busy_state
        if self._phone_status in ("missing", "silent", "rebooting"):
            return State.OUT_OF_ORDER
        if self._session is not None:
            return State.RECONNECTING if self._session.reconnecting else State.ACTIVE
        return State.IDLE

    # --- commands (any thread) --------------------------------------------------------------

    def submit(self, fn: Callable[[], object]) -> Future:
        """Run `fn` on the worker thread; its result arrives in the returned Future."""
        future: Future = Future()
        self._queue.put((fn, future))
        return future

    def poke(self) -> None:
        """Re-check timers and policies now (the fake clock calls this when it moves)."""
        self._queue.put((lambda: None, Future()))

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

    def run_timers(self) -> Outcome:
        """Block until the worker has checked every timer and policy once (for tests)."""
        return self.submit(lambda: Outcome(True)).result(30)

    # --- the worker -------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            wait = 0.25 if self._session is None else 0.1
            try:
                job = self._queue.get(timeout=wait)
            except queue.Empty:
                job = None
            if job is _STOP:
                break
            if job is not None:
                fn, future = job
                try:
                    result = fn()
                except Exception as exc:
                    log.exception("engine command failed")
                    result = Outcome(False, "internal", str(exc))
                future.set_result(result)
            try:
                self._run_timers()
            except Exception:
                log.exception("engine timers failed")

    def _startup(self) -> Outcome:
        self._wire_panel()
        self._open_phone()
        self._recover()
        with contextlib.suppress(SessionLogError):
            self.session_log.release_claims()
        self._show_light()
        self._publish()
        return Outcome(True)

    def _run_timers(self) -> None:
        now = self.clock.monotonic()
        if self.phone is None and now >= self._next_phone_retry:
            # A silent phone costs a resync (2 s) per try: ask it less often than a missing one.
            silent = self._phone_status in ("silent", "rebooting")
            self._next_phone_retry = now + (PHONE_SILENT_RETRY_S if silent else PHONE_RETRY_S)
            self._open_phone(quiet=True)
        if self._phone_boot_deadline is not None and now >= self._phone_boot_deadline:
            self._phone_boot_deadline = None
            self._set_phone_status("silent")
        if self._session is not None:
            if self._session.reconnecting and now >= self._session.reconnect_at:
                self._try_reconnect()
            elif self._session is not None and not self._session.reconnecting:
                self._check_policies(now)
        if now >= self._next_heartbeat and not self._heartbeat_running:
            self._next_heartbeat = now + self.config.session.heartbeat_s
            self._start_heartbeat()
        if now >= self._next_outbox and not self._outbox_running:
            self._next_outbox = now + self._outbox_delay
            self._start_outbox()

    # --- the phone --------------------------------------------------------------------------

    def _open_phone(self, quiet: bool = False) -> None:
        try:
            phone = self.phone_factory()
        except PhoneDisconnected as exc:
            if not quiet:
                log.error("desk phone missing: %s", exc)
            self._set_phone_status("missing")
            return
        except PhoneError as exc:
            log.error("desk phone not answering: %s", exc)
            self._set_phone_status("silent")
            self._power_cycle_phone()
            return
        self.phone = phone
        with contextlib.suppress(PhoneError):
            self._phone_serial = phone.identify().serial
        phone.when_hook_changed = lambda off: self.submit(lambda: self._on_hook(off))
        phone.when_rebooted = lambda: self.submit(self._on_phone_rebooted)
        phone.when_disconnected = lambda: self.submit(lambda: self._set_phone_status("missing"))
        phone.when_reconnected = lambda: self.submit(self._on_phone_back)
        with contextlib.suppress(PhoneError):
            self._off_hook = phone.state().off_hook
        self._set_phone_status("ok")

    def _wire_panel(self) -> None:
        """The GPIO hook switch and sign-out button report to the worker, phone or no phone."""
        if self.panel is None:
            return
        if self.panel.hook is not None:
            self.panel.when_hook_changed = lambda off: self.submit(lambda: self._on_hook(off))
        self.panel.when_sign_out_held = lambda: self.sign_out("button")

    def _set_phone_status(self, status: str) -> None:
        if status == self._phone_status:
            return
        self._phone_status = status
        reason = {"missing": "phone_missing", "silent": "phone_silent",
                  "rebooting": "phone_rebooting"}.get(status)
        if reason:
            self._record("out_of_order", reason=reason)
        self._show_light()
        self._publish(out_of_order=reason)

    def _on_phone_back(self) -> Outcome:
        self._reapply_phone()
        return Outcome(True)

    def _on_phone_rebooted(self) -> Outcome:
        self._phone_boot_deadline = None
        self._record("phone_rebooted")
        self._reapply_phone()
        return Outcome(True)

    def _reapply_phone(self) -> None:
        """The phone is back or rebooted: give it the agent's line and language again."""
        session = self._session
        try:
            if session is not None:
                self._apply_phone(session.line, session.language)
            else:
                self.phone.release(force=True)
        except PhoneError as exc:
            log.warning("could not re-apply the phone: %s", exc)
            return
        self._set_phone_status("ok")

    def _apply_phone(self, line: GuestLine, language: str) -> None:
        if self.phone is None:
            raise PhoneDisconnected("the desk phone is not available")
        self.phone.assign(line)
        try:
            self.phone.set_language(phone_language(language))
        except PhoneError as exc:  # a language the phone lacks is no reason to fail
            log.info("phone kept its language: %s", exc)

    def _power_cycle_phone(self) -> None:
        if self.panel is None or not self.panel.has_relay:
            return
        self._set_phone_status("rebooting")
        self._record("phone_power_cycle")
        self._phone_boot_deadline = self.clock.monotonic() + PHONE_BOOT_WAIT_S
        self._pool.submit(self.panel.power_cycle, 2.0)

    def _on_hook(self, off_hook: bool) -> Outcome:
        self._off_hook = off_hook
        if not off_hook and self._release_on_hangup and self._session is None:
            self._release_on_hangup = False
            with contextlib.suppress(PhoneError):
                self.phone.release()
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
        self._publish()
        return Outcome(True)

    # --- lights -----------------------------------------------------------------------------

    def _show_light(self) -> None:
        if self.panel is None:
            return
        state = self._derive_state()
        if state is State.OUT_OF_ORDER:
            pattern = "fault"
        elif state in (State.SIGNING_IN, State.SIGNING_OUT):
            pattern = "working"
        elif self._snapshot.warning is not None or state is State.RECONNECTING:
            pattern = "attention"
        elif self._session is not None:
            pattern = "busy"
        else:
            pattern = "free"
        if self.panel.pattern != pattern:
            self.panel.show(pattern)

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

    # --- sign in ----------------------------------------------------------------------------

    def _sign_in(self, typed: str, password: Secret, option_domain: str, language: str | None,
                 stay: bool | None) -> Outcome:
        state = self._derive_state()
        if self._session is not None or state not in (State.IDLE,):
            password.wipe()
            code = "out_of_order" if state is State.OUT_OF_ORDER else "one_agent_per_desk"
            self._publish(error=code)
            return Outcome(False, code)
        language = language if language in self.config.signin.languages else (
            self._snapshot.language)
        stay = self.config.signin.stay_signed_in_default if stay is None else stay
        self._steps = {name: StepProgress(name) for name in STEPS}
        self._busy_state = State.SIGNING_IN
        self._show_light()
        self._publish(steps=self._step_tuple(), error=None, notice=None, throttle_wait_s=None,
                      confirm=None, language=language)
        try:
            session = self._run_saga(typed, password, option_domain, language, stay)
        except _SagaFailed as failure:
            password.wipe()
            self._busy_state = None
            code = "throttled" if isinstance(failure.cause, _Throttled) else error_code(
                failure.cause)
            extra = {}
            if code == "invalid_credentials" or code == "throttled":
                extra["throttle_wait_s"] = self._snapshot.throttle_wait_s
            if code == "rejected" and failure.step == "authenticate":
                code = "no_hoteling"
            self._show_light()
            self._publish(error=code, steps=self._step_tuple(), **extra)
            return Outcome(False, code, str(failure.cause))
        self._busy_state = None
        self._session = session
        self._show_light()
        self._publish(steps=self._step_tuple(), language=language)
        self._fetch_unavailable_codes(session)
        self._next_heartbeat = self.clock.monotonic() + self.config.session.heartbeat_s
        return Outcome(True)

    def _step_tuple(self) -> tuple[StepProgress, ...]:
        return tuple(self._steps[name] for name in STEPS)

    @contextlib.contextmanager
    def _step(self, name: str, log_id: int | None = None):
        started = time.perf_counter()
        self._steps[name] = StepProgress(name, "running")
        self._publish(steps=self._step_tuple())
        if log_id is not None:
            self._logged(self.session_log.journal_step, log_id, name, "trying")
        try:
            yield
        except BaseException as exc:
            self._steps[name] = StepProgress(name, "failed", time.perf_counter() - started)
            if log_id is not None:
                self._logged(self.session_log.journal_step, log_id, name, "failed",
                             error=error_code(exc))
            raise
        self._steps[name] = StepProgress(name, "done", time.perf_counter() - started)
        if log_id is not None:
            self._logged(self.session_log.journal_step, log_id, name, "done")
        self._publish(steps=self._step_tuple())

    def _run_saga(self, typed: str, password: Secret, option_domain: str, language: str,
                  stay: bool) -> _Session:
        config = self.config
        # 1 normalise
        try:
            with self._step("normalise"):
                user_id = normalise_user_id(typed, option_domain=option_domain,
                                            default_domain=config.callcenter.default_domain,
                                            append_domain=config.signin.append_domain)
        except IdentityError as exc:
            raise _SagaFailed("normalise", exc) from None
        now = self.clock.monotonic()
        wait = self._throttle.wait_s(user_id, now)
        if wait > 0:
            self._record("throttled", agent=user_id, wait_s=round(wait, 1))
            self._snapshot = replace(self._snapshot, throttle_wait_s=wait)
            raise _SagaFailed("normalise", _Throttled())
        # 2 authenticate: where the agent sits now, asked with their credentials. One request,
        # never retried: a rejected password counts once toward BroadWorks' lockout.
        client = self.agent_client_factory(user_id, password)
        try:
            with self._step("authenticate"):
                guest = client.hoteling_guest()
        except CallCenterError as exc:
            client.session.close()
            if isinstance(exc, InvalidCredentials):
                wait = self._throttle.record_failure(user_id, self.clock.monotonic())
                self._snapshot = replace(self._snapshot, throttle_wait_s=wait or None)
            self._logged(self.session_log.fail_sign_in, None, user_id, error_code(exc),
                         step="authenticate",
                         failures=self._throttle.failures(user_id) or None)
            raise _SagaFailed("authenticate", exc) from None
        self._throttle.record_success(user_id)
        host_id = config.desk.host_user_id
        moved_from = guest.host_user_id if guest.host_user_id not in (None, host_id) else None
        log_id = self._logged(self.session_log.begin_session, user_id, language=language,
                              stay_signed_in=stay, phone_serial=self._phone_serial,
                              moved_from=moved_from)
        # The profile (name and numbers, for the phone) is read alongside the association:
        # three sequential round trips in all (HotelingGuest, associate ∥ profile, ACD ∥ phone).
        profile_read = self._pool.submit(client.profile)
        done: list[str] = []
        try:
            with self._step("associate", log_id):
                try:
                    if moved_from is not None:
                        client.clear_association()
                    self._associate(client)
                finally:
                    done.append("associate")  # even a failed PUT may have landed: undo it
                    futures.wait([profile_read])
                profile = profile_read.result()
            if log_id is not None:
                self._logged(self.session_log.update_session, log_id,
                             agent_name=profile.display_name)
            line = GuestLine(user_id, profile.display_name or user_id,
                             _dial(profile.number), _dial(profile.extension))
            self._phone_and_queues(client, line, language, log_id, done)
            with self._step("commit", log_id):
                if log_id is not None:
                    self._logged(self.session_log.activate, log_id)
        except Exception as exc:
            step = next((s for s in STEPS if self._steps[s].status == "failed"), "commit")
            self._undo(client, done, log_id)
            self._logged(self.session_log.fail_sign_in, log_id, user_id, error_code(exc),
                         step=step)
            client.session.close()
            raise _SagaFailed(step, exc) from None
        if moved_from:
            self._record("moved", log_id, from_host=moved_from)
        now = self.clock.monotonic()
        return _Session(
            log_id=log_id, user_id=user_id, profile=profile, client=client, password=password,
            language=language, stay_signed_in=stay, since=utc_iso(self.clock.time()), line=line,
            deadlines=policies.deadlines(
                started_mono=now, started_local=self.clock.now(),
                limit_hours=self._limit_hours(), end_of_day=config.session.end_of_day,
                allow_extend=config.session.allow_extend),
            idle=policies.Idle(config.session.idle_sign_out_min, now),
            acd_state=config.callcenter.initial_acd_state)

    def _limit_hours(self) -> int:
        hours = self.config.session.association_limit_hours
        if self._host_limit_hours is not None:
            hours = min(hours, self._host_limit_hours)
        return hours

    def _associate(self, client: XsiClient) -> None:
        host_id = self.config.desk.host_user_id
        try:
            client.associate(host_id, limit_hours=self._limit_hours())
            return
        except Rejected:
            host = self._host_view()
            if host is None:
                raise
            retry = False
            if host.enforce_association_limit and host.association_limit_hours:
                self._host_limit_hours = host.association_limit_hours
                retry = True
            if host.has_guest:  # a stale guest at our desk: the agent here now wins
                self.host_client.force_release()
                self._record("stale_guest_released", guest=" ".join(
                    p for p in (host.guest_first_name, host.guest_last_name) if p))
                retry = True
            if not retry:
                raise
        client.associate(host_id, limit_hours=self._limit_hours())

    def _host_view(self) -> codec.HotelingHost | None:
        try:
            return self.host_client.hoteling_host()
        except CallCenterError:
            return None

    def _phone_and_queues(self, client: XsiClient, line: GuestLine, language: str,
                          log_id: int | None, done: list[str]) -> None:
        """Steps 4 and 5 overlap: the ACD PUT goes out while the phone is provisioned."""
        initial = self.config.callcenter.initial_acd_state
        queues_started = time.perf_counter()
        self._steps["queues"] = StepProgress("queues", "running")
        if log_id is not None:
            self._logged(self.session_log.journal_step, log_id, "queues", "trying")
        if self.overlap_steps:
            acd = self._pool.submit(client.set_acd_state, initial)
        phone_error: BaseException | None = None
        try:
            with self._step("phone", log_id):
                try:
                    self._apply_phone(line, language)
                finally:
                    done.append("phone")
        except PhoneError as exc:
            phone_error = exc
        if not self.overlap_steps:
            acd = self._pool.submit(client.set_acd_state, initial)
        queues_error: BaseException | None = None
        try:
            acd.result()
        except CallCenterError as exc:
            queues_error = exc
        done.append("queues")
        status = "failed" if queues_error else "done"
        self._steps["queues"] = StepProgress("queues", status,
                                             time.perf_counter() - queues_started)
        if log_id is not None:
            detail = {"error": error_code(queues_error)} if queues_error else {}
            self._logged(self.session_log.journal_step, log_id, "queues", status, **detail)
        self._publish(steps=self._step_tuple())
        if phone_error is not None:
            raise phone_error
        if queues_error is not None:
            raise queues_error

    def _undo(self, client: XsiClient, done: list[str], log_id: int | None) -> None:
        """Compensate the steps done (and the one that failed half-way), in reverse."""
        for step in reversed(done):
            if log_id is not None:
                self._logged(self.session_log.journal_step, log_id, step, "undoing")
            try:
                if step == "queues":
                    client.set_acd_state("Sign-Out")
                elif step == "phone" and self.phone is not None:
                    self.phone.release(force=True)
                elif step == "associate":
                    client.clear_association()
            except CallCenterError as exc:
                self._owe_server(step, client.user_id, log_id, exc)
            except PhoneError as exc:
                log.warning("could not release the phone while undoing: %s", exc)
            if step in self._steps:
                self._steps[step] = replace(self._steps[step], status="undone")
            if log_id is not None:
                self._logged(self.session_log.journal_step, log_id, step, "undone")

    def _owe_server(self, step: str, agent: str, log_id: int | None, exc: Exception) -> None:
        """A server clean-up failed: the outbox does it later with the host's credentials."""
        action = {"queues": "acd_sign_out", "associate": "force_release"}.get(step)
        if action is None:
            return
        if isinstance(exc, NotPermitted | NotFound):
            return
        self._logged(self.session_log.add_outbox, action, {"agent": agent}, session=log_id)
        self._next_outbox = min(self._next_outbox, self.clock.monotonic() + 1)

    # --- sign out ---------------------------------------------------------------------------

    def _sign_out_command(self, reason: str, confirmed: bool) -> Outcome:
        if self._session is None:
            return Outcome(False, "not_signed_in")
        if self._off_hook and not confirmed:
            self._publish(confirm="off_hook")
            return Outcome(False, "confirm_needed")
        return self._sign_out(reason, force_phone=confirmed)

    def _sign_out(self, reason: str, *, force_phone: bool = False,
                  server: str = "agent") -> Outcome:
        """Undo every step and record the end. `server`: `agent` (clean up with the agent's
        credentials), `outbox` (network down: owe it), or `none` (nothing to do there)."""
        session = self._session
        if session is None:
            return Outcome(False, "not_signed_in")
        self._busy_state = State.SIGNING_OUT
        self._show_light()
        self._publish(confirm=None, warning=None)
        if session.log_id is not None:
            self._logged(self.session_log.mark_signing_out, session.log_id, reason)
        acd_at_end = session.acd_state
        if server == "agent" and session.reconnecting:
            server = "outbox"  # the network is down: do not wait for it
        server_job = None
        if server == "agent":
            server_job = self._pool.submit(self._server_sign_out, session)
        phone_ok = True
        if self.phone is not None:
            try:
                self.phone.release(force=force_phone)
            except PhoneBusy:  # never drop a call: release when the handset goes down
                self._release_on_hangup = True
            except PhoneError as exc:
                phone_ok = False
                log.warning("could not release the phone at sign-out: %s", exc)
        owed: list[str] = []
        if server_job is not None:
            owed = server_job.result()
            if "queues" not in owed:
                acd_at_end = "Sign-Out"
        elif server == "outbox":
            owed = ["queues", "associate"]
        for step in owed:
            self._logged(self.session_log.add_outbox,
                         {"queues": "acd_sign_out", "associate": "force_release"}[step],
                         {"agent": session.user_id}, session=session.log_id)
        if owed:
            self._next_outbox = self.clock.monotonic() + 1
        if session.log_id is not None:
            self._logged(self.session_log.end_session, session.log_id, reason,
                         acd_state=acd_at_end, owed=owed or None,
                         phone_released=phone_ok)
        if not owed and server == "agent":
            self._pool.submit(session.client.close)  # j_logout: nobody waits for it
        else:
            session.client.session.close()
        session.password.wipe()
        self._session = None
        self._busy_state = None
        self._unavailable_codes = ()
        notice = None if reason == "agent" else f"signed_out_{reason}"
        self._show_light()
        self._publish(notice=notice, warning=None, auto_sign_out_in_s=None, steps=(),
                      language=self.config.signin.default_language, connection="ok"
                      if server != "outbox" else "lost")
        return Outcome(True)

    def _server_sign_out(self, session: _Session) -> list[str]:
        """ACD `Sign-Out`, then clear the association; returns the steps still owed."""
        owed = []
        for step, call in (("queues", lambda: session.client.set_acd_state("Sign-Out")),
                           ("associate", session.client.clear_association)):
            try:
                call()
            except (NotPermitted, NotFound):
                pass
            except CallCenterError as exc:
                log.warning("sign-out step %s failed: %s", step, exc)
                owed.append(step)
        return owed

    # --- while signed in --------------------------------------------------------------------

    def _touch(self) -> Outcome:
        session = self._session
        if session is not None:
            session.idle.activity(self.clock.monotonic())
            if self._snapshot.warning is not None and self._snapshot.warning.kind == "idle":
                self._publish(warning=None)
                self._show_light()
        return Outcome(True)

    def _fetch_unavailable_codes(self, session: _Session) -> None:
        """The reasons an agent may give for Unavailable, for the ACD buttons (background)."""
        group = session.profile.group_id
        if not group:
            return

        def fetch():
            try:
                codes = session.client.unavailable_codes(group)
            except CallCenterError as exc:
                log.info("no unavailable codes: %s", exc)
                return
            listed = tuple((c.code, c.description or c.code) for c in codes
                           if c.code and c.active is not False)
            self.submit(lambda: self._set_unavailable_codes(session, listed))

        self._pool.submit(fetch)

    def _set_unavailable_codes(self, session: _Session, codes) -> Outcome:
        if self._session is session:
            self._unavailable_codes = codes
            self._publish()
        return Outcome(True)

    def _set_acd_state(self, state: str, code: str | None) -> Outcome:
        session = self._session
        if session is None:
            return Outcome(False, "not_signed_in")
        if state not in ACD_STATES:
            return Outcome(False, "rejected", f"unknown ACD state {state}")
        session.idle.activity(self.clock.monotonic())
        try:
            session.client.set_acd_state(state, unavailable_code=code if state == "Unavailable"
                                         else None)
        except CallCenterError as exc:
            self._publish(error=error_code(exc))
            return Outcome(False, error_code(exc), str(exc))
        session.acd_state = state
        session.unavailable_code = code if state == "Unavailable" else None
        self._record("acd_state", session.log_id, state=state, unavailable_code=code)
        self._publish(error=None)
        return Outcome(True)

    def _current_deadline(self, session: _Session) -> policies.Deadline | None:
        return policies.next_deadline([*session.deadlines, session.idle.deadline()])

    def _check_policies(self, now: float) -> None:
        session = self._session
        deadline = self._current_deadline(session)
        fixed = policies.next_deadline(session.deadlines)
        auto = None if fixed is None else max(0.0, fixed.at - now)
        warn_before = self.config.session.warn_before_s
        if deadline is not None and now >= deadline.at:
            if self._off_hook:
                if session.pending_policy is None:
                    session.pending_policy = deadline
                    self._record("policy_deferred", session.log_id, policy=deadline.kind)
                self._publish(warning=Warning(deadline.kind, 0, False, waiting_for_hangup=True),
                              auto_sign_out_in_s=0)
                self._show_light()
                return
            self._record("policy_sign_out", session.log_id, policy=deadline.kind)
            self._sign_out(deadline.kind)
            return
        if policies.warning_due(deadline, now, warn_before):
            first = self._snapshot.warning is None
            if first:
                self._record("warning", session.log_id, policy=deadline.kind,
                             seconds=round(deadline.at - now))
            if first or now >= self._next_tick:
                self._next_tick = now + 1
                self._publish(warning=Warning(deadline.kind, max(0.0, deadline.at - now),
                                              deadline.can_extend), auto_sign_out_in_s=auto)
                self._show_light()
            return
        if self._snapshot.warning is not None:
            self._publish(warning=None)
            self._show_light()
        if now >= self._next_tick:
            self._next_tick = now + 1
            if self._snapshot.auto_sign_out_in_s is None or abs(
                    (self._snapshot.auto_sign_out_in_s or 0) - (auto or 0)) >= 1:
                self._publish(auto_sign_out_in_s=auto)

    def _extend(self) -> Outcome:
        session = self._session
        if session is None:
            return Outcome(False, "not_signed_in")
        now = self.clock.monotonic()
        deadline = self._current_deadline(session)
        if deadline is None or not policies.warning_due(deadline, now,
                                                         self.config.session.warn_before_s):
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
        self._show_light()
        self._check_policies(now)
        return Outcome(True)

    # --- heartbeat: the server, the desk, the phone -----------------------------------------

    def _start_heartbeat(self) -> None:
        session = self._session
        if self._busy_state is not None or (session is not None and session.reconnecting):
            return
        self._heartbeat_running = True
        token = id(session) if session else None

        def beat():
            result: dict = {}
            try:
                if session is not None:
                    result["guest"] = session.client.hoteling_guest()
                else:
                    result["host"] = self.host_client.hoteling_host()
            except CallCenterError as exc:
                result["error"] = exc
            if self.phone is not None and self._phone_status == "ok":
                try:
                    self.phone.ping()
                except PhoneTimeout as exc:
                    result["phone_error"] = exc
                except PhoneError:
                    pass
            self.submit(lambda: self._heartbeat_done(token, result))

        self._pool.submit(beat)

    def _heartbeat_done(self, token, result: dict) -> Outcome:
        self._heartbeat_running = False
        if "phone_error" in result and self._phone_status == "ok":
            log.error("desk phone stopped answering: %s", result["phone_error"])
            self._set_phone_status("silent")
            self._power_cycle_phone()
        session = self._session
        if (id(session) if session else None) != token or self._busy_state is not None:
            return Outcome(True)  # the session changed meanwhile: this answer is stale
        error = result.get("error")
        if session is None:
            host = result.get("host")
            if host is not None:
                self._host_limit_hours = (host.association_limit_hours
                                          if host.enforce_association_limit else None)
            self._publish(connection="lost" if isinstance(error, NETWORK_ERRORS) else "ok")
            return Outcome(True)
        if error is None:
            self._check_still_ours(session, result["guest"])
        elif isinstance(error, NETWORK_ERRORS):
            self._connection_lost(session, error)
        elif isinstance(error, InvalidCredentials):
            self._evicted("credentials_rejected")
        return Outcome(True)

    def _check_still_ours(self, session: _Session, guest: codec.HotelingGuest) -> bool:
        if guest.host_user_id == self.config.desk.host_user_id:
            if self._snapshot.connection != "ok":
                self._publish(connection="ok")
            return True
        self._evicted("moved" if guest.host_user_id else "released",
                      elsewhere=guest.host_user_id)
        return False

    def _evicted(self, why: str, elsewhere: str | None = None) -> None:
        session = self._session
        self._record("evicted", session.log_id, why=why, elsewhere=elsewhere)
        # Moved to another desk: they work there now, so their queues are left alone.
        # Released by an admin: the association is gone; take them out of their queues.
        if why == "released":
            with contextlib.suppress(CallCenterError):
                session.client.set_acd_state("Sign-Out")
        self._sign_out("evicted", server="none")
        self._publish(notice=f"evicted_{why}")

    def _connection_lost(self, session: _Session, error: Exception) -> None:
        self._record("connection_lost", session.log_id, error=error_code(error),
                     stay_signed_in=session.stay_signed_in)
        if not session.stay_signed_in:
            self._sign_out("connection_lost", server="outbox")
            self._publish(notice="signed_out_connection_lost")
            return
        session.reconnecting = True
        session.reconnect_delay = RECONNECT_BACKOFF[0]
        session.reconnect_at = self.clock.monotonic() + session.reconnect_delay
        self._show_light()
        self._publish(connection="lost", notice="reconnecting")

    def _try_reconnect(self) -> None:
        session = self._session
        try:
            session.client.profile()  # re-authenticates with the password held in memory
            guest = session.client.hoteling_guest()
        except CallCenterError as exc:
            if isinstance(exc, InvalidCredentials):
                session.reconnecting = False
                self._evicted("credentials_rejected")
                return
            session.reconnect_delay = min(session.reconnect_delay * 2, RECONNECT_BACKOFF[1])
            session.reconnect_at = self.clock.monotonic() + session.reconnect_delay
            self._record("reconnect_failed", session.log_id, error=error_code(exc),
                         retry_in_s=session.reconnect_delay)
            return
        session.reconnecting = False
        if self._check_still_ours(session, guest):
            self._record("reconnected", session.log_id)
            self._show_light()
            self._publish(connection="ok", notice=None)

    # --- the outbox -------------------------------------------------------------------------

    def _start_outbox(self) -> None:
        self._outbox_running = True

        def work():
            failed = False
            try:
                items = self.session_log.claim_outbox()
            except SessionLogError:
                items = []
            for item in items:
                try:
                    note = self._run_outbox_item(item)
                except CallCenterError as exc:
                    failed = True
                    with contextlib.suppress(SessionLogError):
                        self.session_log.retry_outbox(item.id, str(exc),
                                                      delay_s=self._outbox_delay)
                    continue
                with contextlib.suppress(SessionLogError):
                    self.session_log.complete_outbox(item.id)
                    self.session_log.record("outbox_done", item.session, action=item.action,
                                            note=note)
            self.submit(lambda: self._outbox_done(failed, bool(items)))

        self._pool.submit(work)

    def _run_outbox_item(self, item) -> str:
        agent = item.payload.get("agent")
        if item.action == "acd_sign_out":
            try:
                self.host_client.set_acd_state("Sign-Out", user_id=agent)
            except (NotPermitted, NotFound, Rejected) as exc:
                return f"not possible with the host's rights: {type(exc).__name__}"
            return "done"
        if item.action == "force_release":
            session = self._session
            if session is not None or self._busy_state is not None:
                return "superseded: another agent sits here now"
            self.host_client.force_release()
            return "done"
        return "unknown action"

    def _outbox_done(self, failed: bool, worked: bool) -> Outcome:
        self._outbox_running = False
        if failed:
            self._outbox_delay = min(self._outbox_delay * 2, OUTBOX_BACKOFF[1])
        else:
            self._outbox_delay = OUTBOX_BACKOFF[0]
        self._next_outbox = self.clock.monotonic() + self._outbox_delay
        return Outcome(True)

    # --- recovery after a crash or power cut ------------------------------------------------

    def _recover(self) -> None:
        """Clean up sessions a crash left open: the host frees the desk, the phone goes back to
        the desk default, what needs the network and cannot reach it goes to the outbox."""
        rows = self._logged(self.session_log.open_sessions) or []
        for row in rows:
            log.warning("recovering session %s of %s left open (%s)", row["id"], row["agent"],
                        row["status"])
            owed = []
            for action, call in (
                ("acd_sign_out", lambda r=row: self.host_client.set_acd_state(
                    "Sign-Out", user_id=r["agent"])),
                ("force_release", self.host_client.force_release),
            ):
                try:
                    call()
                except (NotPermitted, NotFound, Rejected):
                    pass
                except CallCenterError:
                    owed.append(action)
                    self._logged(self.session_log.add_outbox, action, {"agent": row["agent"]},
                                 session=row["id"])
            if self.phone is not None:
                with contextlib.suppress(PhoneError):
                    self.phone.release(force=True)
            self._logged(self.session_log.end_session, row["id"], "recovered",
                         steps=[f"{s}:{p}" for s, p in row["steps"]], owed=owed or None)


class _Throttled(Exception):
    """Too many wrong passwords: wait."""


_STOP = object()


def _dial(value: str | None) -> str:
    """Only what a phone can dial (the phone refuses anything else in a number)."""
    return "".join(ch for ch in (value or "") if ch in "0123456789+*#")[:20]

