"""Live state: the signed-in agent's Xsi-Events channel, opened, kept and closed.

```python
live = LiveChannel(events_factory, clock, sync=sync, watch=watch, record=recorder.record,
                   report=engine.report, journal=session_log)
live.open(session)                   # after the sign-in (and each reconnect), in session.online
close = live.close(session)          # the I/O that deletes it: run before the password goes
```

One channel per signed-in agent (a supervisor subscribes to `Hoteling Guest` only). It opens
on the pool after the sign-in, in the session's `online` scope: when the connection is lost
or the session ends, the scope closes and with it the channel, its retries and its events.
A failed open or a channel that dies (stream ended, server restarted, a subscription ended by
the server, heartbeat 404 via `channel_dead`) is reported down and tried again with back-off
(5 s doubling to 5 min).

Every event of the session's channel goes to the server sync (`ServerSync.apply`), the first
events of the subscriptions included; once every subscription is in place the sync reads the
state once (*list, then watch*). While push is down the desk watch polls, and it looks at once
when a channel dies (a change may have been missed meanwhile).

Subscription IDs are journaled in the session log when they are made and when they are deleted,
so one left over by a power cut (the server answers `409` to the same subscription) is deleted
by its ID: the Xsi interface documents no request that lists a user's subscriptions.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from kiosk.callcenter import codec
from kiosk.errors import SessionLogError
from kiosk.session.clock import Clock
from kiosk.session.model import error_code
from kiosk.session.policies import Backoff
from kiosk.session.worker import Result

log = logging.getLogger(__name__)


def default_events_factory(config) -> Callable:
    """Event channels for this desk: one fixed channel set and application ID per kiosk."""
    def make(user_id: str, password, packages: tuple[str, ...]):
        from kiosk.callcenter.events import APPLICATION_ID, EventChannel

        return EventChannel(config.callcenter, user_id, password,
                            channel_set_id=f"hotdesk-{config.desk.id}",
                            application_id=APPLICATION_ID, packages=packages,
                            own_heartbeats=False,  # the desk watch sends them
                            require_all=True)  # a package left out would go unwatched
    return make


@dataclass
class Live:
    """One session's channel (owned by `LiveChannel`)."""

    channel: object | None = None  # the EventChannel while it is up; None: polling
    opening: object | None = None  # one being opened
    backoff: Backoff = field(default_factory=lambda: Backoff(5.0, 300.0))


class LiveChannel:
    """Opens, keeps and closes the agent's event channel; says whether push is up."""

    def __init__(self, factory: Callable | None, clock: Clock, *, sync, watch,
                 record: Callable[..., None], report: Callable[[object], None], journal=None):
        """`factory(user_id, password, packages)`: an `EventChannel`, or None: polling only.
        `journal`: the `SessionLog` that keeps the subscription IDs (None: not kept)."""
        self.factory = factory
        self.clock = clock
        self.sync = sync
        self.watch = watch
        self.record = record
        self.report = report
        self.journal = journal
        self._channels: set = set()  # every channel made and not yet closed

    @staticmethod
    def up(session) -> bool:
        return session is not None and session.live is not None and \
            session.live.channel is not None

    def open(self, session) -> None:
        """Open a channel for `session` while its `online` scope lasts."""
        if session.live is None:
            session.live = Live()
        if self.factory is None or session.online.closed or session.live.channel is not None:
            return
        scope = session.online
        packages = codec.EVENT_PACKAGES if session.role == "agent" else ("Hoteling Guest",)
        channel = self.factory(session.user_id, session.password, packages)
        self._channels.add(channel)
        self._journaled(channel, session)
        channel.when_event = lambda event: scope.post(lambda: self.sync.apply(session, event))
        channel.when_closed = lambda why: scope.post(
            lambda: self.channel_dead(session, channel, why))
        scope.on_close(lambda: self._left(session, channel))
        session.live.opening = channel
        scope.offload(channel.open, lambda result: self._opened(session, channel, result))

    def _journaled(self, channel, session) -> None:
        """The channel learns the IDs left over and tells the journal of new ones (on its own
        threads: the session log is thread-safe, and a failure to write is only logged)."""
        journal = self.journal
        if journal is None or not hasattr(channel, "leftovers"):
            return
        agent, log_id = session.user_id, session.log_id

        def write(kind: str, **detail) -> None:
            with contextlib.suppress(SessionLogError):
                journal.record(kind, log_id, **detail)

        def leftovers() -> list[str]:
            try:
                return journal.subscriptions_left(agent)
            except SessionLogError:
                return []

        channel.leftovers = leftovers
        channel.when_subscribed = lambda package, sub: write(
            "events_subscribed", agent=agent, package=package, subscription_id=sub)
        channel.when_unsubscribed = lambda sub: write("events_unsubscribed",
                                                      subscription_id=sub)

    def _opened(self, session, channel, result: Result) -> None:
        session.live.opening = None
        if result.error is not None:
            log.info("no event channel for %s (polling instead): %s", session.user_id,
                     result.error)
            self._channels.discard(channel)
            self._down(session, result.error, was_up=False)
            self._retry(session)
            return
        session.live.channel = channel
        session.live.backoff.reset()
        self.record("events_up", session.log_id)
        self.report(None)
        self.sync.refresh(session, "subscribed")  # list, then watch: what the opening missed

    def channel_dead(self, session, channel, why: str) -> None:
        """The channel is gone (stream ended, terminated, a subscription ended, heartbeat
        404): poll, and retry."""
        if session.live is None or session.live.channel is not channel:
            return
        session.live.channel = None
        self._drop(channel, session)
        self._down(session, why, was_up=True)
        self._retry(session)

    def _down(self, session, why, *, was_up: bool) -> None:
        backoff = session.live.backoff
        if was_up or backoff.current == backoff.first:  # not every retry
            detail = ({"error": error_code(why)} if isinstance(why, BaseException)
                      else {"reason": why})
            self.record("events_down", session.log_id, **detail)
        if was_up:
            self.report(None)
            self.watch.beat()  # look now: a change may have been missed while it died

    def _retry(self, session) -> None:
        wait = session.live.backoff.next()
        session.online.call_at(self.clock.monotonic() + wait, lambda: self.open(session))

    def _left(self, session, channel) -> None:
        """The online scope closed (connection lost): the channel over a dead network goes
        too, in the background. (At the session's end `close` has taken it already.)"""
        if channel in self._channels:
            self._channels.discard(channel)
            session.scope.worker.in_background(lambda: close_quietly(channel.close))
        if session.live.channel is channel:
            session.live.channel = None
        if session.live.opening is channel:
            session.live.opening = None

    def close(self, session) -> Callable[[], None] | None:
        """At the session's end: stop trying, and hand back the I/O that deletes the
        subscriptions and the channel (its owner runs it before the password is wiped)."""
        live = session.live
        channel = (live.channel or live.opening) if live is not None else None
        if channel is None:
            return None
        live.channel = live.opening = None
        self._channels.discard(channel)
        return channel.close

    def _drop(self, channel, session) -> None:
        self._channels.discard(channel)
        session.scope.offload(channel.close, lambda result: None)

    def close_all(self) -> None:
        """At shutdown, after the worker: every channel still made is closed (twice is
        harmless)."""
        for channel in list(self._channels):
            channel.close()
        self._channels.clear()


def close_quietly(close: Callable[[], object]) -> None:
    """Close an event channel (its DELETEs): a failure is logged, never in the way."""
    try:
        close()
    except Exception as exc:
        log.info("closing an event channel: %s", exc)
