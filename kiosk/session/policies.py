"""Session policies: pure functions and small state machines over injected time.

- `Throttle`: failed passwords per user ID and per kiosk, with a doubling cool-down, so that the
  kiosk stops well below BroadWorks' own account lockout;
- `deadlines`: when the association limit and the end of the day sign the agent out;
- `Idle`: no touch and no hook activity for too long;
- `decide`: what the policies say now (warn, sign out, wait for the hang-up, or nothing);
- `Backoff`: the doubling wait between tries (reconnecting, paying what the outbox owes).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import time as time_module
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path

log = logging.getLogger(__name__)


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
    locked_until: float = 0.0  # wall clock (time.time()): it outlives a restart


class Throttle:
    """Failed-password throttle.

    After `max_failures` failures for one user ID (compared as the rest of the kiosk compares
    them: trimmed, any case), further tries wait `cooldown_s`, doubling with each further
    failure. The kiosk as a whole has the same rule at `kiosk_factor` times the failures
    (several people may mistype; one person trying many IDs may not); its count is forgotten
    an hour after its last failure, never by someone else's success. A success clears that
    user's own count.

    With `path`, the counts survive a restart (JSON, mode 0600, written atomically), keyed by
    an HMAC of the user ID under a random key kept in the same file: a password typed into
    the User ID field is not kept there in clear. `reference(user_id)` is that key's short
    form, for the log (`unrecognised#1a2b3c4d`).
    """

    KIOSK_FORGET_S = 3600

    def __init__(self, *, max_failures: int = 3, cooldown_s: float = 30, kiosk_factor: int = 2,
                 path: str | Path | None = None, wall: Callable[[], float] = time_module.time):
        self.max_failures = max_failures
        self.cooldown_s = cooldown_s
        self.kiosk_max = max_failures * kiosk_factor
        self.path = Path(path) if path else None
        self.wall = wall
        self._users: dict[str, _Failures] = {}
        self._kiosk = _Failures()
        self._kiosk_last = 0.0
        self._salt = secrets.token_bytes(16)
        self._load()

    def _key(self, user_id: str) -> str:
        return hmac.new(self._salt, user_id.strip().casefold().encode(),
                        hashlib.sha256).hexdigest()

    def reference(self, user_id: str) -> str:
        return "unrecognised#" + self._key(user_id)[:8]

    def wait_s(self, user_id: str) -> float:
        """Seconds before `user_id` may try again at this kiosk (0 = now), by the wall clock
        (`wall`): a wait outlives a restart."""
        wall = self.wall()
        user = self._users.get(self._key(user_id), _Failures())
        return max(0.0, user.locked_until - wall, self._kiosk.locked_until - wall)

    def record_failure(self, user_id: str) -> float:
        """Count a wrong password; returns the wait it now imposes."""
        wall = self.wall()
        if self._kiosk.count and wall - self._kiosk_last > self.KIOSK_FORGET_S:
            self._kiosk = _Failures()
        self._kiosk_last = wall
        user = self._users.setdefault(self._key(user_id), _Failures())
        for entry, limit in ((user, self.max_failures), (self._kiosk, self.kiosk_max)):
            entry.count += 1
            if entry.count >= limit:
                doublings = entry.count - limit
                entry.locked_until = wall + self.cooldown_s * (2 ** min(doublings, 10))
        self._save()
        return self.wait_s(user_id)

    def record_success(self, user_id: str) -> None:
        if self._users.pop(self._key(user_id), None) is not None:
            self._save()

    def failures(self, user_id: str) -> int:
        return self._users.get(self._key(user_id), _Failures()).count

    # --- kept across restarts -----------------------------------------------------------------

    def _load(self) -> None:
        if self.path is None:
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self._salt = bytes.fromhex(data["salt"])
            self._users = {k: _Failures(int(v[0]), float(v[1]))
                           for k, v in data.get("users", {}).items()}
            kiosk = data.get("kiosk", [0, 0.0, 0.0])
            self._kiosk, self._kiosk_last = _Failures(int(kiosk[0]), float(kiosk[1])), \
                float(kiosk[2])
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            log.warning("the throttle's file %s cannot be read (%s): starting afresh",
                        self.path, exc)

    def _save(self) -> None:
        if self.path is None:
            return
        wall = self.wall()
        users = {k: [v.count, v.locked_until] for k, v in self._users.items()
                 if v.locked_until > wall - self.KIOSK_FORGET_S or v.count}
        data = {"salt": self._salt.hex(), "users": users,
                "kiosk": [self._kiosk.count, self._kiosk.locked_until, self._kiosk_last]}
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out)
            temporary.replace(self.path)
        except OSError as exc:  # the throttle still works in memory
            log.warning("cannot keep the throttle in %s: %s", self.path, exc)


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

    def activity(self, now: float) -> None:
        self.last_activity = now

    def deadline(self, off_hook: bool = False) -> Deadline | None:
        if self.minutes <= 0 or off_hook:
            return None
        return Deadline("idle", self.last_activity + self.minutes * 60, True)


class AssociationLimit:
    """The association limit to ask for: ours (`session.association_limit_hours`), or the
    desk's own where it enforces a lower one (learnt from its HotelingHost)."""

    def __init__(self, hours: int):
        self.ours = hours
        self.host: int | None = None

    def hours(self) -> int:
        return self.ours if self.host is None else min(self.ours, self.host)

    def host_says(self, host) -> None:
        """A HotelingHost read: the desk's limit, where it enforces one."""
        self.host = (host.association_limit_hours
                     if host.enforce_association_limit and host.association_limit_hours
                     else None)


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
           warn_before_s: float, hangup_wait_max_s: float = float("inf")) -> Decision:
    """The policies' verdict at `now`. Pure: the engine acts on it. A due sign-out waits for
    an off-hook handset at most `hangup_wait_max_s` past its deadline."""
    deadline = next_deadline([*deadlines, idle.deadline(off_hook)])
    fixed = next_deadline(list(deadlines))
    auto = None if fixed is None else max(0.0, fixed.at - now)
    if deadline is not None and now >= deadline.at:
        waiting = off_hook and now - deadline.at < hangup_wait_max_s
        return Decision("wait" if waiting else "sign_out", deadline, 0.0, auto)
    if warning_due(deadline, now, warn_before_s):
        return Decision("warn", deadline, max(0.0, deadline.at - now), auto)
    return Decision("none", deadline, 0.0 if deadline is None else deadline.at - now, auto)
