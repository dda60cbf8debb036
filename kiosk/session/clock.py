"""Time, injected. Durations and deadlines use the monotonic reading (a Pi has no battery clock
and its wall clock may jump at boot); the wall clock is for the record and for local times of
day such as the end of the working day."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    #: False for a clock that moves only when told to: the engine then waits for
    #: `when_advanced` instead of sleeping until a deadline.
    moves_by_itself: bool
    #: Called after the clock moves by itself out of turn (a fake clock's `advance`).
    when_advanced: list[Callable[[], None]]

    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    def now(self) -> datetime:
        """Local time, timezone-aware."""
        ...


class SystemClock:
    """The real clocks."""

    moves_by_itself = True

    def __init__(self):
        self.when_advanced: list[Callable[[], None]] = []  # never called: time just passes

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def now(self) -> datetime:
        return datetime.now().astimezone()


class FakeClock:
    """A clock that moves only when told to (`advance`), for tests of policies and timers.

    `when_advanced` callbacks run after each advance (the engine uses one to re-check its
    timers at once).
    """

    moves_by_itself = False

    def __init__(self, start: datetime | None = None, monotonic: float = 1000.0):
        self._now = start or datetime(2026, 11, 27, 9, 0).astimezone()
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self.when_advanced: list[Callable[[], None]] = []

    def monotonic(self) -> float:
        with self._lock:
            return self._monotonic

    def time(self) -> float:
        with self._lock:
            return self._now.timestamp()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._monotonic += seconds
            self._now += timedelta(seconds=seconds)
        for callback in list(self.when_advanced):
            callback()
