"""Server clean-up: take the agent out of the queues and off the desk, or owe it.

One rule for every place that frees the server (sign-out, a failed sign-in's undo, recovery
after a crash, and the outbox that pays what is owed):

- `clean(call)` runs one clean-up call and says what came of it: `done`; `moot` when the server
  says there is nothing to do or nothing we may do (`NotPermitted`, `NotFound`, `Rejected`);
  `owed` when the network or the server failed, to be retried later by the outbox, with the
  desk host's credentials;
- the outbox pays on the worker, one item at a time: before an owed force release it asks the
  desk's current guest, and skips the release as moot when the desk belongs to a session of
  this kiosk now (or to nobody). While an owed call is on the network, a sign-in waits for it
  (`wait_in_flight`), so the two never interleave.

```python
cleanup = ServerCleanup(host_client, session_log, worker, clock, busy=lambda: engine_busy())
owed = cleanup.sign_out_agent(client)          # I/O, on the pool: the steps still owed
cleanup.owe(owed, agent, session_id)           # into the outbox, paid soon
```
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable

from kiosk.callcenter import XsiClient
from kiosk.errors import CallCenterError, NotFound, NotPermitted, Rejected, SessionLogError
from kiosk.session.clock import Clock
from kiosk.session.policies import Backoff
from kiosk.session.worker import Result, Timer, Worker
from kiosk.sessionlog import SessionLog

log = logging.getLogger(__name__)

#: Nothing to do, or nothing the caller may do: not owed.
MOOT_ERRORS = (NotPermitted, NotFound, Rejected)
#: The outbox's action for each saga step that leaves something on the server.
ACTIONS = {"queues": "acd_sign_out", "associate": "force_release"}
OUTBOX_BACKOFF = Backoff(5.0, 300.0)


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


def sign_out_agent(client: XsiClient, *, queues: bool = True) -> list[str]:
    """With the agent's credentials: ACD `Sign-Out` (an agent's, not a supervisor's), then
    clear the association. Returns the steps still owed (I/O only: run it on the pool)."""
    calls = [("queues", lambda: client.set_acd_state("Sign-Out"))] if queues else []
    calls.append(("associate", client.clear_association))
    return [step for step, call in calls if clean(call) == "owed"]


class ServerCleanup:
    def __init__(self, host_client: XsiClient, session_log: SessionLog, worker: Worker,
                 clock: Clock, *, desk_taken: Callable[[], bool], logged: Callable):
        """`desk_taken()`: a session of this kiosk holds the desk, or a sign-in is under way
        (asked on the worker). `logged(fn, *args)`: the engine's way to write the session log
        without ever raising."""
        self.host_client = host_client
        self.session_log = session_log
        self.worker = worker
        self.clock = clock
        self.desk_taken = desk_taken
        self.logged = logged
        self.backoff = OUTBOX_BACKOFF.fresh()
        self._timer: Timer | None = None
        self._running = False
        self._items: list = []
        self._failed = False
        self._in_flight = None  # the Future of an owed call on the network

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
        """A session a crash left open: free the server with the host's credentials now
        (synchronously, at start-up); returns the actions owed."""
        owed = []
        for step, call in (("queues", lambda: self.host_client.set_acd_state(
                                "Sign-Out", user_id=row["agent"])),
                           ("associate", self.host_client.force_release)):
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

    def wait_in_flight(self, timeout: float = 60) -> None:
        """Block (on the worker) until an owed call on the network has come back."""
        if self._in_flight is not None:
            with contextlib.suppress(Exception):
                self._in_flight.result(timeout)

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
            if self.desk_taken():
                self._finish(item, "moot: the desk belongs to another session of this kiosk")
                return
            self._offload(item, self.host_client.hoteling_host,
                          then=lambda host: self._release_if_still_owed(item, host))
        else:
            self._finish(item, "unknown action")

    def _release_if_still_owed(self, item, host) -> None:
        if self.desk_taken():
            self._finish(item, "moot: the desk belongs to another session of this kiosk")
        elif not host.has_guest:
            self._finish(item, "moot: the desk is already free")
        else:
            self._offload(item, self.host_client.force_release)

    def _offload(self, item, io: Callable[[], object], then=None) -> None:
        def landed(result: Result) -> None:
            self._in_flight = None
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

        self._in_flight = self.worker.offload(io, landed)

    def _finish(self, item, note: str) -> None:
        self.logged(self.session_log.complete_outbox, item.id)
        self.logged(self.session_log.record, "outbox_done", item.session, action=item.action,
                    note=note)
        self._next()
