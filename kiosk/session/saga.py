"""The sign-in saga: `normalise → authenticate → associate → phone → queues → commit`, each
step journaled in the session log before it is tried, the steps done undone in reverse when
one fails, and the failed-password throttle in front of it all.

```python
saga = SignInSaga(config, phone=link, recorder=recorder, host_client=host, cleanup=cleanup,
                  limit=association_limit, clock=clock, agent_client_factory=factory)
saga.when_progress = lambda steps: ...   # a tuple of StepProgress after every change
seat = yield from saga.run(typed, password, option_domain="", language="fr", stay=True)
# (a flow: raises SagaFailed, with failure.step and failure.code, the desk as before)
```

Two sequential round trips, then the phone:

1. `PUT HotelingGuest` with the agent's credentials: it authenticates (a wrong password is a
   401, counted once toward BroadWorks' lockout, as a `GET` would be) and sits the agent at
   this desk. Only when the server refuses does the saga ask why, once, with the desk's host
   view and the agent's seat side by side: a stale guest at this desk is released (through
   `ServerCleanup`, which tracks the release's fate), an association elsewhere is cleared
   (the log says from where), a lower limit of the desk's is adopted; then it asks again.
2. The agent's profile (name and numbers, for the phone) alongside the ACD state's PUT
   (`callcenter.initial_acd_state`; "Service not assigned" marks a supervisor).

Then the agent's line goes onto the phone over the serial line. Every request and phone
command is yielded to the engine's loop (`Worker.run`), which stays free for the hook, the
buttons, a badge and the timers while the server takes its time.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
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
from kiosk.session.model import STEPS, StepProgress, error_code
from kiosk.session.phonelink import PhoneLink
from kiosk.session.recorder import Recorder
from kiosk.session.worker import together

log = logging.getLogger(__name__)


class SagaFailed(Exception):
    def __init__(self, step: str, cause: BaseException):
        self.step = step
        self.cause = cause
        self.recorded = False  # already in the session log
        super().__init__(f"{step}: {cause}")

    @property
    def code(self) -> str:
        if isinstance(self.cause, Throttled):
            return "throttled"
        code = error_code(self.cause)
        return "no_hoteling" if code == "rejected" and self.step == "authenticate" else code


class Throttled(Exception):
    """Too many wrong passwords: wait."""


@dataclass(frozen=True)
class Seat:
    """What a sign-in came to: the engine opens the session with it."""

    log_id: int | None
    user_id: str
    client: XsiClient
    profile: codec.Profile
    line: GuestLine
    role: str


class SignInSaga:
    """Signs one agent in (a flow on the engine's loop), or leaves the desk as it was."""

    def __init__(self, config: Config, *, phone: PhoneLink, recorder: Recorder,
                 host_client: XsiClient, cleanup: server.ServerCleanup,
                 limit: policies.AssociationLimit, clock: Clock,
                 agent_client_factory: Callable[[str, Secret], XsiClient]):
        self.config = config
        self.phone = phone
        self.logged = recorder
        self.session_log = recorder.session_log
        self.host_client = host_client
        self.cleanup = cleanup
        self.limit = limit
        self.agent_client_factory = agent_client_factory
        self.throttle = policies.Throttle(
            max_failures=config.signin.max_failures, cooldown_s=config.signin.cooldown_s,
            path=Path(config.log.database).with_name("throttle.json"), wall=clock.time)
        self.throttle_wait_s: float | None = None
        self.when_progress: Callable[[tuple[StepProgress, ...]], None] = lambda steps: None
        self._steps: dict[str, StepProgress] = {}

    @property
    def steps(self) -> tuple[StepProgress, ...]:
        return tuple(self._steps[name] for name in STEPS) if self._steps else ()

    def forget(self) -> None:
        """The session has ended: no steps to show."""
        self._steps = {}

    def _set(self, name: str, status: str, seconds: float | None = None) -> None:
        self._steps[name] = StepProgress(name, status, seconds)
        self.when_progress(self.steps)

    def _journal(self, log_id: int | None, step: str, phase: str, **detail) -> None:
        if log_id is not None:
            self.logged(self.session_log.journal_step, log_id, step, phase, **detail)

    @contextlib.contextmanager
    def _step(self, log_id: int | None, *names: str):
        """One or more steps that stand or fall together (one request does them all)."""
        started = time.perf_counter()
        for name in names:
            self._set(name, "running")
            self._journal(log_id, name, "trying")
        try:
            yield
        except BaseException as exc:
            for name in names:
                self._set(name, "failed", time.perf_counter() - started)
                self._journal(log_id, name, "failed", error=error_code(exc))
            raise
        for name in names:
            self._set(name, "done", time.perf_counter() - started)
            self._journal(log_id, name, "done")

    # --- the saga ---------------------------------------------------------------------------

    def run(self, typed: str, password: Secret, option_domain: str, language: str, stay: bool):
        """Sign the agent in (a flow: `yield from`); returns the `Seat`, or raises SagaFailed
        with the desk exactly as before."""
        self.throttle_wait_s = None
        self._steps = {name: StepProgress(name) for name in STEPS}
        self.when_progress(self.steps)
        user_id = self._normalise(typed, option_domain)
        client = self.agent_client_factory(user_id, password)
        log_id = self.logged(self.session_log.begin_session, self._who(user_id),
                             language=language, stay_signed_in=stay,
                             phone_serial=self.phone.serial)
        done: list[str] = []
        try:
            yield from self._sit_down(client, user_id, log_id, done)
            profile, role = yield from self._profile_and_queues(client, log_id, done)
            line = GuestLine(user_id, profile.display_name or user_id, dial(profile.number),
                             dial(profile.extension))
            yield from self._phone(line, language, log_id, done)
            with self._step(log_id, "commit"):
                if log_id is not None:
                    self.logged(self.session_log.activate, log_id)
        except Exception as exc:
            failure = exc if isinstance(exc, SagaFailed) else SagaFailed(next(
                (s for s in STEPS if self._steps[s].status == "failed"), "commit"), exc)
            self.phone.show(None)  # (a phone plugged in later gets the desk default)
            yield from self.undo(client, done, log_id)
            if not getattr(failure, "recorded", False):
                self.logged(self.session_log.fail_sign_in, log_id, user_id,
                            error_code(failure.cause), step=failure.step)
            client.session.close()
            raise failure from None
        return Seat(log_id, user_id, client, profile, line, role)

    def _normalise(self, typed: str, option_domain: str) -> str:
        config = self.config
        try:
            with self._step(None, "normalise"):
                user_id = normalise_user_id(typed, option_domain=option_domain,
                                            default_domain=config.callcenter.default_domain,
                                            append_domain=config.signin.append_domain)
        except IdentityError as exc:
            raise SagaFailed("normalise", exc) from None
        wait = self.throttle.wait_s(user_id)
        if wait > 0:
            self.logged.record("throttled", agent=self._who(user_id), wait_s=round(wait, 1))
            self.throttle_wait_s = wait
            raise SagaFailed("normalise", Throttled())
        return user_id

    def _who(self, user_id: str) -> str:
        """A user ID as the log (and the journal, and `stats`) may keep it: in clear once the
        Call Center has accepted it at this kiosk, else a reference (`unrecognised#…`): a
        password typed into the User ID field never leaves the unit in clear."""
        known = self.logged(self.session_log.known_agent, user_id)
        return user_id if known else self.throttle.reference(user_id)

    # --- round trip 1: authenticate and associate, one request ------------------------------

    def _sit_down(self, client: XsiClient, user_id: str, log_id: int | None, done: list[str]):
        host_id = self.config.desk.host_user_id
        hours = self.limit.hours()
        started = time.perf_counter()
        for name in ("authenticate", "associate"):
            self._set(name, "running")
            self._journal(log_id, name, "trying")
        try:
            yield lambda: client.associate(host_id, limit_hours=hours)
        except InvalidCredentials as exc:
            self._finish(log_id, ("authenticate", "associate"), started, exc)
            wait = self.throttle.record_failure(user_id)
            self.throttle_wait_s = wait or None
            raise self._failed_authentication(log_id, user_id, exc) from None
        except Rejected as refused:  # the password was good: authenticate is done
            self._finish(log_id, ("authenticate",), started)
            self.throttle.record_success(user_id)
            self._name(log_id, user_id)
            try:
                yield from self._sit_down_again(client, log_id, user_id, refused, done)
            except SagaFailed:
                raise
            except Exception as exc:
                self._finish(log_id, ("associate",), started, exc)
                raise SagaFailed("associate", exc) from None
            self._finish(log_id, ("associate",), started)
            return
        except CallCenterError as exc:
            done.append("associate")  # it may have landed: undo it
            self._finish(log_id, ("authenticate", "associate"), started, exc)
            raise self._failed_authentication(log_id, user_id, exc) from None
        done.append("associate")
        self._finish(log_id, ("authenticate", "associate"), started)
        self.throttle.record_success(user_id)
        self._name(log_id, user_id)

    def _finish(self, log_id: int | None, names: tuple[str, ...], started: float,
                error: BaseException | None = None) -> None:
        for name in names:
            self._set(name, "failed" if error else "done", time.perf_counter() - started)
            self._journal(log_id, name, "failed" if error else "done",
                          **({"error": error_code(error)} if error else {}))

    def _failed_authentication(self, log_id: int | None, user_id: str,
                               exc: BaseException) -> SagaFailed:
        """The sign-in failed at the first request: in the log under the name the kiosk may
        keep (a failed row), with the failures counted so far."""
        self.logged(self.session_log.fail_sign_in, log_id, self._who(user_id),
                    error_code(exc), step="authenticate",
                    failures=self.throttle.failures(user_id) or None)
        failure = SagaFailed("authenticate", exc)
        failure.recorded = True  # (not again by `run`)
        return failure

    def _name(self, log_id: int | None, user_id: str) -> None:
        """The server accepted the user ID: the log may keep it in clear now."""
        if log_id is not None:
            self.logged(self.session_log.update_session, log_id, agent=user_id)

    def _sit_down_again(self, client: XsiClient, log_id: int | None, user_id: str,
                        refused: Rejected, done: list[str]):
        """The association was refused: ask why (the desk and the agent's seat at once), put
        right what may be put right, and ask once more."""
        host_id = self.config.desk.host_user_id
        host_read, guest_read = yield together(self.host_client.hoteling_host,
                                               client.hoteling_guest)
        if isinstance(guest_read.error, Rejected):  # no hoteling guest service at all
            self._set("authenticate", "failed")
            self._set("associate", "pending")
            raise self._failed_authentication(log_id, user_id, guest_read.error)
        seat = guest_read.value.host_user_id if guest_read.error is None else None
        host = host_read.value if host_read.error is None else None
        retry = False
        if seat and not same_user(seat, host_id):  # sitting elsewhere: the agent is here now
            yield client.clear_association
            self.logged.record("moved", log_id, from_host=seat)
            if log_id is not None:
                self.logged(self.session_log.update_session, log_id, moved_from=seat)
            retry = True
        if host is not None:
            if host.enforce_association_limit and host.association_limit_hours:
                self.limit.host_says(host)
                retry = True
            if host.has_guest and not same_user(seat, host_id):  # a stale guest here
                yield self.cleanup.release_desk
                self.logged.record("stale_guest_released", log_id, guest=" ".join(
                    p for p in (host.guest_first_name, host.guest_last_name) if p))
                retry = True
        if not retry:
            raise refused
        done.append("associate")
        hours = self.limit.hours()
        yield lambda: client.associate(host_id, limit_hours=hours)

    # --- round trip 2: who the agent is, and the queues -------------------------------------

    def _profile_and_queues(self, client: XsiClient, log_id: int | None, done: list[str]):
        """The profile alongside the ACD state's PUT. Returns (profile, role): a user without
        the Call Center agent service (a supervisor) has no queues, which the PUT finds out at
        no extra round trip."""
        initial = self.config.callcenter.initial_acd_state
        started = time.perf_counter()
        self._set("queues", "running")
        self._journal(log_id, "queues", "trying")
        profile_read, acd = yield together(client.profile,
                                           lambda: client.set_acd_state(initial))
        role, queues_error = "agent", acd.error
        if isinstance(queues_error, Rejected) and service_not_assigned(queues_error):
            role, queues_error = "supervisor", None
        elif queues_error is None or not isinstance(queues_error, Rejected):
            done.append("queues")  # done, or it may have landed
        status = "skipped" if role == "supervisor" else "failed" if queues_error else "done"
        self._set("queues", status, time.perf_counter() - started)
        self._journal(log_id, "queues", status,
                      **({"error": error_code(queues_error)} if queues_error else {}))
        if log_id is not None:
            self.logged(self.session_log.update_session, log_id, role=role)
        if profile_read.error is not None:
            self._set("phone", "failed")  # the phone's line is made of the profile
            self._journal(log_id, "phone", "failed", error=error_code(profile_read.error))
            raise SagaFailed("phone", profile_read.error)
        profile = profile_read.value
        if log_id is not None:
            self.logged(self.session_log.update_session, log_id,
                        agent_name=profile.display_name)
        if queues_error is not None:
            raise SagaFailed("queues", queues_error)
        return profile, role

    def _phone(self, line: GuestLine, language: str, log_id: int | None, done: list[str]):
        if not self.phone.provisions:  # any BroadWorks phone: the association routes the
            self.phone.show(line, language)  # calls; the phone shows the desk's own name
            self._set("phone", "skipped")
            self._journal(log_id, "phone", "skipped", status=str(self.phone.status))
            return
        try:
            with self._step(log_id, "phone"):
                done.append("phone")
                yield self.phone.assign(line, language)
        except PhoneError as exc:
            raise SagaFailed("phone", exc) from None

    # --- undo -------------------------------------------------------------------------------

    def undo(self, client: XsiClient, done: list[str], log_id: int | None):
        """Compensate the steps done (and the one that failed half-way), in reverse; what the
        server cannot take now is owed (a flow)."""
        owed = []
        for step in reversed(done):
            self._journal(log_id, step, "undoing")
            if step == "queues":
                if (yield lambda: server.clean(lambda: client.set_acd_state("Sign-Out"))) \
                        == "owed":
                    owed.append(step)
            elif step == "phone":
                try:
                    yield self.phone.release(force=True)
                except PhoneError as exc:
                    log.warning("could not release the phone while undoing: %s", exc)
            elif step == "associate" and (
                    yield lambda: server.clean(client.clear_association)) == "owed":
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
