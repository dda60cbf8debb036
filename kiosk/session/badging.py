"""Badge taps at the desk: the reader's number becomes a user ID (`badge_resolver`: the unit's
table, then the site's directory), and what that means depends on the desk:

| desk | the tap |
| --- | --- |
| free | fills the sign-in form's user ID (`fill`); the password is still typed |
| the same agent's | offers *Sign out* (`sign_out`), with the usual questions when off hook |
| another agent's | says the desk is taken and by whom (`taken`); nothing changes |
| signing in or out | says so (`busy`); nothing changes |
| unknown badge | says so (`unknown`); the agent types the user ID as before |

Every tap is in the session log (`badge_read`, `badge_unknown`) with the number masked, never
in clear. The lookup is I/O (a file, LDAP): it runs on the pool, the decision on the worker.

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


def _mask(number: str) -> str:
    from kiosk.badges import mask

    return mask(number)


class BadgeTaps:
    """The engine's answer to a badge tap (a mixin of `DeskEngine`)."""

    badge_resolver = None  # number -> (user ID, source) or None; set by the wiring

    def badge_tapped(self, number: str) -> Future:
        """A well-formed read (from the reader's thread, or the demo's button). A tap made
        while a sign-in or sign-out is under way is recorded and changes nothing (the worker
        only hears of it once that is done, so it is judged by when it was made)."""
        during = self._busy_state is not None  # (read off the worker: a moment's snapshot)
        return self.submit(lambda: self._badge(number, during=during))

    def badge_unreadable(self, reason: str) -> Future:
        """The reader typed something that is no badge (garbage, a stuck key, …)."""
        def unreadable():
            self._record("badge_read", None, outcome=f"rejected: {reason}")
            self._publish(badge=BadgeTap("unreadable", seq=next(_taps)))
            return Outcome(False, "unreadable")
        return self.submit(unreadable)

    def dismiss_badge(self) -> Future:
        return self.submit(lambda: self._publish(badge=None) or Outcome(True))

    def _badge(self, number: str, *, during: bool = False) -> Outcome:
        masked = _mask(number)
        if during or self._busy_state is not None:
            self._record("badge_read", None, badge=masked,
                         outcome="ignored: a sign-in or sign-out is under way")
            if self._busy_state is not None:
                self._publish(badge=BadgeTap("busy", seq=next(_taps)))
            return Outcome(False, "busy")
        resolver = self.badge_resolver
        if resolver is None:
            self._badge_found(masked, Result(value=None))
            return Outcome(True)
        self.worker.offload(lambda: resolver(number),
                            lambda result: self._badge_found(masked, result))
        return Outcome(True)

    def _badge_found(self, masked: str, result: Result) -> None:
        if result.error is not None:
            log.warning("badge lookup failed: %s", result.error)
        found = result.value if result.error is None else None
        session = self._session
        log_id = session.log_id if session is not None else None
        if found is None:
            self._record("badge_unknown", log_id, badge=masked)
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
        self._record("badge_read", log_id, badge=masked, agent=user_id, source=source,
                     outcome=outcome)
        name = session.agent().display_name or session.user_id if session else None
        self._publish(badge=BadgeTap(kind, user_id=user_id, name=name, seq=next(_taps)))
