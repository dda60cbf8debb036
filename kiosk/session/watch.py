"""The desk watch: every `session.heartbeat_s`, is the server there, is the desk still ours, is
the phone still answering; and, after the connection is lost with *Stay signed in*, the
reconnect attempts with back-off. While the agent's Xsi-Events channel is up, the server
pushes every change and the heartbeat is only the channel's (`PUT …/heartbeat`, which also
tells whether the server is there); while it is down, or while a clean-up of unknown fate may
still land (`must_read`), the heartbeat reads the seat and the ACD state.

```python
watch = DeskWatch(config, worker, clock, host_client=host, phone=link,
                  session=lambda: engine_session, busy=lambda: signing_in_or_out)
watch.when_guest = lambda session, guest, call_center: ...  # the seat and ACD state
watch.when_host = lambda host, error: ...              # the idle desk, as its host sees it
watch.when_lost = lambda session, error: ...           # the server is unreachable
watch.when_rejected = lambda session: ...              # the agent's password no longer works
watch.when_reconnected = lambda session, guest: ...
watch.when_alive = lambda: ...                          # the channel's heartbeat answered
watch.when_channel_dead = lambda session, channel: ...  # it answered 404: poll, re-open
watch.start()
watch.reconnect(session)                                # after when_lost, to ride it out
```

Every request goes through `Worker.offload`; the results come back on the worker and are
checked against the session they were asked for (by identity), so an answer about an agent who
has since signed out is dropped. Nothing here waits for the network on the worker: a *Sign out*
tap during an outage is answered at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from hardware.phone import PhoneTimeout
from kiosk.callcenter import XsiClient
from kiosk.config import Config
from kiosk.errors import NETWORK_ERRORS, CallCenterError, InvalidCredentials, NotFound
from kiosk.session.clock import Clock
from kiosk.session.phonelink import PhoneLink
from kiosk.session.policies import Backoff
from kiosk.session.saga import Session
from kiosk.session.worker import Result, Timer, Worker

log = logging.getLogger(__name__)

RECONNECT_BACKOFF = Backoff(2.0, 60.0)


class DeskWatch:
    def __init__(self, config: Config, worker: Worker, clock: Clock, *,
                 host_client: XsiClient, phone: PhoneLink,
                 session: Callable[[], Session | None], busy: Callable[[], bool],
                 must_read: Callable[[], bool] = lambda: False):
        """`must_read()`: read the seat at this beat even while push is up (a clean-up that
        may land late is watched for)."""
        self.config = config
        self.worker = worker
        self.clock = clock
        self.host_client = host_client
        self.phone = phone
        self.session = session
        self.busy = busy
        self.must_read = must_read
        self.when_guest: Callable = _ignore
        self.when_host: Callable = _ignore
        self.when_lost: Callable = _ignore
        self.when_rejected: Callable = _ignore
        self.when_reconnected: Callable = _ignore
        self.when_reconnect_failed: Callable = _ignore
        self.when_channel_dead: Callable = _ignore
        self.when_alive: Callable = _ignore
        self._beating = False
        self._heartbeat: Timer | None = None
        self._reconnect: Timer | None = None
        self.backoff = RECONNECT_BACKOFF.fresh()

    def start(self) -> None:
        self._heartbeat = self.worker.call_every(self.config.session.heartbeat_s, self.beat)

    def stop(self) -> None:
        for timer in (self._heartbeat, self._reconnect):
            if timer is not None:
                timer.cancel()

    # --- the heartbeat ----------------------------------------------------------------------

    def beat(self) -> None:
        """Ask the server about the desk (and ping the phone), unless a sign-in or sign-out is
        under way, the connection is being re-made, or the last beat is still out."""
        session = self.session()
        if self._beating or self.busy() or (session is not None and session.reconnecting):
            return
        ping = self.phone.ping_call()
        if ping is not None:
            self.worker.offload(ping, self._pinged)
        self._beating = True
        if session is not None and session.events is not None:
            # the server pushes every change: only the channel's heartbeat, which also tells
            # whether the server is there
            channel = session.events
            self.worker.offload(channel.heartbeat, lambda result: self._channel_answered(
                session, channel, result))
            if not self.must_read():
                return
        if session is not None:
            client, agent = session.client, session.role == "agent"

            def ask():  # the seat, and an agent's ACD state as the server has it now
                return client.hoteling_guest(), client.call_center() if agent else None
        else:
            ask = self.host_client.hoteling_host
        self.worker.offload(ask, lambda result: self._answered(session, result))

    def _channel_answered(self, asked_for: Session, channel, result: Result) -> None:
        self._beating = False
        if self.session() is not asked_for or asked_for.events is not channel or self.busy():
            return
        if result.error is None:
            self.when_alive()
        elif isinstance(result.error, NotFound):
            self.when_channel_dead(asked_for, channel)
        else:
            self._failed(asked_for, result.error, "event channel heartbeat")

    def _pinged(self, result: Result) -> None:
        if isinstance(result.error, PhoneTimeout):
            self.phone.went_silent(result.error)
        elif result.error is None:
            self.phone.answered()

    def _answered(self, asked_for: Session | None, result: Result) -> None:
        self._beating = False
        if self.session() is not asked_for or self.busy():
            return  # the session changed meanwhile: this answer is stale
        error = result.error
        if asked_for is None and (error is None or isinstance(error, CallCenterError)):
            self.when_host(result.value, error)
        elif error is None:
            self.when_guest(asked_for, *result.value)
        else:
            self._failed(asked_for, error, "heartbeat")

    def _failed(self, session: Session | None, error: BaseException, what: str) -> None:
        """A heartbeat's failure: the password refused, the server gone, or something else
        (logged, nothing more)."""
        if isinstance(error, InvalidCredentials) and session is not None:
            self.when_rejected(session)
        elif isinstance(error, NETWORK_ERRORS) and session is not None:
            self.when_lost(session, error)
        elif isinstance(error, CallCenterError):
            log.warning("%s: the server answered %s", what, error)
        else:
            log.error("%s failed: %r", what, error)

    # --- reconnecting -----------------------------------------------------------------------

    def reconnect(self, session: Session) -> None:
        """Ride out an outage: try again after 2 s, doubling to 60 s, until the server answers
        (with the password held in memory) or the session ends."""
        self.backoff.reset()
        self._schedule_reconnect(session)

    def _schedule_reconnect(self, session: Session) -> None:
        wait = self.backoff.next()
        self._reconnect = self.worker.call_at(self.clock.monotonic() + wait,
                                              lambda: self._try_reconnect(session))

    def _try_reconnect(self, session: Session) -> None:
        if self.session() is not session or not session.reconnecting:
            return

        client = session.client

        def ask():
            client.profile()  # re-authenticates with the password held in memory
            return client.hoteling_guest()

        self.worker.offload(ask, lambda result: self._reconnect_answered(session, result))

    def _reconnect_answered(self, session: Session, result: Result) -> None:
        if self.session() is not session or not session.reconnecting:
            return
        error = result.error
        if error is None:
            self.when_reconnected(session, result.value)
        elif isinstance(error, InvalidCredentials):
            self.when_rejected(session)
        else:
            retry_in = self.backoff.current
            self._schedule_reconnect(session)
            self.when_reconnect_failed(session, error, retry_in)


def _ignore(*args, **kwargs) -> None:
    pass
