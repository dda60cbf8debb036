"""The kiosk's view of the server: a cache that is repaired, never trusted.

The server is the truth. What the kiosk shows of it -- the signed-in agent's seat, ACD state and
unavailable codes -- is a copy, kept in step from two sources by one rule:

- events (Xsi-Events push, `apply`), the moment anything changes, while the channel is up;
- a read of the seat and the ACD state (`refresh`, `observed`): once every subscription is in
  place (the first open and every re-open: *list, then watch*), every `session.resync_s` while
  push is up (servers lose events on failover), and every heartbeat while it is down
  (`DeskWatch`).

**The later one wins.** An event older than one already applied -- its subscription's
sequence number, or the ACD state's own timestamp -- is skipped. A read during which an event
was applied may be older than that event, so it is read again (up to three times); while
events keep coming faster than that, they stand, and the next resync reads again.

A read after subscribing or a resync that finds the copy wrong is a *correction*: recorded as
`resync_corrected` (what differed) and counted (`corrections`, shown by `kiosk status`), so an
administrator can tell that their server loses events.

**A late clean-up.** A force release of this desk that timed out may still land, and one that
was on the network while the next agent signed in may have landed after his association; either
frees the desk under him. While `late_until()` (from `ServerCleanup`) says one may still land, an
agent found released is not evicted: his association is put back with his own credentials
(`late_cleanup_repaired`), once per landing. A release of this desk never touches an agent's
seat at another desk: it is the host's, and a host frees only its own desk.

```python
sync = ServerSync(config, worker, clock, current=lambda: session, limit_hours=lambda: 10,
                  late_until=cleanup.late_until, late_repaired=cleanup.late_landed,
                  record=engine_record)
sync.when_changed = lambda session: ...             # ACD state or codes changed: publish
sync.when_evicted = lambda session, why, elsewhere: ...
sync.start(session)                                  # after the sign-in: the resync timer
sync.refresh(session, "subscribed")                  # list, after watch
sync.apply(session, event)                           # a pushed event (on the worker)
sync.observed(session, guest, call_center, why="poll")
```

Everything here runs on the engine's worker; reads go through `Worker.offload`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from kiosk.callcenter import codec
from kiosk.callcenter.codec import same_user
from kiosk.config import Config
from kiosk.errors import CallCenterError
from kiosk.session.clock import Clock
from kiosk.session.worker import Result, Timer, Worker

log = logging.getLogger(__name__)

#: A read for these reasons that differs from the copy is a correction: the server lost an
#: event.
CORRECTING = ("subscribed", "resync")
#: The read right after subscribing races the events of changes made just before it: an ACD
#: state it finds is a correction only if no event brings the same state within this time
#: (found as a flaky test on a loaded machine: a supervisor's Wrap-Up, read before its push,
#: was logged as a lost event).
PUSH_GRACE_S = 5.0
MAX_REREADS = 3


@dataclass
class SeatView:
    """What one session has applied so far (its own, so a new session starts clean)."""

    epoch: int = 0  # events applied: a read that overlapped one is read again
    sequence: dict[str, int] = field(default_factory=dict)  # subscription -> last number
    acd_stamp: int | None = None  # the newest ACD state's own timestamp (ms)
    resync: Timer | None = None
    unexplained: tuple | None = None  # (shown, server, timer): a difference its push may explain


class ServerSync:
    def __init__(self, config: Config, worker: Worker, clock: Clock, *,
                 current: Callable, limit_hours: Callable[[], int],
                 late_until: Callable[[], float], late_repaired: Callable[[], None],
                 record: Callable[..., None]):
        self.config = config
        self.worker = worker
        self.clock = clock
        self.current = current
        self.limit_hours = limit_hours
        self.late_until = late_until
        self.late_repaired = late_repaired
        self.record = record
        self.corrections = 0
        self.when_changed: Callable = _ignore
        self.when_evicted: Callable = _ignore

    # --- the session's life -----------------------------------------------------------------

    def start(self, session) -> None:
        """After the sign-in: the unavailable codes, and the resync timer."""
        every = self.config.session.resync_s
        session.view.resync = self.worker.call_every(
            every, lambda: self._resync(session), first=self.clock.monotonic() + every)
        self._fetch_codes(session)

    def stop(self, session) -> None:
        if session.view.resync is not None:
            session.view.resync.cancel()
            session.view.resync = None
        self._explained(session)

    def _resync(self, session) -> None:
        if self.current() is not session:
            self.stop(session)
        elif session.events is not None and not session.reconnecting:
            self.refresh(session, "resync")  # (while push is down, the heartbeat reads)

    # --- reads ------------------------------------------------------------------------------

    def refresh(self, session, why: str, attempt: int = 0) -> None:
        """Read the seat and (an agent's) ACD state, and reconcile with `why` as the reason."""
        client, agent = session.client, session.role == "agent"
        epoch = session.view.epoch

        def read():
            return client.hoteling_guest(), client.call_center() if agent else None

        def answered(result: Result) -> None:
            if self.current() is not session or session.reconnecting:
                return
            if result.error is not None:  # the heartbeat judges the connection
                log.info("could not read the server's state (%s): %s", why, result.error)
            elif session.view.epoch == epoch:
                self.observed(session, *result.value, why=why)
            elif attempt < MAX_REREADS:
                self.refresh(session, why, attempt + 1)  # an event overlapped: read again
            else:  # events keep coming, each later than a read: they stand until the resync
                log.info("the server's state changes faster than it can be read (%s)", why)

        self.worker.offload(read, answered)

    def observed(self, session, guest: codec.HotelingGuest,
                 call_center: codec.CallCenter | None, *, why: str) -> bool:
        """A read of the seat (and ACD state): reconcile. False when the agent is gone."""
        if not self._seat(session, guest, why):
            return False
        if call_center is not None:
            self._acd(session, call_center.agent_acd_state,
                      call_center.agent_unavailable_code, why)
        return True

    # --- events -----------------------------------------------------------------------------

    def apply(self, session, event: codec.Event) -> None:
        """A pushed event of `session`'s channel (held by the channel until the session can
        judge it; never one of a session that has ended)."""
        view = session.view
        if event.subscription_id and event.sequence_number is not None:
            last = view.sequence.get(event.subscription_id)
            if last is not None and event.sequence_number <= last:
                log.info("skipped an event older than one applied (%s ≤ %s)",
                         event.sequence_number, last)
                return
            view.sequence[event.subscription_id] = event.sequence_number
        view.epoch += 1
        if event.kind in ("AgentStateEvent", "AgentSubscriptionEvent"):
            stamp = event.state_timestamp
            if stamp is not None and view.acd_stamp is not None and stamp < view.acd_stamp:
                return  # an older state than the one shown
            if stamp is not None:
                view.acd_stamp = stamp
            if view.unexplained is not None and view.unexplained[1] == _acd_text(
                    event.acd_state, event.unavailable_code if event.acd_state == "Unavailable"
                    else None):
                self._explained(session)  # the push came after all: nothing was lost
            self._acd(session, event.acd_state, event.unavailable_code, "push")
        elif event.kind == "HotelingGuestEvent":
            if event.unassigned:
                self.when_evicted(session, "released", None)
            elif event.guest is not None:
                self._seat(session, event.guest, "push")

    # --- reconciling ------------------------------------------------------------------------

    def _seat(self, session, guest: codec.HotelingGuest, why: str) -> bool:
        here = self.config.desk.host_user_id
        seat = (guest.host_user_id or "").strip() or None
        if same_user(seat, here):
            return True
        if seat is None and self.late_until() > self.clock.monotonic():
            self._repair(session, why)
            return True
        if why in CORRECTING:
            self._corrected(session, why, "seat", here, seat)
        self.when_evicted(session, "moved" if seat else "released", seat)
        return False

    def _acd(self, session, state: str | None, code: str | None, why: str) -> None:
        if state in (None, "Sign-In") or session.role != "agent":
            return  # transitional, or a supervisor
        code = code if state == "Unavailable" else None
        if (state, code) == (session.acd_state, session.unavailable_code):
            return
        shown, server = _acd_text(session.acd_state, session.unavailable_code), \
            _acd_text(state, code)
        if why == "subscribed":  # a correction only if its push does not follow
            self._explained(session)
            timer = self.worker.call_at(self.clock.monotonic() + PUSH_GRACE_S,
                                        lambda: self._unexplained(session))
            session.view.unexplained = (shown, server, timer)
        elif why in CORRECTING:
            self._corrected(session, why, "acd_state", shown, server)
        else:
            self.record("acd_state_seen", session.log_id, state=state, unavailable_code=code)
        session.acd_state, session.unavailable_code = state, code
        self.when_changed(session)

    def _explained(self, session) -> None:
        pending, session.view.unexplained = session.view.unexplained, None
        if pending is not None:
            pending[2].cancel()

    def _unexplained(self, session) -> None:
        pending, session.view.unexplained = session.view.unexplained, None
        if pending is not None and self.current() is session:
            self._corrected(session, "subscribed", "acd_state", pending[0], pending[1])

    def _corrected(self, session, why: str, what: str, shown, server) -> None:
        self.corrections += 1
        log.warning("the server's %s differed from the kiosk's (%s): %s, not %s", what, why,
                    server, shown)
        self.record("resync_corrected", session.log_id, what=what, shown=shown, server=server,
                    found_by=why)

    def _repair(self, session, why: str) -> None:
        """Our own late clean-up freed the desk under this agent: sit him down again."""
        self.late_repaired()  # once per landing: a second release is somebody's decision
        client, host = session.client, self.config.desk.host_user_id
        hours = self.limit_hours()

        def put_back(result: Result) -> None:
            if self.current() is not session:
                return
            self.record("late_cleanup_repaired", session.log_id, found_by=why,
                        error=None if result.error is None else type(result.error).__name__)
            if result.error is not None:
                self.when_evicted(session, "released", None)

        self.worker.offload(lambda: client.associate(host, limit_hours=hours), put_back)

    # --- unavailable codes ------------------------------------------------------------------

    def _fetch_codes(self, session) -> None:
        """The reasons an agent may give for Unavailable, for the ACD buttons (background)."""
        if session.role != "agent" or not session.profile.group_id:
            return
        client, profile = session.client, session.profile

        def listed(result: Result) -> None:
            if isinstance(result.error, CallCenterError):
                log.info("no unavailable codes: %s", result.error)
            elif result.error is None and self.current() is session:
                session.codes = result.value
                self.when_changed(session)

        self.worker.offload(lambda: client.unavailable_codes(profile), listed)


def _acd_text(state: str | None, code: str | None) -> str | None:
    return f"{state} ({code})" if state and code else state


def _ignore(*args, **kwargs) -> None:
    pass
