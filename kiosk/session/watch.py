"""The desk watch: every `session.heartbeat_s`, is the server there, is the desk still ours, is
the phone still answering; and, after the connection is lost with *Stay signed in*, the
reconnect attempts with back-off. While the agent's Xsi-Events channel is up, the server
pushes every change and the heartbeat is only the channel's (`PUT …/heartbeat`, which also
tells whether the server is there); while it is down, or while a clean-up of unknown fate may
still land (`must_read`), the heartbeat reads the seat and the ACD state.

```python
watch = DeskWatch(config, worker, clock, host_client=host, phone=link, cleanup=cleanup,
                  sync=sync, limit=association_limit, record=recorder.record,
                  report=engine.report)   # ConnectionLost, Reconnected, Evicted; None: changed
watch.start()
watch.follow(scope, session)              # whom the beats ask about, for as long as `scope`
watch.reconnect(session)                  # after ConnectionLost, to ride it out
```

Every request goes through the scope the engine gave with `follow` (the free desk's, or the
signed-in agent's `online` scope; nothing while a sign-in or sign-out is under way or while the
connection is being re-made): an answer about an agent who has since signed out, or about a
desk that has since been taken, is never delivered. Nothing here waits for the network on the
loop: a *Sign out* tap during an outage is answered at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from hardware.phone import PhoneTimeout
from kiosk.callcenter import XsiClient
from kiosk.config import Config
from kiosk.errors import NETWORK_ERRORS, CallCenterError, InvalidCredentials, NotFound
from kiosk.session.clock import Clock
from kiosk.session.machine import ConnectionLost, Evicted, Reconnected
from kiosk.session.model import Connection, error_code
from kiosk.session.phonelink import PhoneLink
from kiosk.session.policies import AssociationLimit, Backoff
from kiosk.session.scope import Scope, Session
from kiosk.session.worker import Result, Timer, Worker

log = logging.getLogger(__name__)

RECONNECT_BACKOFF = Backoff(2.0, 60.0)


class DeskWatch:
    """The heartbeat and the reconnect attempts; says whether the server answers."""

    def __init__(self, config: Config, worker: Worker, clock: Clock, *,
                 host_client: XsiClient, phone: PhoneLink, cleanup, sync,
                 limit: AssociationLimit, record: Callable[..., None],
                 report: Callable[[object], None]):
        self.config = config
        self.worker = worker
        self.clock = clock
        self.host_client = host_client
        self.phone = phone
        self.cleanup = cleanup  # a release that may land late: read the seat at every beat
        self.sync = sync
        self.limit = limit
        self.record = record
        self.report = report
        self.live = None  # the LiveChannel (made after the watch): a heartbeat's 404 kills it
        self.connection = Connection.UNKNOWN
        self._scope: Scope | None = None
        self._session: Session | None = None
        self._beating: Scope | None = None  # the scope of the beat still out
        self._heartbeat: Timer | None = None
        self.backoff = RECONNECT_BACKOFF.fresh()

    def start(self) -> None:
        self._heartbeat = self.worker.call_every(self.config.session.heartbeat_s, self.beat)

    def stop(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()

    def follow(self, scope: Scope | None, session: Session | None = None) -> None:
        """Beat for the free desk (`session` None) or for `session`, through `scope`;
        `scope` None: only the phone is pinged."""
        self._scope, self._session = scope, session
        self._beating = None

    def _connected(self, connection: Connection) -> None:
        if connection != self.connection:
            self.connection = connection
            self.report(None)

    # --- the heartbeat ----------------------------------------------------------------------

    def beat(self) -> None:
        """Ask the server about the desk (and ping the phone), unless a sign-in or sign-out is
        under way, the connection is being re-made, or the last beat is still out."""
        ping = self.phone.ping_call()
        if ping is not None:
            self.worker.offload(ping, self._pinged)
        scope, session = self._scope, self._session
        if scope is None or scope.closed or self._beating is scope:
            return
        self._beating = scope
        channel = session.live.channel if session is not None and session.live else None
        if channel is not None:
            # the server pushes every change: only the channel's heartbeat, which also tells
            # whether the server is there
            scope.offload(channel.heartbeat, lambda result: self._channel_answered(
                session, channel, result))
            if self.cleanup.late_until() <= self.clock.monotonic():
                return
        if session is not None:
            client, agent = session.client, session.role == "agent"

            def ask():  # the seat, and an agent's ACD state as the server has it now
                return client.hoteling_guest(), client.call_center() if agent else None
        else:
            ask = self.host_client.hoteling_host
        scope.offload(ask, lambda result: self._answered(session, result))

    def _channel_answered(self, session: Session, channel, result: Result) -> None:
        self._beating = None
        if result.error is None:
            self._connected(Connection.OK)
        elif isinstance(result.error, NotFound):
            self.live.channel_dead(session, channel, "the channel is gone (heartbeat 404)")
        else:
            self._failed(session, result.error, "event channel heartbeat")

    def _pinged(self, result: Result) -> None:
        if isinstance(result.error, PhoneTimeout):
            self.phone.went_silent(result.error)
        elif result.error is None:
            self.phone.answered()

    def _answered(self, session: Session | None, result: Result) -> None:
        self._beating = None
        error = result.error
        if session is None and (error is None or isinstance(error, CallCenterError)):
            if result.value is not None:
                self.limit.host_says(result.value)
            self._connected(Connection.LOST if isinstance(error, NETWORK_ERRORS)
                            else Connection.OK)
        elif error is None:
            if self.sync.observed(session, *result.value, why="poll"):
                self._connected(Connection.OK)
        else:
            self._failed(session, error, "heartbeat")

    def _failed(self, session: Session | None, error: BaseException, what: str) -> None:
        """A heartbeat's failure: the password refused, the server gone, or something else
        (logged, nothing more)."""
        if isinstance(error, InvalidCredentials) and session is not None:
            self._rejected(session)
        elif isinstance(error, NETWORK_ERRORS) and session is not None:
            self.record("connection_lost", session.log_id, error=error_code(error),
                        stay_signed_in=session.stay_signed_in)
            self._connected(Connection.LOST)
            self.report(ConnectionLost())
        elif isinstance(error, CallCenterError):
            log.warning("%s: the server answered %s", what, error)
        else:
            log.error("%s failed: %r", what, error)

    def _rejected(self, session: Session) -> None:
        self.record("evicted", session.log_id, why="credentials_rejected", elsewhere=None)
        self.report(Evicted("credentials_rejected"))

    # --- reconnecting -----------------------------------------------------------------------

    def reconnect(self, session: Session) -> None:
        """Ride out an outage: try again after 2 s, doubling to 60 s, until the server answers
        (with the password held in memory) or the session ends (its scope)."""
        self.backoff.reset()
        self._schedule_reconnect(session)

    def _schedule_reconnect(self, session: Session) -> None:
        wait = self.backoff.next()
        session.scope.call_at(self.clock.monotonic() + wait,
                              lambda: self._try_reconnect(session))

    def _try_reconnect(self, session: Session) -> None:
        client = session.client

        def ask():
            client.profile()  # re-authenticates with the password held in memory
            return client.hoteling_guest()

        session.scope.offload(ask, lambda result: self._reconnect_answered(session, result))

    def _reconnect_answered(self, session: Session, result: Result) -> None:
        error = result.error
        if error is None:
            if self.sync.observed(session, result.value, None, why="reconnect"):
                self.record("reconnected", session.log_id)
                self._connected(Connection.OK)
                self.report(Reconnected())
        elif isinstance(error, InvalidCredentials):
            self._rejected(session)
        else:
            retry_in = self.backoff.current
            self._schedule_reconnect(session)
            self.record("reconnect_failed", session.log_id, error=error_code(error),
                        retry_in_s=retry_in)
