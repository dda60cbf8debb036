"""The sign-in saga: `normalise → authenticate → associate → phone → queues → commit`, each
step journaled in the session log before it is tried, the steps done undone in reverse when
one fails, and the failed-password throttle in front of it all.

```python
saga = SignInSaga(config, phone=link, session_log=log, host_client=host, cleanup=cleanup,
                  agent_client_factory=factory, worker=worker, clock=clock, logged=logged)
saga.when_progress = lambda steps: ...   # a tuple of StepProgress after every change
try:
    session = saga.run(typed, password, option_domain="", language="fr", stay=True)
except SagaFailed as failure:
    failure.step, failure.code
```

`run` is called on the engine's worker and holds it for the sign-in (three sequential round
trips: where the agent sits now, the association with the profile read alongside, the ACD state
alongside the phone). The design in brief: `docs/design.md`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field, replace
from pathlib import Path

from hardware.phone import GuestLine, PhoneError
from kiosk.callcenter import XsiClient, codec
from kiosk.callcenter.codec import same_user
from kiosk.config import Config
from kiosk.errors import CallCenterError, IdentityError, InvalidCredentials, Rejected
from kiosk.identity import normalise_user_id
from kiosk.secret import Secret
from kiosk.session import cleanup as server
from kiosk.session import policies
from kiosk.session.clock import Clock
from kiosk.session.model import STEPS, Agent, StepProgress, error_code
from kiosk.session.phonelink import PhoneLink
from kiosk.session.sync import SeatView
from kiosk.session.worker import Worker
from kiosk.sessionlog import SessionLog, utc_iso

log = logging.getLogger(__name__)

class SagaFailed(Exception):
    def __init__(self, step: str, cause: BaseException):
        self.step = step
        self.cause = cause
        super().__init__(f"{step}: {cause}")

    @property
    def code(self) -> str:
        if isinstance(self.cause, Throttled):
            return "throttled"
        code = error_code(self.cause)
        return "no_hoteling" if code == "rejected" and self.step == "authenticate" else code


class Throttled(Exception):
    """Too many wrong passwords: wait."""


@dataclass(eq=False)
class Session:
    """The agent signed in at this desk (compared by identity: a new sign-in is a new one)."""

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
    role: str = "agent"  # or "supervisor"
    events: object | None = None  # the live EventChannel; None: polling
    events_timer: object | None = None  # the next try to open one
    events_backoff: policies.Backoff = field(
        default_factory=lambda: policies.Backoff(5.0, 300.0))
    view: SeatView = field(default_factory=SeatView)  # what the server sync has applied
    codes: codec.UnavailableCodes | None = None  # the group's, once read

    def offered_codes(self) -> tuple[tuple[str, str], ...]:
        """The unavailable codes the agent may pick: (code, description)."""
        offered = self.codes.offered if self.codes is not None else ()
        return tuple((c.code, c.description or c.code) for c in offered)

    def code_for(self, state: str, picked: str | None) -> str | None:
        """The unavailable code to send with `state`: none but for *Unavailable*, where a
        group that forces codes gets its default when the agent picked none."""
        if state != "Unavailable":
            return None
        return self.codes.code_for_unavailable(picked) if self.codes is not None else picked

    def agent(self) -> Agent:
        return Agent(
            user_id=self.user_id, first_name=self.profile.first_name or "",
            last_name=self.profile.last_name or "", number=self.profile.number or "",
            extension=self.profile.extension or "", language=self.language,
            stay_signed_in=self.stay_signed_in, since=self.since, acd_state=self.acd_state,
            unavailable_code=self.unavailable_code, role=self.role)


class SignInSaga:
    def __init__(self, config: Config, *, phone: PhoneLink, session_log: SessionLog,
                 host_client: XsiClient, cleanup: server.ServerCleanup,
                 agent_client_factory: Callable[[str, Secret], XsiClient], worker: Worker,
                 clock: Clock, logged: Callable):
        self.config = config
        self.phone = phone
        self.session_log = session_log
        self.host_client = host_client
        self.cleanup = cleanup
        self.agent_client_factory = agent_client_factory
        self.worker = worker
        self.clock = clock
        self.logged = logged
        self.host_limit_hours: int | None = None  # the desk's own limit, where it enforces one
        self.overlap_steps = True  # phone and queues at once (off: to measure)
        self.throttle = policies.Throttle(
            max_failures=config.signin.max_failures, cooldown_s=config.signin.cooldown_s,
            path=Path(config.log.database).with_name("throttle.json"), wall=clock.time)
        self.throttle_wait_s: float | None = None
        self.when_progress: Callable[[tuple[StepProgress, ...]], None] = lambda steps: None
        self.when_event: Callable[..., None] = lambda kind, session=None, **detail: None
        self._steps: dict[str, StepProgress] = {}

    def limit_hours(self) -> int:
        """The association limit to ask for: ours, or the desk's where it is lower."""
        hours = self.config.session.association_limit_hours
        if self.host_limit_hours is not None:
            hours = min(hours, self.host_limit_hours)
        return hours

    @property
    def steps(self) -> tuple[StepProgress, ...]:
        return tuple(self._steps[name] for name in STEPS) if self._steps else ()

    def _set(self, name: str, status: str, seconds: float | None = None) -> None:
        self._steps[name] = StepProgress(name, status, seconds)
        self.when_progress(self.steps)

    def _journal(self, log_id: int | None, step: str, phase: str, **detail) -> None:
        if log_id is not None:
            self.logged(self.session_log.journal_step, log_id, step, phase, **detail)

    @contextlib.contextmanager
    def _step(self, name: str, log_id: int | None = None):
        started = time.perf_counter()
        self._set(name, "running")
        self._journal(log_id, name, "trying")
        try:
            yield
        except BaseException as exc:
            self._set(name, "failed", time.perf_counter() - started)
            self._journal(log_id, name, "failed", error=error_code(exc))
            raise
        self._set(name, "done", time.perf_counter() - started)
        self._journal(log_id, name, "done")

    # --- the saga ---------------------------------------------------------------------------

    def run(self, typed: str, password: Secret, option_domain: str, language: str,
            stay: bool) -> Session:
        """Sign the agent in, or raise SagaFailed with the desk exactly as before."""
        self.throttle_wait_s = None
        self._steps = {name: StepProgress(name) for name in STEPS}
        self.when_progress(self.steps)
        user_id = self._normalise(typed, option_domain)
        client, guest = self._authenticate(user_id, password)
        try:
            return self._commit_steps(user_id, client, guest, password, language, stay)
        except SagaFailed:
            client.session.close()
            raise

    def _normalise(self, typed: str, option_domain: str) -> str:
        config = self.config
        try:
            with self._step("normalise"):
                user_id = normalise_user_id(typed, option_domain=option_domain,
                                            default_domain=config.callcenter.default_domain,
                                            append_domain=config.signin.append_domain)
        except IdentityError as exc:
            raise SagaFailed("normalise", exc) from None
        wait = self.throttle.wait_s(user_id)
        if wait > 0:
            self.when_event("throttled", agent=self._who(user_id), wait_s=round(wait, 1))
            self.throttle_wait_s = wait
            raise SagaFailed("normalise", Throttled())
        return user_id

    def _who(self, user_id: str) -> str:
        """A user ID as the log (and the journal, and `stats`) may keep it: in clear once the
        Call Center has accepted it at this kiosk, else a reference (`unrecognised#…`): a
        password typed into the User ID field never leaves the unit in clear."""
        known = self.logged(self.session_log.known_agent, user_id)
        return user_id if known else self.throttle.reference(user_id)

    def _authenticate(self, user_id: str,
                      password: Secret) -> tuple[XsiClient, codec.HotelingGuest]:
        """Where the agent sits now, asked with their credentials. One request, never
        retried: a rejected password counts once toward BroadWorks' lockout."""
        client = self.agent_client_factory(user_id, password)
        try:
            with self._step("authenticate"):
                guest = client.hoteling_guest()
        except CallCenterError as exc:
            client.session.close()
            if isinstance(exc, InvalidCredentials):
                wait = self.throttle.record_failure(user_id)
                self.throttle_wait_s = wait or None
            self.logged(self.session_log.fail_sign_in, None, self._who(user_id),
                        error_code(exc),
                        step="authenticate",
                        failures=self.throttle.failures(user_id) or None)
            raise SagaFailed("authenticate", exc) from None
        self.throttle.record_success(user_id)
        return client, guest

    def _commit_steps(self, user_id: str, client: XsiClient, guest: codec.HotelingGuest,
                      password: Secret, language: str, stay: bool) -> Session:
        config = self.config
        host_id = config.desk.host_user_id
        moved_from = guest.host_user_id if guest.host_user_id and not same_user(
            guest.host_user_id, host_id) else None
        log_id = self.logged(self.session_log.begin_session, user_id, language=language,
                             stay_signed_in=stay, phone_serial=self.phone.serial,
                             moved_from=moved_from)
        # The profile (name and numbers, for the phone) is read alongside the association.
        profile_read = self.worker.in_background(client.profile)
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
                self.logged(self.session_log.update_session, log_id,
                            agent_name=profile.display_name)
            line = GuestLine(user_id, profile.display_name or user_id,
                             dial(profile.number), dial(profile.extension))
            role = self._phone_and_queues(client, line, language, log_id, done)
            if log_id is not None:
                self.logged(self.session_log.update_session, log_id, role=role)
            with self._step("commit", log_id):
                if log_id is not None:
                    self.logged(self.session_log.activate, log_id)
        except Exception as exc:
            step = next((s for s in STEPS if self._steps[s].status == "failed"), "commit")
            self.undo(client, done, log_id)
            self.logged(self.session_log.fail_sign_in, log_id, user_id, error_code(exc),
                        step=step)
            raise SagaFailed(step, exc) from None
        if moved_from:
            self.when_event("moved", log_id, from_host=moved_from)
        now = self.clock.monotonic()
        return Session(
            log_id=log_id, user_id=user_id, profile=profile, client=client, password=password,
            language=language, stay_signed_in=stay, since=utc_iso(self.clock.time()), line=line,
            deadlines=policies.deadlines(
                started_mono=now, started_local=self.clock.now(),
                limit_hours=self.limit_hours(), end_of_day=config.session.end_of_day,
                allow_extend=config.session.allow_extend),
            idle=policies.Idle(config.session.idle_sign_out_min, now), role=role,
            acd_state=config.callcenter.initial_acd_state if role == "agent" else None)

    def _associate(self, client: XsiClient) -> None:
        host_id = self.config.desk.host_user_id
        try:
            client.associate(host_id, limit_hours=self.limit_hours())
            return
        except Rejected:
            host = self._host_view()
            if host is None:
                raise
            retry = False
            if host.enforce_association_limit and host.association_limit_hours:
                self.host_limit_hours = host.association_limit_hours
                retry = True
            if host.has_guest:  # a stale guest at our desk: the agent here now wins
                self.host_client.force_release()
                self.when_event("stale_guest_released", guest=" ".join(
                    p for p in (host.guest_first_name, host.guest_last_name) if p))
                retry = True
            if not retry:
                raise
        client.associate(host_id, limit_hours=self.limit_hours())

    def _host_view(self) -> codec.HotelingHost | None:
        try:
            return self.host_client.hoteling_host()
        except CallCenterError:
            return None

    def _phone_and_queues(self, client: XsiClient, line: GuestLine, language: str,
                          log_id: int | None, done: list[str]) -> str:
        """Steps 4 and 5 overlap: the ACD PUT goes out while the phone is provisioned. Returns
        the role: a user without the Call Center agent service (a supervisor) has no queues,
        which the ACD PUT finds out at no extra round trip."""
        initial = self.config.callcenter.initial_acd_state
        queues_started = time.perf_counter()
        self._set("queues", "running")
        self._journal(log_id, "queues", "trying")
        set_state = lambda: client.set_acd_state(initial)  # noqa: E731
        acd = self.worker.in_background(set_state) if self.overlap_steps else None
        phone_error: BaseException | None = None
        if not self.phone.provisions:  # any BroadWorks phone: the association routes the
            self._set("phone", "skipped")  # calls; the phone shows the desk's own name
            self._journal(log_id, "phone", "skipped", status=str(self.phone.status))
        else:
            try:
                with self._step("phone", log_id):
                    try:
                        self.phone.apply(line, language)
                    finally:
                        done.append("phone")
            except PhoneError as exc:
                phone_error = exc
        if acd is None:
            acd = self.worker.in_background(set_state)
        queues_error: BaseException | None = None
        role = "agent"
        try:
            acd.result()
        except Rejected as exc:
            if service_not_assigned(exc):  # a supervisor: no agent service, no queues
                role = "supervisor"
            else:
                queues_error = exc
        except CallCenterError as exc:
            queues_error = exc
        if role == "agent":
            done.append("queues")
        status = "skipped" if role == "supervisor" else "failed" if queues_error else "done"
        self._set("queues", status, time.perf_counter() - queues_started)
        detail = {"error": error_code(queues_error)} if queues_error else {}
        self._journal(log_id, "queues", status, **detail)
        if phone_error is not None:
            raise phone_error
        if queues_error is not None:
            raise queues_error
        return role

    def undo(self, client: XsiClient, done: list[str], log_id: int | None) -> None:
        """Compensate the steps done (and the one that failed half-way), in reverse; what the
        server cannot take now is owed."""
        owed = []
        for step in reversed(done):
            self._journal(log_id, step, "undoing")
            if step == "queues":
                if server.clean(lambda: client.set_acd_state("Sign-Out")) == "owed":
                    owed.append(step)
            elif step == "phone":
                try:
                    self.phone.release(force=True)
                except PhoneError as exc:
                    log.warning("could not release the phone while undoing: %s", exc)
            elif step == "associate" and server.clean(client.clear_association) == "owed":
                owed.append(step)
            if step in self._steps:
                self._steps[step] = replace(self._steps[step], status="undone")
            self._journal(log_id, step, "undone")
        self.cleanup.owe(owed, client.user_id, log_id)
        self.when_progress(self.steps)


#: "Service not assigned": the sign of a user without the Call Center agent service
#: (BroadWorks says 4410 in the field; the simulator 4009).
SERVICE_NOT_ASSIGNED = {4009, 4410}


def service_not_assigned(exc: Rejected) -> bool:
    return exc.code in SERVICE_NOT_ASSIGNED or "service not assigned" in (
        exc.summary_english or "").lower()


def dial(value: str | None) -> str:
    """Only what a phone can dial (the phone refuses anything else in a number)."""
    return "".join(ch for ch in (value or "") if ch in "0123456789+*#")[:20]
