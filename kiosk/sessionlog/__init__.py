"""The session log: who sat at this desk, when, why each session ended, what failed and why."""

from kiosk.sessionlog.store import END_REASONS, OutboxItem, SessionLog, utc_iso

__all__ = ["END_REASONS", "OutboxItem", "SessionLog", "utc_iso"]
