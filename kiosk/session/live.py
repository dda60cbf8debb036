"""Live state: the signed-in agent's Xsi-Events channel, opened, kept and closed.

```python
live = LiveChannel(events_factory, worker, clock, current=lambda: engine_session,
                   journal=session_log)
live.when_event = lambda session, event: ...     # every event of the session, on the worker
live.when_up = lambda session: ...               # every subscription is in place: read now
live.when_down = lambda session, why: ...        # not (any more): poll meanwhile
live.open(session)                               # after the sign-in, never on its path
live.close(session)                              # at sign-out: subscriptions deleted
```

One channel per signed-in agent (a supervisor subscribes to `Hoteling Guest` only). It opens
through `Worker.offload` after the sign-in; a failed open or a channel that dies (stream ended,
server restarted, a subscription ended by the server, heartbeat 404 via `channel_dead`) is
reported down and tried again with back-off (5 s doubling to 5 min) until the session ends.

No event is dropped because the channel is still opening: every event of a channel made for
the current session is handed on, the first events of the subscriptions included; `when_up`
then tells the owner to read the state once (*list, then watch*, `ServerSync`). Only events of
a session that has ended, or of a channel already dropped, are dropped.

Subscription IDs are journaled in the session log when they are made and when they are deleted,
so one left over by a power cut (the server answers `409` to the same subscription) is deleted
by its ID: the Xsi interface documents no request that lists a user's subscriptions.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from kiosk.callcenter import codec
from kiosk.errors import SessionLogError
from kiosk.session.clock import Clock
from kiosk.session.worker import Result, Worker

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


class LiveChannel:
    def __init__(self, factory: Callable | None, worker: Worker, clock: Clock, *,
                 current: Callable, journal=None):
        """`factory(user_id, password, packages)`: an `EventChannel`, or None: polling only.
        `journal`: the `SessionLog` that keeps the subscription IDs (None: not kept)."""
        self.factory = factory
        self.worker = worker
        self.clock = clock
        self.current = current
        self.journal = journal
        self.when_event: Callable = _ignore
        self.when_up: Callable = _ignore
        self.when_down: Callable = _ignore
        self._channels: set = set()  # every channel made and not yet closed

    def open(self, session) -> None:
        session.events_timer = None
        if self.factory is None or self.current() is not session or \
                session.reconnecting or session.events is not None:
            return  # (reconnecting: opened again once the server answers)
        packages = codec.EVENT_PACKAGES if session.role == "agent" else ("Hoteling Guest",)
        channel = self.factory(session.user_id, session.password, packages)
        self._channels.add(channel)
        self._journaled(channel, session)
        submit = self.worker.submit
        channel.when_event = lambda event: submit(lambda: self._event(session, channel, event))
        channel.when_closed = lambda why: submit(lambda: self.channel_dead(session, channel, why))
        self.worker.offload(channel.open, lambda result: self._opened(session, channel, result))

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
        if self.current() is not session or channel not in self._channels:
            self._drop(channel)  # the agent left meanwhile
            return
        if result.error is not None:
            log.info("no event channel for %s (polling instead): %s", session.user_id,
                     result.error)
            self._channels.discard(channel)
            self.when_down(session, result.error)
            self._retry(session)
            return
        session.events = channel
        session.events_backoff.reset()
        self.when_up(session)

    def channel_dead(self, session, channel, why: str) -> None:
        """The channel is gone (stream ended, terminated, a subscription ended, heartbeat
        404): poll, and retry."""
        if self.current() is not session or session.events is not channel:
            return
        session.events = None
        self._drop(channel)
        self.when_down(session, why)
        self._retry(session)

    def _retry(self, session) -> None:
        wait = session.events_backoff.next()
        session.events_timer = self.worker.call_at(self.clock.monotonic() + wait,
                                                   lambda: self.open(session))

    def _event(self, session, channel, event: codec.Event) -> None:
        if self.current() is not session or channel not in self._channels:
            return  # for a session that has ended, or from a channel already dropped
        self.when_event(session, event)

    def close(self, session) -> None:
        """Stop trying, and delete the subscriptions and the channel (in the background)."""
        if session.events_timer is not None:
            session.events_timer.cancel()
            session.events_timer = None
        if session.events is not None:
            self._drop(session.events)
            session.events = None

    def _drop(self, channel) -> None:
        self._channels.discard(channel)
        self.worker.in_background(channel.close)

    def close_all(self) -> None:
        """At shutdown, after the worker: every channel still made is closed (twice is
        harmless)."""
        for channel in list(self._channels):
            channel.close()
        self._channels.clear()


def _ignore(*args, **kwargs) -> None:
    pass
