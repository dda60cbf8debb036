"""The desk session engine: sign-in saga, sign-out, policies, Stay signed in, recovery."""

from kiosk.session.clock import Clock, FakeClock, SystemClock
from kiosk.session.engine import DeskEngine
from kiosk.session.model import Agent, Outcome, Snapshot, State, StepProgress, Warning

__all__ = ["Agent", "Clock", "DeskEngine", "FakeClock", "Outcome", "Snapshot", "State",
           "StepProgress", "SystemClock", "Warning"]
