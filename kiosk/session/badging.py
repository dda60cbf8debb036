"""Badge taps at the desk: the reader's number becomes a user ID (`badge_resolver`: the unit's
table, then the site's directory), and what that means depends on the desk:

| desk | the tap |
| --- | --- |
| free | fills the sign-in form's user ID (`fill`); the password is still typed |
| the same agent's | offers *Sign out* (`sign_out`), with the usual questions when off hook |
| another agent's | says the desk is taken and by whom (`taken`); nothing changes |
| signing in or out | says so (`busy`); nothing changes |
| unknown badge | says so (`unknown`); the agent types the user ID as before |
| the directory cannot be asked | says so (`directory_down`): an outage, not an unknown badge |

Every tap is in the session log (`badge_read`, `badge_unknown`, `badge_directory_down`) with
the badge as a reference (`#` and 8 hex digits of its keyed hash), never a digit of the number.
The lookup is I/O (a slow hash, a file, LDAP): it runs on the pool, the decision on the worker.
A reader that floods the desk (a rogue device probing which badges are known) is limited: a
few reads at once, then one every 2 s, then ignored with a doubling back-off.

```python
badges = BadgeDesk(worker, clock, record=recorder.record, found=engine_found, show=engine_show)
badges.tapped(number, busy=False)      # from the reader's thread
badges.unreadable("stuck key")
# then, on the worker: show(BadgeTap(...)) for unknown, unreadable, directory down; and for
# a badge found, `badge_kind(desk, user_id)` (machine.py) says what it means at this desk
```
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from concurrent.futures import Future

from kiosk.session.clock import Clock
from kiosk.session.model import BadgeTap, Outcome
from kiosk.session.worker import Result, Worker

log = logging.getLogger(__name__)
_taps = itertools.count(1)


class BadgeDesk:
    """Takes the reader's numbers: the tap limit, the lookup on the pool, the log."""

    def __init__(self, worker: Worker, clock: Clock, *, record: Callable[..., None],
                 found: Callable[[str, str, str], None], show: Callable[[BadgeTap], None]):
        """`found(ref, user_id, source)`: a badge the table or directory knows (on the
        worker; the engine decides what it means at the desk); `show(tap)`: what the screen
        says of any other tap."""
        self.worker = worker
        self.clock = clock
        self.record = record
        self.found = found
        self.show = show
        self.resolver = None  # number -> (user ID, source) or None; set by the wiring
        self._limit = None

    @property
    def limit(self):
        """How many reads the desk takes (a reader flooding it is ignored, with back-off)."""
        if self._limit is None:
            from kiosk.badges import TapLimit

            self._limit = TapLimit(clock=self.clock.monotonic)
        return self._limit

    def tapped(self, number: str, *, busy: bool) -> Future | None:
        """A well-formed read (from the reader's thread, or the demo's button). A tap made
        while a sign-in or sign-out is under way (`busy`, as the desk was when it was made)
        is recorded and changes nothing. Past the tap limit a read is dropped: only the first
        of each back-off is recorded."""
        limit = self.limit
        if not limit.allow():
            if limit.refused == 1:
                wait = round(limit.blocked_for_s)
                log.warning("badge reader: too many reads; ignoring it for %d s", wait)
                return self.worker.submit(lambda: self.record(
                    "badge_read", None, outcome=f"rejected: too many reads; the reader is "
                    f"ignored for {wait} s") or Outcome(False, "too_many"))
            return None
        return self.worker.submit(lambda: self._look_up(number, busy))

    def unreadable(self, reason: str) -> Future | None:
        """The reader typed something that is no badge (garbage, a stuck key, …)."""
        if not self.limit.allow():
            return None

        def say():
            self.record("badge_read", None, outcome=f"rejected: {reason}")
            self.show(BadgeTap("unreadable", seq=next(_taps)))
            return Outcome(False, "unreadable")
        return self.worker.submit(say)

    def _look_up(self, number: str, busy: bool) -> Outcome:
        if busy:
            self.record("badge_read", None, outcome="ignored: a sign-in or sign-out is under way")
            self.show(BadgeTap("busy", seq=next(_taps)))
            return Outcome(False, "busy")
        resolver = self.resolver
        if resolver is None:
            self._answered("#?", Result(value=None))
            return Outcome(True)
        # the lookup (a slow hash, perhaps LDAP) runs on the pool, the decision here
        self.worker.offload(lambda: resolver.look_up(number),
                            lambda result: self._answered(*_split(result)))
        return Outcome(True)

    def _answered(self, ref: str, result: Result) -> None:
        from kiosk.badges import DirectoryUnavailable

        if isinstance(result.error, DirectoryUnavailable):
            log.warning("badge lookup: the directory cannot be asked: %s", result.error)
            self.record("badge_directory_down", None, badge=ref, error=str(result.error))
            self.show(BadgeTap("directory_down", seq=next(_taps)))
            return
        if result.error is not None:
            log.warning("badge lookup failed: %s", result.error)
        found = result.value if result.error is None else None
        if found is None:
            self.record("badge_unknown", None, badge=ref)
            self.show(BadgeTap("unknown", seq=next(_taps)))
            return
        user_id, source = found
        self.found(ref, user_id, source)


def next_tap() -> int:
    return next(_taps)


def _split(result: Result) -> tuple[str, Result]:
    """(reference, what the lookup came to) from `BadgeResolver.look_up`'s result."""
    from kiosk.badges import ReferencedError

    if isinstance(result.error, ReferencedError):
        return result.error.ref, Result(error=result.error.error)
    if result.error is not None:  # no reference: the table or its key could not be read
        return "#?", result
    ref, found = result.value
    return ref, Result(value=found)
