"""Reading the session log for people: the queries behind `kiosk sessions / events / stats /
purge`. Reads open the file read-only (`mode=ro`), so they never block or change a running
kiosk's writes; only `purge` writes.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import re
import sqlite3
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kiosk.errors import SessionLogError
from kiosk.sessionlog.store import BUSY_TIMEOUT_MS, utc_iso

#: The columns of `kiosk sessions` in CSV and JSON, in order. Stable: scripts rely on them.
SESSION_COLUMNS = ("id", "desk", "agent", "agent_name", "language", "stay_signed_in", "started",
                   "ended", "duration_s", "end_reason")
EVENT_COLUMNS = ("id", "time", "session", "desk", "kind", "detail")


#: Every kind of event the kiosk writes, with what it means (`kiosk events --kinds`; the
#: README has the same table, and a test keeps both in step with the code).
EVENT_KINDS = {
    "signin_started": "a sign-in began (agent)",
    "step": "a sign-in step: trying, done, failed, undoing, undone or skipped (step, phase)",
    "signed_in": "the session is active",
    "signin_failed": "a sign-in did not complete (agent, reason, step; failures so far)",
    "throttled": "a sign-in refused after too many wrong passwords, nothing sent (agent, wait)",
    "moved": "the agent was moved here from another desk (from_host)",
    "stale_guest_released": "a stale guest at this desk was released for the agent here",
    "acd_state": "the agent set their ACD state at the kiosk (state, unavailable_code)",
    "acd_state_seen": "the ACD state changed elsewhere: a supervisor, wrap-up, a phone key",
    "warning": "an automatic sign-out was announced (policy, seconds)",
    "extended": "the agent extended their time (policy)",
    "policy_deferred": "an automatic sign-out waits for the call to end (policy)",
    "policy_sign_out": "an automatic sign-out: limit, end_of_day or idle (policy)",
    "connection_lost": "the Call Center stopped answering (error, stay_signed_in)",
    "reconnect_failed": "a reconnect attempt failed (error, retry_in_s)",
    "reconnected": "the Call Center answers again; the session goes on",
    "evicted": "signed out because the server says the agent left (why, elsewhere)",
    "events_up": "the Xsi-Events channel is open: changes are pushed",
    "events_down": "no Xsi-Events channel: the kiosk polls (reason or error)",
    "events_subscribed": "an Xsi-Events subscription was made (agent, package, subscription_id)",
    "events_unsubscribed": "an Xsi-Events subscription was deleted or ended (subscription_id)",
    "resync_corrected": "a read of the server found the kiosk's view wrong: an event was lost "
                        "(what, shown, server, found_by)",
    "late_cleanup_repaired": "a release of this desk that landed late freed the agent here; "
                             "the association was put back (found_by, error)",
    "signing_out": "a sign-out began (reason)",
    "signed_out": "the session ended (reason, ACD state, what the server is owed)",
    "outbox_done": "an owed server clean-up was done, or found moot (action, note)",
    "out_of_order": "the unit is out of order (reason: phone_missing, phone_silent, …)",
    "phone_power_cycle": "the silent phone was power-cycled through the relay",
    "phone_rebooted": "the phone restarted; the agent's line was applied again",
    "gpio_unavailable": "the GPIO panel could not be opened at start (error)",
    "admin": "an administrator's action: force_release (reason, guest, agent, operator)",
    "log_reset": "a corrupt session log was set aside and a new one started (moved_to)",
    "badge_read": "a badge was tapped at the reader (badge as #reference, agent, source, "
                  "outcome)",
    "badge_unknown": "a badge the table and the directory do not know was tapped (badge as "
                     "#reference)",
    "badge_directory_down": "a badge could not be looked up: the site's directory cannot be "
                            "asked (badge, error)",
}


def _readable(path: Path, *, write: bool = False) -> None:
    """`SessionLogError` naming what is wrong: no log there, or no permission to read it (a
    permission problem is said as one, never as a missing log)."""
    try:
        path.stat()
    except PermissionError:
        raise SessionLogError(f"permission denied: {path.parent} (the session log is root's "
                              "and the kiosk's: use sudo)") from None
    except OSError:  # missing, or a file where a folder should be
        raise SessionLogError(f"no session log at {path} (looked there; set log.database in "
                              "the configuration or pass --db)") from None
    if not os.access(path, os.R_OK | (os.W_OK if write else 0)):
        raise SessionLogError(f"permission denied: {path} (the session log is root's and the "
                              "kiosk's: use sudo)")


def open_readonly(path: str | Path) -> sqlite3.Connection:
    """A read-only connection to the log at `path`. Raises `SessionLogError` if it is missing
    or this user may not read it."""
    path = Path(path)
    _readable(path)
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("SELECT 1 FROM sessions LIMIT 1")
    except sqlite3.Error as exc:
        raise SessionLogError(f"cannot read the session log {path}: {exc}") from None
    return conn


def open_writable(path: str | Path) -> sqlite3.Connection:
    path = Path(path)
    _readable(path, write=True)
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("SELECT 1 FROM sessions LIMIT 1")
    except sqlite3.Error as exc:
        raise SessionLogError(f"{path} is not a session log the kiosk can use: {exc}") from None
    return conn


# --- times ----------------------------------------------------------------------------------

_RELATIVE = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(text: str, *, now: datetime | None = None) -> str:
    """A time given by a person, as the log's UTC ISO string.

    Relative: `7d`, `12h`, `30m`, `2w` (that long ago). Absolute: an ISO date or date and time
    (`2026-11-01`, `2026-11-01T08:30`, with or without an offset); without an offset it is
    local time. Raises `ValueError` with a sentence a person can act on.
    """
    now = now or datetime.now(UTC)
    value = text.strip()
    match = _RELATIVE.fullmatch(value)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        return utc_iso((now - timedelta(**{_UNITS[unit]: amount})).timestamp())
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a time: {text!r} (use e.g. 7d, 12h, 2026-11-01 or "
                         "2026-11-01T08:30)") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # local time
    return utc_iso(moment.timestamp())


def local_time(iso: str | None, *, seconds: bool = False, utc: bool = False) -> str:
    """A log timestamp for a table: local time (`2026-11-27 14:05`, with `seconds`
    `14:05:07`), or UTC (`2026-11-27 03:05:07Z`)."""
    if not iso:
        return ""
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    moment = moment.astimezone(UTC) if utc else moment.astimezone()
    text = moment.strftime("%Y-%m-%d %H:%M:%S" if seconds or utc else "%Y-%m-%d %H:%M")
    return text + ("Z" if utc else "")


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


# --- queries --------------------------------------------------------------------------------


def _where(*conditions: tuple[str, object]) -> tuple[str, list]:
    """` WHERE …` for the conditions that apply, and its parameters. A condition with `?`
    applies when its value is not None (the value is bound); one without, when it is true."""
    clauses, params = [], []
    for clause, value in conditions:
        if "?" in clause:
            if value is not None:
                clauses.append(clause)
                params.append(value)
        elif value:
            clauses.append(clause)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _agent_condition(agent: str | None) -> tuple[tuple[str, object], ...]:
    """An agent as people type it: any case; just the user part matches it at any domain."""
    if agent is None:
        return ()
    if "@" in agent:
        return (("agent = ? COLLATE NOCASE", agent),)
    escaped = agent.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return ((r"agent LIKE ? ESCAPE '\'", escaped + "@%"),)


def _session_query(*, agent: str | None = None, desk: str | None = None,
                   since: str | None = None, until: str | None = None, reason: str | None = None,
                   open_only: bool = False, include_failed: bool = False,
                   limit: int | None = 50) -> tuple[str, list]:
    where, params = _where(*_agent_condition(agent), ("desk = ?", desk),
                           ("end_reason = ?", reason),
                           ("started >= ?", since), ("started < ?", until),
                           ("ended IS NULL", open_only), ("status != 'failed'", not include_failed))
    sql = f"SELECT {', '.join(SESSION_COLUMNS)}, status FROM sessions{where}"
    sql += " ORDER BY started DESC, id DESC"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return sql, params


def list_sessions(conn: sqlite3.Connection, **filters) -> list[dict]:
    """Sessions newest first, filtered (`agent`, `desk`, `since`, `until`, `reason`,
    `open_only`, `include_failed`, `limit`); each a dict of `SESSION_COLUMNS` plus `status`."""
    return list(iter_sessions(conn, **filters))


def iter_sessions(conn: sqlite3.Connection, **filters):
    """Like `list_sessions`, streaming (with `limit=None`, for exporting everything)."""
    cursor = conn.execute(*_session_query(**filters))
    while rows := cursor.fetchmany(5000):
        for row in rows:
            yield dict(row)


def get_session(conn: sqlite3.Connection, session_id: int) -> dict | None:
    row = conn.execute("SELECT * FROM sessions WHERE id = ?", [session_id]).fetchone()
    return dict(row) if row else None


def list_events(conn: sqlite3.Connection, *, session: int | None = None, kind: str | None = None,
                since: str | None = None, limit: int | None = 100,
                oldest_first: bool = False) -> list[dict]:
    where, params = _where(("session = ?", session), ("kind = ?", kind), ("time >= ?", since))
    sql = f"SELECT {', '.join(EVENT_COLUMNS)} FROM events{where}"
    sql += " ORDER BY id" + ("" if oldest_first else " DESC")
    if limit:
        sql += f" LIMIT {int(limit)}"
    rows = []
    for row in conn.execute(sql, params):
        item = dict(row)
        with contextlib.suppress(ValueError):
            item["detail"] = json.loads(item["detail"] or "{}")
        rows.append(item)
    return rows


@dataclass
class Stats:
    sessions: int
    total_s: float
    median_s: float | None
    failed_sign_ins: int
    end_reasons: dict[str, int]
    groups: list[dict]


def stats(conn: sqlite3.Connection, *, since: str | None = None, until: str | None = None,
          desk: str | None = None, agent: str | None = None, by: str | None = None) -> Stats:
    """Sessions, total and median duration, failed sign-ins and end reasons, optionally grouped
    `by` agent (with each agent's failed sign-ins), day (UTC) or reason."""
    where, params = _where(("status != 'failed'", True), ("started >= ?", since),
                           ("started < ?", until), ("desk = ?", desk),
                           *_agent_condition(agent))
    where = where.removeprefix(" WHERE ")
    failed_where, failed_params = _where(
        ("kind = 'signin_failed'", True), ("time >= ?", since), ("time < ?", until),
        ("desk = ?", desk), *[(c.replace("agent", "json_extract(detail, '$.agent')"), v)
                              for c, v in _agent_condition(agent)])
    failed_by_agent = {row[0]: row[1] for row in conn.execute(
        "SELECT json_extract(detail, '$.agent'), count(*) FROM events" + failed_where
        + " GROUP BY 1", failed_params)}
    # One pass over the sessions for every figure (each further scan cost as much again).
    count, durations, reasons = 0, [], collections.Counter()
    grouped: dict[str, list] = {}  # group -> [sessions, total_s, durations]
    column = {"agent": 0, "day": 1, "reason": 2}.get(by or "")
    for row in conn.execute(
            f"SELECT agent, substr(started, 1, 10), coalesce(end_reason, '(open)'), duration_s "
            f"FROM sessions WHERE {where}", params):
        duration = row[3]
        count += 1
        reasons[row[2]] += 1
        if duration is not None:
            durations.append(duration)
        if column is not None:
            group = grouped.setdefault(row[column], [0, 0.0, []])
            group[0] += 1
            if duration is not None:
                group[1] += duration
                group[2].append(duration)
    groups: list[dict] = []
    for key in sorted(grouped, key=lambda k: (k is None, k or "")):
        sessions, total, values = grouped[key]
        group = {by: key, "sessions": sessions, "total_s": round(total, 3),
                 "median_s": statistics.median(values) if values else None}
        if by == "agent":
            group["failed_sign_ins"] = failed_by_agent.get(key, 0)
        groups.append(group)
    if by == "agent":  # agents who only ever failed to sign in
        seen = {g["agent"] for g in groups}
        groups += [{"agent": a, "sessions": 0, "total_s": 0.0, "median_s": None,
                    "failed_sign_ins": n} for a, n in sorted(failed_by_agent.items())
                   if a and a not in seen]
    return Stats(sessions=count, total_s=round(sum(durations), 3),
                 median_s=statistics.median(durations) if durations else None,
                 failed_sign_ins=sum(failed_by_agent.values()),
                 end_reasons=dict(reasons.most_common()), groups=groups)


def summary(conn: sqlite3.Connection) -> dict:
    """What the log holds, for a hint when nothing matches: how many sessions, from when to
    when, and the agents of the latest ones."""
    count, first, last = conn.execute(
        "SELECT count(*), min(started), max(started) FROM sessions").fetchone()
    agents = [row[0] for row in conn.execute(
        "SELECT agent FROM sessions ORDER BY started DESC LIMIT 50")]
    return {"sessions": count, "first": first, "last": last,
            "agents": list(dict.fromkeys(agents))[:5]}


@dataclass
class PurgeResult:
    sessions: int
    events: int
    outbox: int
    before: str


def purge(conn: sqlite3.Connection, *, older_than_days: int, dry_run: bool = False,
          now: datetime | None = None) -> PurgeResult:
    """Remove ended sessions that started more than `older_than_days` ago, their events, old
    events outside sessions and old finished outbox items. Open sessions are always kept."""
    if older_than_days < 1:
        raise ValueError("--older-than must be at least 1 day")
    cutoff = utc_iso(((now or datetime.now(UTC)) - timedelta(days=older_than_days)).timestamp())
    old_sessions = "SELECT id FROM sessions WHERE started < ? AND ended IS NOT NULL"
    counts = (
        conn.execute(f"SELECT count(*) FROM ({old_sessions})", [cutoff]).fetchone()[0],
        conn.execute(f"SELECT count(*) FROM events WHERE session IN ({old_sessions}) OR "
                     "(session IS NULL AND time < ?)", [cutoff, cutoff]).fetchone()[0],
        conn.execute("SELECT count(*) FROM outbox WHERE done IS NOT NULL AND done < ?",
                     [cutoff]).fetchone()[0],
    )
    if not dry_run:
        with conn:  # one transaction: all or nothing
            conn.execute(f"DELETE FROM events WHERE session IN ({old_sessions}) OR "
                         "(session IS NULL AND time < ?)", [cutoff, cutoff])
            conn.execute("DELETE FROM outbox WHERE (done IS NOT NULL AND done < ?) OR "
                         f"session IN ({old_sessions})", [cutoff, cutoff])
            conn.execute("DELETE FROM sessions WHERE started < ? AND ended IS NOT NULL",
                         [cutoff])
    return PurgeResult(*counts, before=cutoff)
