"""Server clean-up: take the agent out of the queues and off the desk, or owe it.

One rule for every place that frees the server (sign-out, a failed sign-in's undo, recovery
after a crash, and the outbox that pays what is owed):

- `clean(call)` runs one clean-up call and says what came of it: `done`; `moot` when the server
  says there is nothing to do or nothing we may do (`NotPermitted`, `NotFound`, `Rejected`);
  `owed` when the network or the server failed, to be retried later by the outbox, with the
  desk host's credentials;
- the outbox pays on the worker, one item at a time: before an owed force release it asks the
  desk's current guest, and skips the release as moot when the desk belongs to a session of
  this kiosk now (or to nobody);
- the desk is freed with the host's force release, which frees only this desk: a clean-up that
  lands late can never touch the agent's seat at another desk, where she may sit by then.

**Requests of unknown fate.** A release that timed out is neither done nor failed: it may still
land, and free the desk under the next agent. So is one that was on the network while a
sign-in began. Nothing waits for them: `late_until()` says until when such a release may still
land (`UNKNOWN_FATE_S` after it came back), and the server sync puts an agent found released in
that time back at the desk (`sync.py`), once per landing (`late_landed`).

```python
cleanup = ServerCleanup(host_client, recorder, worker, clock)
cleanup.desk_taken = True                      # the engine says so while a session holds it
owed = cleanup.sign_out_agent(client)          # I/O, on the pool: the steps still owed
cleanup.owe(owed, agent, session_id)           # into the outbox, paid soon
cleanup.late_until()                           # a release may land until then (monotonic)
yield from cleanup.recover_open_sessions(phone)  # a flow, at start-up
```
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable

from hardware.phone import PhoneError
from kiosk.callcenter import XsiClient
from kiosk.errors import (
    CallCenterError,
    InvalidCredentials,
    NotFound,
    NotPermitted,
    Rejected,
    SessionLogError,
    Unreachable,
)
from kiosk.session.clock import Clock
from kiosk.session.live import close_quietly
from kiosk.session.policies import Backoff
from kiosk.session.recorder import Recorder
from kiosk.session.worker import Result, Timer, Worker

log = logging.getLogger(__name__)

#: Nothing to do, or nothing the caller may do: not owed.
MOOT_ERRORS = (NotPermitted, NotFound, Rejected)
#: The outbox's action for each saga step that leaves something on the server.
ACTIONS = {"queues": "acd_sign_out", "associate": "force_release"}
OUTBOX_BACKOFF = Backoff(5.0, 300.0)
#: How long a release that came back without a verdict (a timeout, a cut connection, a 5xx)
#: may still land on the server.
UNKNOWN_FATE_S = 120.0
#: Answers that prove a request never took effect.
NEVER_LANDED = (InvalidCredentials, *MOOT_ERRORS)


def clean(call: Callable[[], object]) -> str:
    """Run one clean-up call: `done`, `moot` or `owed` (see the module's rule)."""
    try:
        call()
    except MOOT_ERRORS:
        return "moot"
    except CallCenterError as exc:
        log.warning("server clean-up failed, owed for later: %s", exc)
        return "owed"
    return "done"


class ServerCleanup:
    def __init__(self, host_client: XsiClient, recorder: Recorder, worker: Worker,
                 clock: Clock):
        self.host_client = host_client
        self.session_log = recorder.session_log
        self.logged = recorder  # writes the session log, never raises
        self.worker = worker
        self.clock = clock
        #: a session of this kiosk holds the desk, or a sign-in is under way (the engine's
        #: state machine sets it at every change of phase)
        self.desk_taken = False
        self.backoff = OUTBOX_BACKOFF.fresh()
        self._timer: Timer | None = None
        self._running = False
        self._items: list = []
        self._failed = False
        self._lock = threading.Lock()  # the desk's releases are counted from the pool threads
        self._releasing = 0  # releases of this desk on the network now
        self._overlapped = False  # a sign-in began while one was
        self._late_until = float("-inf")

    # --- releases of this desk, and their fate ----------------------------------------------

    def release_desk(self) -> None:
        """The host's force release of this desk (I/O: on the pool); raises CallCenterError.
        Its fate is tracked: see `late_until`."""
        with self._lock:
            self._releasing += 1
        error: BaseException | None = None
        try:
            self.host_client.force_release()
        except BaseException as exc:
            error = exc
            raise
        finally:
            unknown = error is not None and not isinstance(error, NEVER_LANDED) and not (
                isinstance(error, Unreachable) and error.cause in ("refused", "dns", "tls"))
            with self._lock:
                self._releasing -= 1
                if unknown or self._overlapped:
                    self._late_until = max(self._late_until,
                                           self.clock.monotonic() + UNKNOWN_FATE_S)
                if not self._releasing:
                    self._overlapped = False

    def sign_in_began(self) -> None:
        """A sign-in begins: a release on the network now may land after its association."""
        with self._lock:
            if self._releasing:
                self._overlapped = True

    def late_until(self) -> float:
        """Until when (monotonic) a release of this desk sent earlier may still land: +inf
        while one is on the network after a sign-in began."""
        with self._lock:
            if self._releasing and self._overlapped:
                return float("inf")
            return self._late_until

    def late_landed(self) -> None:
        """A late release was seen landing (and repaired): the next one is somebody's."""
        with self._lock:
            self._late_until = float("-inf")
            self._overlapped = False

    def sign_out_agent(self, client: XsiClient, *, queues: bool = True,
                       desk: bool = True) -> list[str]:
        """ACD `Sign-Out` with the agent's credentials (an agent's, not a supervisor's), then
        free this desk with the host's. Returns the steps still owed (I/O only: on the pool).
        Where the host may not free the desk, the agent leaves it with her own credentials."""
        calls = [("queues", lambda: client.set_acd_state("Sign-Out"))] if queues else []

        def leave() -> None:
            try:
                self.release_desk()
            except (InvalidCredentials, NotPermitted):
                client.clear_association()

        if desk:
            calls.append(("associate", leave))
        return [step for step, call in calls if clean(call) == "owed"]

    # --- the end of a session ---------------------------------------------------------------

    def end_session(self, session, reason: str, server_side: str, *,
                    phone_released: bool, channel_closed: Callable[[], object] | None = None,
                    ) -> None:
        """The server's share of a sign-out and the session's end in the log (on the worker;
        the requests go on the pool and nothing waits for them). `server_side`: `agent` (ACD
        Sign-Out and free the desk), `queues` (ACD Sign-Out only), `outbox` (owe both) or
        `none`. `channel_closed`: the I/O that deletes the agent's event channel (it needs
        her password too). The agent's password is wiped once all her requests are done."""
        agent = session.role == "agent"
        closing = channel_closed or (lambda: None)

        def ended(owed: list[str]) -> None:
            acd = "Sign-Out" if agent and server_side in ("agent", "queues") and \
                "queues" not in owed else session.view.acd_state
            self.owe(owed, session.user_id, session.log_id)
            if session.log_id is not None:
                self.logged(self.session_log.end_session, session.log_id, reason,
                            acd_state=acd, owed=owed or None, phone_released=phone_released)
            if server_side == "agent" and not owed:  # j_logout (nobody waits), then the wipe:
                # the logout is one more request with her password
                self.worker.offload(session.client.close,
                                    lambda result: session.password.wipe())
            else:
                session.client.session.close()
                session.password.wipe()

        if server_side in ("agent", "queues") and (agent or server_side == "agent"):
            client, desk = session.client, server_side == "agent"
            everything = (["queues"] if agent else []) + (["associate"] if desk else [])
            def requests() -> list[str]:
                try:
                    return self.sign_out_agent(client, queues=agent, desk=desk)
                finally:
                    close_quietly(closing)

            self.worker.offload(requests, lambda result: ended(
                everything if result.error is not None else result.value))
        else:
            owed = (["queues", "associate"] if agent else ["associate"]) \
                if server_side == "outbox" else []
            self.worker.offload(lambda: close_quietly(closing), lambda result: ended(owed))

    def recover_open_sessions(self, phone):
        """Clean up sessions a crash left open (a flow, at start-up): the host frees the desk,
        the phone goes back to the desk default, what needs the network and cannot reach it
        goes to the outbox."""
        for row in self.logged(self.session_log.open_sessions) or []:
            log.warning("recovering session %s of %s left open (%s)", row["id"], row["agent"],
                        row["status"])
            owed = yield lambda row=row: self.recover(row)
            try:
                yield phone.release(force=True)
            except PhoneError as exc:
                log.warning("could not release the phone while recovering: %s", exc)
            self.logged(self.session_log.end_session, row["id"], "recovered",
                        steps=[f"{s}:{p}" for s, p in row["steps"]], owed=owed or None)

    # --- owing ------------------------------------------------------------------------------

    def owe(self, steps: Iterable[str], agent: str, session: int | None) -> None:
        """Put what is owed for `steps` into the outbox and pay it soon."""
        steps = [s for s in steps if s in ACTIONS]
        for step in steps:
            self.logged(self.session_log.add_outbox, ACTIONS[step], {"agent": agent},
                        session=session)
        if steps:
            self.schedule(1.0)

    def recover(self, row: dict) -> list[str]:
        """A session a crash left open: free the server with the host's credentials (I/O, on
        the pool); returns the actions owed."""
        owed = []
        for step, call in (("queues", lambda: self.host_client.set_acd_state(
                                "Sign-Out", user_id=row["agent"])),
                           ("associate", self.release_desk)):
            if clean(call) == "owed":
                owed.append(ACTIONS[step])
                self.logged(self.session_log.add_outbox, ACTIONS[step],
                            {"agent": row["agent"]}, session=row["id"])
        return owed

    # --- paying, on the worker --------------------------------------------------------------

    def start(self) -> None:
        with contextlib.suppress(SessionLogError):
            self.session_log.release_claims()
        self.schedule(0.0)

    def schedule(self, delay: float) -> None:
        at = self.clock.monotonic() + delay
        if self._timer is not None and not self._timer.cancelled:
            if self._timer.at <= at:
                return
            self._timer.cancel()
        self._timer = self.worker.call_at(at, self._run)

    def _run(self) -> None:
        self._timer = None
        if self._running:
            return
        try:
            self._items = self.session_log.claim_outbox()
        except SessionLogError:
            self._items = []
        self._running = True
        self._failed = False
        self._next()

    def _next(self) -> None:
        if not self._items:
            self._running = False
            if self._failed:
                self.schedule(self.backoff.next())
            else:
                self.backoff.reset()
                self.schedule(self.backoff.first)
            return
        item = self._items.pop(0)
        agent = item.payload.get("agent")
        if item.action == "acd_sign_out":
            self._offload(item, lambda: self.host_client.set_acd_state("Sign-Out",
                                                                       user_id=agent))
        elif item.action == "force_release":
            if self.desk_taken:
                self._finish(item, "moot: the desk belongs to another session of this kiosk")
                return
            self._offload(item, self.host_client.hoteling_host,
                          then=lambda host: self._release_if_still_owed(item, host))
        else:
            self._finish(item, "unknown action")

    def _release_if_still_owed(self, item, host) -> None:
        if self.desk_taken:
            self._finish(item, "moot: the desk belongs to another session of this kiosk")
        elif not host.has_guest:
            self._finish(item, "moot: the desk is already free")
        else:
            self._offload(item, self.release_desk)

    def _offload(self, item, io: Callable[[], object], then=None) -> None:
        def landed(result: Result) -> None:
            error = result.error
            if error is None:
                if then is not None:
                    then(result.value)
                else:
                    self._finish(item, "done")
            elif isinstance(error, MOOT_ERRORS):
                self._finish(item, f"not possible with the host's rights: "
                                   f"{type(error).__name__}")
            else:  # owed still: try again after the back-off
                if not isinstance(error, CallCenterError):
                    log.error("owed clean-up %s failed: %r", item.action, error)
                self._failed = True
                self.logged(self.session_log.retry_outbox, item.id, str(error),
                            delay_s=self.backoff.current)
                self._next()

        self.worker.offload(io, landed)

    def _finish(self, item, note: str) -> None:
        self.logged(self.session_log.complete_outbox, item.id)
        self.logged(self.session_log.record, "outbox_done", item.session, action=item.action,
                    note=note)
        self._next()
