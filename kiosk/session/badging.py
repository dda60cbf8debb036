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

`BadgeTaps` is mixed into `DeskEngine` (`engine.py`) as `ServerReactions` is.
"""

from __future__ import annotations

import itertools
import logging
from concurrent.futures import Future

from kiosk.callcenter.codec import same_user
from kiosk.session.model import BadgeTap, Outcome
from kiosk.session.worker import Result

log = logging.getLogger(__name__)
_taps = itertools.count(1)


class BadgeTaps:
    """The engine's answer to a badge tap (a mixin of `DeskEngine`)."""

    badge_resolver = None  # number -> (user ID, source) or None; set by the wiring
    _tap_limit = None

    @property
    def tap_limit(self):
        """How many reads the desk takes (a reader flooding it is ignored, with back-off)."""
        if self._tap_limit is None:
            from kiosk.badges import TapLimit

            self._tap_limit = TapLimit(clock=self.clock.monotonic)
        return self._tap_limit

    def badge_tapped(self, number: str) -> Future | None:
        """A well-formed read (from the reader's thread, or the demo's button). A tap made
        while a sign-in or sign-out is under way is recorded and changes nothing (the worker
        only hears of it once that is done, so it is judged by when it was made). Past the
        tap limit a read is dropped: only the first of each back-off is recorded."""
        limit = self.tap_limit
        if not limit.allow():
            if limit.refused == 1:
                wait = round(limit.blocked_for_s)
                log.warning("badge reader: too many reads; ignoring it for %d s", wait)
                return self.submit(lambda: self._record(
                    "badge_read", None, outcome=f"rejected: too many reads; the reader is "
                    f"ignored for {wait} s") or Outcome(False, "too_many"))
            return None
        during = self._busy_state is not None  # (read off the worker: a moment's snapshot)
        return self.submit(lambda: self._badge(number, during=during))

    def badge_unreadable(self, reason: str) -> Future | None:
        """The reader typed something that is no badge (garbage, a stuck key, …)."""
        limit = self.tap_limit
        if not limit.allow():
            return None

        def unreadable():
            self._record("badge_read", None, outcome=f"rejected: {reason}")
            self._publish(badge=BadgeTap("unreadable", seq=next(_taps)))
            return Outcome(False, "unreadable")
        return self.submit(unreadable)

    def dismiss_badge(self) -> Future:
        return self.submit(lambda: self._publish(badge=None) or Outcome(True))

    def _badge(self, number: str, *, during: bool = False) -> Outcome:
        if during or self._busy_state is not None:
            self._record("badge_read", None,
                         outcome="ignored: a sign-in or sign-out is under way")
            if self._busy_state is not None:
                self._publish(badge=BadgeTap("busy", seq=next(_taps)))
            return Outcome(False, "busy")
        resolver = self.badge_resolver
        if resolver is None:
            self._badge_found("#?", Result(value=None))
            return Outcome(True)
        # the lookup (a slow hash, perhaps LDAP) runs on the pool, the decision here
        self.worker.offload(lambda: resolver.look_up(number),
                            lambda result: self._badge_found(*_split(result)))
        return Outcome(True)

    def _badge_found(self, ref: str, result: Result) -> None:
        from kiosk.badges import DirectoryUnavailable

        session = self._session
        log_id = session.log_id if session is not None else None
        if isinstance(result.error, DirectoryUnavailable):
            log.warning("badge lookup: the directory cannot be asked: %s", result.error)
            self._record("badge_directory_down", log_id, badge=ref, error=str(result.error))
            self._publish(badge=BadgeTap("directory_down", seq=next(_taps)))
            return
        if result.error is not None:
            log.warning("badge lookup failed: %s", result.error)
        found = result.value if result.error is None else None
        if found is None:
            self._record("badge_unknown", log_id, badge=ref)
            self._publish(badge=BadgeTap("unknown", seq=next(_taps)))
            return
        user_id, source = found
        if self._busy_state is not None:
            kind, outcome = "busy", "ignored: a sign-in or sign-out is under way"
        elif session is None:
            kind, outcome = "fill", "user ID filled in"
        elif same_user(user_id, session.user_id):
            kind, outcome = "sign_out", "sign-out offered"
        else:
            kind, outcome = "taken", "the desk is taken"
        self._record("badge_read", log_id, badge=ref, agent=user_id, source=source,
                     outcome=outcome)
        name = session.agent().display_name or session.user_id if session else None
        self._publish(badge=BadgeTap(kind, user_id=user_id, name=name, seq=next(_taps)))


def _split(result: Result) -> tuple[str, Result]:
    """(reference, what the lookup came to) from `BadgeResolver.look_up`'s result."""
    from kiosk.badges import ReferencedError

    if isinstance(result.error, ReferencedError):
        return result.error.ref, Result(error=result.error.error)
    if result.error is not None:  # no reference: the table or its key could not be read
        return "#?", result
    ref, found = result.value
    return ref, Result(value=found)
