"""Scopes: everything one stretch of the desk's life has running, ended in one call.

A `Scope` owns the timers, requests in flight and flows started through it; `close()` cancels
the timers, abandons the flows at their next step and drops the answers still to come. Nothing
started through a scope outlives it, so no room ever asks "is this still the current
session?": an answer about an agent who has left is never delivered.

```python
scope = Scope(worker)
scope.call_every(15, beat)                  # cancelled at close
scope.offload(client.hoteling_guest, seen)  # `seen` runs only while the scope is open
scope.run(flow())                           # abandoned at close
scope.post(fn)                              # from any thread: fn on the worker, if still open
scope.on_close(channel_close)               # run once, at close
scope.close()
```

The engine keeps one `Session` (below) per signed-in agent, with two scopes: `scope`, the whole
session (its reconnect attempts, its unavailable codes), and `online`, the stretch while the
server answers (event channel, resync, policy ticks): closed when the connection is lost, a new
one when it is back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from hardware.phone import GuestLine
from kiosk.callcenter import XsiClient, codec
from kiosk.secret import Secret
from kiosk.session.model import Agent
from kiosk.session.worker import Result, Timer, Worker

log = logging.getLogger(__name__)


class Scope:
    def __init__(self, worker: Worker, name: str = ""):
        self.worker = worker
        self.name = name
        self.closed = False
        self._timers: set[Timer] = set()
        self._on_close: list[Callable[[], object]] = []

    def __repr__(self) -> str:
        return f"<Scope {self.name} {'closed' if self.closed else 'open'}>"

    # --- on the worker ----------------------------------------------------------------------

    def call_at(self, at: float, fn: Callable[[], object]) -> Timer | None:
        if self.closed:
            return None
        timer: Timer

        def fire() -> None:
            self._timers.discard(timer)
            fn()

        timer = self.worker.call_at(at, fire)
        self._timers.add(timer)
        return timer

    def call_every(self, interval: float, fn: Callable[[], object], *,
                   first: float | None = None) -> Timer | None:
        if self.closed:
            return None
        timer = self.worker.call_every(interval, fn, first=first)
        self._timers.add(timer)
        return timer

    def offload(self, io: Callable[[], object], then: Callable[[Result], object]) -> Future:
        """`io` on the pool; `then(Result)` on the worker, unless the scope has closed."""
        return self.worker.offload(io, lambda result: None if self.closed else then(result))

    def run(self, flow) -> Future:
        """Drive a flow (`Worker.run`) that ends with the scope."""
        return self.worker.run(flow, when_closed=lambda: self.closed)

    def post(self, fn: Callable[[], object]) -> None:
        """From any thread (a driver's, a channel's): `fn` on the worker, if still open."""
        self.worker.submit(lambda: None if self.closed else fn())

    def on_close(self, fn: Callable[[], object]) -> None:
        self._on_close.append(fn)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        callbacks, self._on_close = self._on_close, []
        for fn in callbacks:
            try:
                fn()
            except Exception:
                log.exception("closing %r failed", self)


@dataclass
class ServerView:
    """The server's view of the signed-in agent, as the kiosk last reconciled it. Written only
    by `ServerSync` (`sync.py`)."""

    acd_state: str | None = None
    unavailable_code: str | None = None
    codes: codec.UnavailableCodes | None = None  # the group's, once read
    epoch: int = 0  # events and own writes applied: a read that overlapped one is read again
    sequence: dict[str, int] = field(default_factory=dict)  # subscription -> last number
    acd_stamp: int | None = None  # the newest ACD state's own timestamp (ms)
    unexplained: tuple | None = None  # (shown, server, timer): a difference its push may explain


@dataclass(eq=False)
class Session:
    """The agent signed in at this desk (compared by identity: a new sign-in is a new one).
    Its fields are set once at sign-in; what changes lives in the parts each room owns:
    `view` (`ServerSync`), `policy` (`PolicyKeeper`), `live` (`LiveChannel`)."""

    log_id: int | None
    user_id: str
    profile: codec.Profile
    client: XsiClient
    password: Secret
    language: str
    stay_signed_in: bool
    since: str
    line: GuestLine
    role: str  # "agent" or "supervisor"
    scope: Scope
    online: Scope  # while the server answers; replaced when it answers again
    view: ServerView = field(default_factory=ServerView)
    policy: object | None = None  # the PolicyKeeper's `Policies`
    live: object | None = None  # the LiveChannel's `Live`

    def offered_codes(self) -> tuple[tuple[str, str], ...]:
        """The unavailable codes the agent may pick: (code, description)."""
        offered = self.view.codes.offered if self.view.codes is not None else ()
        return tuple((c.code, c.description or c.code) for c in offered)

    def code_for(self, state: str, picked: str | None) -> str | None:
        """The unavailable code to send with `state`: none but for *Unavailable*, where a
        group that forces codes gets its default when the agent picked none."""
        if state != "Unavailable":
            return None
        codes = self.view.codes
        return codes.code_for_unavailable(picked) if codes is not None else picked

    def agent(self) -> Agent:
        profile = self.profile
        return Agent(
            user_id=self.user_id, first_name=profile.first_name or "",
            last_name=profile.last_name or "", number=profile.number or "",
            extension=profile.extension or "", language=self.language,
            stay_signed_in=self.stay_signed_in, since=self.since,
            acd_state=self.view.acd_state, unavailable_code=self.view.unavailable_code,
            role=self.role)

    def end(self) -> None:
        """Close both scopes: every timer, request and flow of the session stops."""
        self.online.close()
        self.scope.close()
