"""Session policies: pure functions and small state machines over injected monotonic time.

- `Throttle`: failed passwords per user ID and per kiosk, with a doubling cool-down, so that the
  kiosk stops well below BroadWorks' own account lockout;
- `deadlines`: when the association limit and the end of the day sign the agent out;
- `Idle`: no touch and no hook activity for too long;
- `decide`: what the policies say now (warn, sign out, wait for the hang-up, or nothing);
- `Backoff`: the doubling wait between tries (reconnecting, paying what the outbox owes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta


@dataclass
class Backoff:
    """A wait that doubles on every try, from `first` up to `longest`; `reset()` after a
    success. `fresh()` gives an independent copy of a template."""

    first: float
    longest: float
    current: float = 0.0

    def __post_init__(self):
        self.current = self.current or self.first

    def fresh(self) -> Backoff:
        return Backoff(self.first, self.longest)

    def next(self) -> float:
        """The wait before the next try; the one after it is twice as long."""
        wait = self.current
        self.current = min(self.current * 2, self.longest)
        return wait

    def reset(self) -> None:
        self.current = self.first


@dataclass
class _Failures:
    count: int = 0
    locked_until: float = 0.0


class Throttle:
    """Failed-password throttle.

    After `max_failures` failures for one user ID, further tries wait `cooldown_s`, doubling
    with each further failure. The kiosk as a whole has the same rule at `kiosk_factor` times
    the failures (several people may mistype; one person trying many IDs may not). A success
    clears that user's count and the kiosk's.
    """

    def __init__(self, *, max_failures: int = 3, cooldown_s: float = 30, kiosk_factor: int = 2):
        self.max_failures = max_failures
        self.cooldown_s = cooldown_s
        self.kiosk_max = max_failures * kiosk_factor
        self._users: dict[str, _Failures] = {}
        self._kiosk = _Failures()

    def wait_s(self, user_id: str, now: float) -> float:
        """Seconds before `user_id` may try again at this kiosk (0 = now)."""
        user = self._users.get(user_id, _Failures())
        return max(0.0, user.locked_until - now, self._kiosk.locked_until - now)

    def record_failure(self, user_id: str, now: float) -> float:
        """Count a wrong password; returns the wait it now imposes."""
        user = self._users.setdefault(user_id, _Failures())
        for entry, limit in ((user, self.max_failures), (self._kiosk, self.kiosk_max)):
            entry.count += 1
            if entry.count >= limit:
                doublings = entry.count - limit
                entry.locked_until = now + self.cooldown_s * (2 ** min(doublings, 10))
        return self.wait_s(user_id, now)

    def record_success(self, user_id: str) -> None:
        self._users.pop(user_id, None)
        self._kiosk = _Failures()

    def failures(self, user_id: str) -> int:
        return self._users.get(user_id, _Failures()).count


def end_of_day_after(start: datetime, end_of_day: time) -> datetime:
    """The first moment at `end_of_day` (local) after `start`."""
    candidate = start.replace(hour=end_of_day.hour, minute=end_of_day.minute, second=0,
                              microsecond=0)
    if candidate <= start:
        candidate += timedelta(days=1)
    return candidate


@dataclass(frozen=True)
class Deadline:
    kind: str  # "limit", "end_of_day", "idle"
    at: float  # monotonic
    can_extend: bool


def deadlines(*, started_mono: float, started_local: datetime, limit_hours: float,
              end_of_day: time | None, allow_extend: bool) -> list[Deadline]:
    """The fixed deadlines of a session that started at `started_mono` / `started_local`."""
    result = [Deadline("limit", started_mono + limit_hours * 3600, allow_extend)]
    if end_of_day is not None:
        eod = end_of_day_after(started_local, end_of_day)
        result.append(Deadline("end_of_day",
                               started_mono + (eod - started_local).total_seconds(),
                               allow_extend))
    return result


class Idle:
    """Idle sign-out: no touch and no hook activity for `minutes` (0 = never). While the handset
    is off hook the agent is never idle."""

    def __init__(self, minutes: int, now: float):
        self.minutes = minutes
        self.last_activity = now
        self.off_hook = False

    def activity(self, now: float) -> None:
        self.last_activity = now

    def deadline(self) -> Deadline | None:
        if self.minutes <= 0 or self.off_hook:
            return None
        return Deadline("idle", self.last_activity + self.minutes * 60, True)


def next_deadline(candidates: list[Deadline | None]) -> Deadline | None:
    """The earliest of the deadlines given."""
    present = [d for d in candidates if d is not None]
    return min(present, key=lambda d: d.at) if present else None


def warning_due(deadline: Deadline | None, now: float, warn_before_s: float) -> bool:
    return deadline is not None and now >= deadline.at - warn_before_s


@dataclass(frozen=True)
class Decision:
    """What the policies say now: `action` is `none`, `warn`, `wait` (a sign-out is due but
    the agent is on a call) or `sign_out`; `deadline` the policy in question; `seconds_left`
    until it; `auto_sign_out_in_s` until the next fixed deadline (limit or end of day)."""

    action: str
    deadline: Deadline | None = None
    seconds_left: float = 0.0
    auto_sign_out_in_s: float | None = None


def decide(*, now: float, deadlines: list[Deadline], idle: Idle, off_hook: bool,
           warn_before_s: float) -> Decision:
    """The policies' verdict at `now`. Pure: the engine acts on it."""
    deadline = next_deadline([*deadlines, idle.deadline()])
    fixed = next_deadline(list(deadlines))
    auto = None if fixed is None else max(0.0, fixed.at - now)
    if deadline is not None and now >= deadline.at:
        return Decision("wait" if off_hook else "sign_out", deadline, 0.0, auto)
    if warning_due(deadline, now, warn_before_s):
        return Decision("warn", deadline, max(0.0, deadline.at - now), auto)
    return Decision("none", deadline, 0.0 if deadline is None else deadline.at - now, auto)
