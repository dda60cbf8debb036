"""Live state: the signed-in agent's Xsi-Events channel, opened, kept and closed.

```python
live = LiveChannel(events_factory, worker, clock, current=lambda: engine_session,
                   busy=lambda: signing_in_or_out)
live.when_acd = lambda session, state, code: ...     # the ACD state, whoever changed it
live.when_guest = lambda session, guest: ...         # the seat (another desk, or none)
live.when_unassigned = lambda session: ...           # the Hoteling Guest service was removed
live.when_up = lambda session: ...                   # changes are pushed from now on
live.when_down = lambda session, why: ...            # not (any more): poll meanwhile
live.open(session)                                   # after the sign-in, never on its path
live.close(session)                                  # at sign-out: subscriptions deleted
```

One channel per signed-in agent (a supervisor subscribes to `Hoteling Guest` only). It opens
through `Worker.offload` after the sign-in; a failed open or a channel that dies (stream ended,
server restarted, heartbeat 404 via `channel_dead`) is reported down and tried again with
back-off (5 s doubling to 5 min) until the session ends. Events are handled on the worker and
dropped when they belong to a session that has ended or is ending. Its heartbeats are the desk
watch's (`DeskWatch`), on the engine's clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from kiosk.callcenter import codec
from kiosk.session.clock import Clock
from kiosk.session.saga import Session
from kiosk.session.worker import Result, Worker

log = logging.getLogger(__name__)


class LiveChannel:
    def __init__(self, factory: Callable | None, worker: Worker, clock: Clock, *,
                 current: Callable[[], Session | None], busy: Callable[[], bool]):
        """`factory(user_id, password, packages)`: an `EventChannel`, or None: polling only."""
        self.factory = factory
        self.worker = worker
        self.clock = clock
        self.current = current
        self.busy = busy
        self.when_acd: Callable = _ignore
        self.when_guest: Callable = _ignore
        self.when_unassigned: Callable = _ignore
        self.when_up: Callable = _ignore
        self.when_down: Callable = _ignore
        self._channels: set = set()  # every channel made and not yet closed

    def open(self, session: Session) -> None:
        session.events_timer = None
        if self.factory is None or self.current() is not session or \
                session.reconnecting or session.events is not None:
            return  # (reconnecting: opened again once the server answers)
        packages = codec.EVENT_PACKAGES if session.role == "agent" else ("Hoteling Guest",)
        channel = self.factory(session.user_id, session.password, packages)
        self._channels.add(channel)
        submit = self.worker.submit
        channel.when_event = lambda event: submit(lambda: self._event(session, channel, event))
        channel.when_closed = lambda why: submit(lambda: self.channel_dead(session, channel, why))
        self.worker.offload(channel.open, lambda result: self._opened(session, channel, result))

    def _opened(self, session: Session, channel, result: Result) -> None:
        if self.current() is not session:
            self._drop(channel)  # the agent left meanwhile
            return
        if result.error is not None:
            log.info("no event channel for %s (polling instead): %s", session.user_id,
                     result.error)
            self.when_down(session, result.error)
            self._retry(session)
            return
        session.events = channel
        session.events_backoff.reset()
        self.when_up(session)

    def channel_dead(self, session: Session, channel, why: str) -> None:
        """The channel is gone (stream ended, terminated, heartbeat 404): poll, and retry."""
        if self.current() is not session or session.events is not channel:
            return
        session.events = None
        self._drop(channel)
        self.when_down(session, why)
        self._retry(session)

    def _retry(self, session: Session) -> None:
        wait = session.events_backoff.next()
        session.events_timer = self.worker.call_at(self.clock.monotonic() + wait,
                                                   lambda: self.open(session))

    def _event(self, session: Session, channel, event: codec.Event) -> None:
        if self.current() is not session or session.events is not channel or self.busy():
            return  # for a session that has ended (or is ending)
        if event.kind in ("AgentStateEvent", "AgentSubscriptionEvent"):
            self.when_acd(session, event.acd_state, event.unavailable_code)
        elif event.kind == "HotelingGuestEvent":
            if event.unassigned:
                self.when_unassigned(session)
            elif event.guest is not None:
                self.when_guest(session, event.guest)

    def close(self, session: Session) -> None:
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
