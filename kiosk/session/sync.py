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

**The one home of the server's view.** `session.view` (`ServerView`) is written here and
nowhere else: pushed events, reads, and the kiosk's own writes (`set_acd_state`, which counts
as a change, so that a read that overlapped it is read again rather than flipping the screen
back and logging a false correction).

```python
sync = ServerSync(config, clock, cleanup=cleanup, limit=association_limit,
                  record=recorder.record, report=engine.report)  # Evicted(why), or None: changed
sync.start(session)                                  # after the sign-in: codes
sync.go_online(session)                              # the resync timer, in session.online
sync.refresh(session, "subscribed")                  # list, after watch
sync.apply(session, event)                           # a pushed event (on the worker)
sync.observed(session, guest, call_center, why="poll")
outcome = yield from sync.set_acd_state(session, "Available", None)   # a flow
```

Everything here runs on the engine's worker; reads go through the session's scopes, so an
answer about a session that has ended (or gone offline) is never applied.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from kiosk.callcenter import codec
from kiosk.callcenter.codec import same_user
from kiosk.config import Config
from kiosk.errors import CallCenterError
from kiosk.session.clock import Clock
from kiosk.session.machine import Evicted
from kiosk.session.model import Outcome, error_code
from kiosk.session.policies import AssociationLimit
from kiosk.session.worker import Result

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


class ServerSync:
    def __init__(self, config: Config, clock: Clock, *, cleanup, limit: AssociationLimit,
                 record: Callable[..., None], report: Callable[[object], None]):
        """`cleanup`: the `ServerCleanup` (whether a release of this desk may still land);
        `report(event)`: `Evicted` into the engine's state machine, None for "changed"."""
        self.config = config
        self.clock = clock
        self.cleanup = cleanup
        self.limit = limit
        self.record = record
        self.report = report
        self.corrections = 0

    # --- the session's life -----------------------------------------------------------------

    def start(self, session) -> None:
        """After the sign-in: the ACD state it set, and the unavailable codes."""
        if session.role == "agent":
            session.view.acd_state = self.config.callcenter.initial_acd_state
        self._fetch_codes(session)

    def go_online(self, session) -> None:
        """The resync timer, for as long as the server answers (`session.online`)."""
        every = self.config.session.resync_s
        session.online.call_every(every, lambda: self._resync(session),
                                  first=self.clock.monotonic() + every)
        session.online.on_close(lambda: self._explained(session))

    def _resync(self, session) -> None:
        if session.live is not None and session.live.channel is not None:
            self.refresh(session, "resync")  # (while push is down, the heartbeat reads)

    def _evicted(self, session, why: str, elsewhere: str | None) -> None:
        self.record("evicted", session.log_id, why=why, elsewhere=elsewhere)
        self.report(Evicted(why))

    def _changed(self) -> None:
        self.report(None)

    # --- reads ------------------------------------------------------------------------------

    def refresh(self, session, why: str, attempt: int = 0) -> None:
        """Read the seat and (an agent's) ACD state, and reconcile with `why` as the reason."""
        client, agent = session.client, session.role == "agent"
        epoch = session.view.epoch

        def read():
            return client.hoteling_guest(), client.call_center() if agent else None

        def answered(result: Result) -> None:
            if result.error is not None:  # the heartbeat judges the connection
                log.info("could not read the server's state (%s): %s", why, result.error)
            elif session.view.epoch == epoch:
                self.observed(session, *result.value, why=why)
            elif attempt < MAX_REREADS:
                self.refresh(session, why, attempt + 1)  # an event overlapped: read again
            else:  # events keep coming, each later than a read: they stand until the resync
                log.info("the server's state changes faster than it can be read (%s)", why)

        session.online.offload(read, answered)

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
                self._evicted(session, "released", None)
            elif event.guest is not None:
                self._seat(session, event.guest, "push")

    # --- reconciling ------------------------------------------------------------------------

    def _seat(self, session, guest: codec.HotelingGuest, why: str) -> bool:
        here = self.config.desk.host_user_id
        seat = (guest.host_user_id or "").strip() or None
        if same_user(seat, here):
            return True
        if seat is None and self.cleanup.late_until() > self.clock.monotonic():
            self._repair(session, why)
            return True
        if why in CORRECTING:
            self._corrected(session, why, "seat", here, seat)
        self._evicted(session, "moved" if seat else "released", seat)
        return False

    def _acd(self, session, state: str | None, code: str | None, why: str) -> None:
        if state in (None, "Sign-In") or session.role != "agent":
            return  # transitional, or a supervisor
        code = code if state == "Unavailable" else None
        view = session.view
        if (state, code) == (view.acd_state, view.unavailable_code):
            return
        shown, server = _acd_text(view.acd_state, view.unavailable_code), _acd_text(state, code)
        if why == "subscribed":  # a correction only if its push does not follow
            self._explained(session)
            timer = session.online.call_at(self.clock.monotonic() + PUSH_GRACE_S,
                                           lambda: self._unexplained(session))
            view.unexplained = (shown, server, timer)
        elif why in CORRECTING:
            self._corrected(session, why, "acd_state", shown, server)
        elif why != "own":
            self.record("acd_state_seen", session.log_id, state=state, unavailable_code=code)
        view.acd_state, view.unavailable_code = state, code
        self._changed()

    def set_acd_state(self, session, state: str, code: str | None):
        """The agent's choice, written to the server and then into the view like any change
        (a flow: returns an Outcome)."""
        session.view.epoch += 1  # a read on the network now is read again
        try:
            yield lambda: session.client.set_acd_state(state, unavailable_code=code)
        except CallCenterError as exc:
            return Outcome(False, error_code(exc), str(exc))
        session.view.epoch += 1
        self.record("acd_state", session.log_id, state=state, unavailable_code=code)
        self._acd(session, state, code, "own")
        return Outcome(True)

    def _explained(self, session) -> None:
        pending, session.view.unexplained = session.view.unexplained, None
        if pending is not None and pending[2] is not None:
            pending[2].cancel()

    def _unexplained(self, session) -> None:
        pending, session.view.unexplained = session.view.unexplained, None
        if pending is not None:
            self._corrected(session, "subscribed", "acd_state", pending[0], pending[1])

    def _corrected(self, session, why: str, what: str, shown, server) -> None:
        self.corrections += 1
        log.warning("the server's %s differed from the kiosk's (%s): %s, not %s", what, why,
                    server, shown)
        self.record("resync_corrected", session.log_id, what=what, shown=shown, server=server,
                    found_by=why)

    def _repair(self, session, why: str) -> None:
        """Our own late clean-up freed the desk under this agent: sit him down again."""
        self.cleanup.late_landed()  # once per landing: a second release is somebody's decision
        client, host = session.client, self.config.desk.host_user_id
        hours = self.limit.hours()

        def put_back(result: Result) -> None:
            self.record("late_cleanup_repaired", session.log_id, found_by=why,
                        error=None if result.error is None else type(result.error).__name__)
            if result.error is not None:
                self._evicted(session, "released", None)

        session.scope.offload(lambda: client.associate(host, limit_hours=hours), put_back)

    # --- unavailable codes ------------------------------------------------------------------

    def _fetch_codes(self, session) -> None:
        """The reasons an agent may give for Unavailable, for the ACD buttons (background)."""
        if session.role != "agent" or not session.profile.group_id:
            return
        client, profile = session.client, session.profile

        def listed(result: Result) -> None:
            if isinstance(result.error, CallCenterError):
                log.info("no unavailable codes: %s", result.error)
            elif result.error is None:
                session.view.codes = result.value
                self._changed()

        session.scope.offload(lambda: client.unavailable_codes(profile), listed)


def _acd_text(state: str | None, code: str | None) -> str | None:
    return f"{state} ({code})" if state and code else state

