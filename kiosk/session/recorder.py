"""The session log, never in the way: every room writes through one `Recorder`, and a write
that fails is surfaced (`problem`, shown to facilities by the snapshot), never raised."""

from __future__ import annotations

from collections.abc import Callable

from kiosk.errors import SessionLogError
from kiosk.sessionlog import SessionLog


class Recorder:
    def __init__(self, session_log: SessionLog, changed: Callable[[], None]):
        self.session_log = session_log
        self.changed = changed  # the problem came or went: publish
        self.problem: str | None = None

    def __call__(self, fn: Callable, *args, **kwargs):
        """Call a session-log method; None when it failed."""
        try:
            result = fn(*args, **kwargs)
        except SessionLogError as exc:
            if self.problem != str(exc):
                self.problem = str(exc)
                self.changed()
            return None
        if self.problem is not None:
            self.problem = None
            self.changed()
        return result

    def record(self, kind: str, session: int | None = None, **detail) -> None:
        self(self.session_log.record, kind, session, **detail)
