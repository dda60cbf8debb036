"""The session log: one SQLite file, written by the kiosk, read by people.

```python
log = SessionLog("/var/lib/hotdesk/sessions.db", desk="desk12")
sid = log.begin_session("mai@corp.example.au", agent_name="Mai Nguyen", language="en",
                        stay_signed_in=True)
log.journal_step(sid, "associate", "trying")      # before the step is tried
log.journal_step(sid, "associate", "done")
log.activate(sid)
log.end_session(sid, "agent", acd_state="Sign-Out")
```

Never lose the log, never let it stop a sign-in:

- WAL, `synchronous=FULL`, a busy timeout; every multi-row write inside `db.atomic()`, so a
  crash mid-write leaves nothing half-written;
- a missing database is created; a corrupt one (`PRAGMA quick_check` fails, or not a database at
  all) is moved aside as `sessions.db.corrupt-<UTC time>` and a fresh one started, with an event
  saying so;
- a full disk or a read-only file makes writes raise one `SessionLogError` with a clear message,
  which the engine surfaces while agents go on signing in and out;
- no password can be stored: detail fields named like secrets are refused (`SecretRefused`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from kiosk.errors import SecretRefused, SessionLogError
from kiosk.sessionlog.schema import migrations

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
END_REASONS = ("agent", "button", "limit", "idle", "end_of_day", "evicted", "connection_lost",
               "recovered", "admin")
STEP_PHASES = ("trying", "done", "failed", "undoing", "undone", "skipped")
_SECRET_NAME = re.compile(r"pass(word|wd|phrase)?|secret|token|credential|authori[sz]ation|"
                          r"cookie|pin$", re.IGNORECASE)


def utc_iso(timestamp: float) -> str:
    """`timestamp` (seconds since the epoch) as UTC ISO 8601 with milliseconds and a `Z`."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def check_no_secrets(detail: Any, where: str = "detail") -> None:
    """Raise `SecretRefused` if any key in `detail` (nested too) is named like a secret."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            if _SECRET_NAME.search(str(key)):
                raise SecretRefused(f"{where}: refusing to store a field named {key!r}")
            check_no_secrets(value, f"{where}.{key}")
    elif isinstance(detail, list | tuple):
        for item in detail:
            check_no_secrets(item, where)


@dataclass(frozen=True)
class OutboxItem:
    id: int
    action: str
    payload: dict
    attempts: int
    session: int | None


def _is_corrupt(path: Path) -> str | None:
    """Why the file at `path` is not a usable database, or None when it is fine."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            result = conn.execute("PRAGMA quick_check").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        message = str(exc)
        if "locked" in message or "unable to open" in message:
            return None  # busy or unreadable: not corruption; let the real open say so
        return message
    if result is None or result[0] != "ok":
        return f"quick_check: {result[0] if result else 'no answer'}"
    return None


def _write_error(exc: sqlite3.Error, path: Path) -> SessionLogError:
    message = str(exc)
    if "full" in message:
        why = "the disk is full"
    elif "readonly" in message or "read-only" in message:
        why = "the file or its folder is read-only"
    elif "locked" in message:
        why = "another process holds the database locked"
    else:
        why = message
    return SessionLogError(f"cannot write the session log {path}: {why}")


class SessionLog:
    """The kiosk's writer to the session log at `path` (created with its folder if missing).

    Thread-safe. `clock` gives wall-clock seconds for the record, `monotonic` the readings that
    durations are computed from. A context manager; `close()` twice is harmless.
    """

    def __init__(self, path: str | Path, *, desk: str, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic, boot_id: str | None = None):
        self.path = Path(path)
        self.desk = desk
        self.clock = clock
        self.monotonic = monotonic
        self.boot_id = _boot_id() if boot_id is None else boot_id
        self.last_error: SessionLogError | None = None
        #: called with each event row once it is committed (the journal, the metrics); on the
        #: writer's thread, so they must not block (they queue)
        self.when_recorded: list[Callable[[dict], None]] = []
        self._uncommitted: list[dict] = []
        self._agents: dict[int, str] = {}  # session -> agent, for the event copies
        self._lock = threading.RLock()
        self._closed = False
        moved_to = self._set_aside_if_corrupt()
        self.db = self._open()
        if moved_to is not None:
            self.record("log_reset", moved_to=str(moved_to),
                        reason="the previous session log was corrupt and was moved aside")

    # --- opening ----------------------------------------------------------------------------

    def _set_aside_if_corrupt(self) -> Path | None:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return None
        why = _is_corrupt(self.path)
        if why is None:
            return None
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        log.error("session log %s is corrupt (%s); moving it to %s", self.path, why, target)
        self.path.rename(target)
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                side.rename(target.with_name(target.name + suffix))
        return target

    def _open(self) -> Database:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000,
                                   check_same_thread=False)
            db = Database(conn, execute_plugins=False)
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            db.enable_wal()
            db.execute("PRAGMA synchronous = FULL")
            db.execute("PRAGMA foreign_keys = ON")
            migrations.apply(db)
            return db
        except (sqlite3.Error, OSError) as exc:
            if isinstance(exc, OSError):
                raise SessionLogError(f"cannot open the session log {self.path}: "
                                      f"{exc.strerror}") from None
            raise _write_error(exc, self.path) from None

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self.db.close()

    def __enter__(self) -> SessionLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- writing ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _immediate(self) -> Iterator[None]:
        """A transaction that holds the write lock from its start (waiting up to the busy
        timeout for another writer). A deferred one that read first fails at once, without
        waiting, when another process wrote meanwhile: an admin command beside a busy kiosk
        lost its record that way."""
        conn = self.db.conn
        if conn.in_transaction:  # nested: sqlite-utils makes it a savepoint
            with self.db.atomic():
                yield
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Database]:
        """One transaction; SQLite errors become one `SessionLogError`, remembered."""
        with self._lock:
            if self._closed:
                raise SessionLogError(f"the session log {self.path} is closed")
            try:
                with self._immediate():
                    yield self.db
            except sqlite3.Error as exc:
                self._uncommitted.clear()
                error = _write_error(exc, self.path)
                self.last_error = error
                log.error("%s", error)
                raise error from None
            except BaseException:
                self._uncommitted.clear()
                raise
            self.last_error = None
            committed, self._uncommitted = self._uncommitted, []
            for row in committed:
                self._tell(row)

    def _tell(self, row: dict) -> None:
        """A committed event to whoever copies them (never in the way of the log)."""
        if not self.when_recorded:
            return
        session = row["session"]
        copy = {**row, "agent": self._agent_of(session) if session is not None else None}
        for callback in list(self.when_recorded):
            try:
                callback(copy)
            except Exception:
                log.exception("a copy of a session-log event failed")

    def _agent_of(self, session: int) -> str | None:
        if session not in self._agents:
            found = self.db.execute("SELECT agent FROM sessions WHERE id = ?",
                                    [session]).fetchone()
            self._agents[session] = found[0] if found else None
        return self._agents[session]

    def _now(self) -> tuple[str, float]:
        return utc_iso(self.clock()), self.monotonic()

    def _event_row(self, kind: str, session: int | None, detail: dict) -> dict:
        """An event row (inside `_writing`: copied to `when_recorded` once committed)."""
        check_no_secrets(detail)
        when, mono = self._now()
        row = {"time": when, "mono": mono, "session": session, "desk": self.desk, "kind": kind,
               "detail": json.dumps(detail, ensure_ascii=False, sort_keys=True)}
        self._uncommitted.append(row)
        return row

    def record(self, kind: str, session: int | None = None, **detail: Any) -> int:
        """Record an event (sign-in failure, throttle, reconnect, warning, admin action, …)."""
        with self._writing() as db:
            return db["events"].insert(self._event_row(kind, session, detail)).last_pk

    def begin_session(self, agent: str, *, agent_name: str = "", language: str = "",
                      stay_signed_in: bool = False, phone_serial: str | None = None,
                      moved_from: str | None = None) -> int:
        """Open a session row (status `signing_in`) before the first step that needs undoing."""
        when, mono = self._now()
        row = {"desk": self.desk, "agent": agent, "agent_name": agent_name, "language": language,
               "stay_signed_in": int(stay_signed_in), "status": "signing_in", "started": when,
               "started_mono": mono, "boot_id": self.boot_id, "phone_serial": phone_serial,
               "moved_from": moved_from}
        with self._writing() as db:
            session = db["sessions"].insert(row).last_pk
            db["events"].insert(self._event_row("signin_started", session, {"agent": agent}))
            return session

    def journal_step(self, session: int, step: str, phase: str, **detail: Any) -> None:
        """Journal a saga step: `trying` before it is attempted, then `done`, `failed`,
        `undoing` or `undone`."""
        if phase not in STEP_PHASES:
            raise ValueError(f"unknown step phase {phase!r}")
        self.record("step", session, step=step, phase=phase, **detail)

    def update_session(self, session: int, **fields: Any) -> None:
        """Change columns of a session row (phone serial, moved from, language, …)."""
        allowed = {"agent", "agent_name", "language", "stay_signed_in", "phone_serial",
                   "moved_from", "acd_state_at_end", "role"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        with self._writing() as db:
            db["sessions"].update(session, fields)

    def activate(self, session: int) -> None:
        """The sign-in saga committed: the session is `active`."""
        with self._writing() as db:
            db["sessions"].update(session, {"status": "active"})
            db["events"].insert(self._event_row("signed_in", session, {}))

    def mark_signing_out(self, session: int, reason: str) -> None:
        with self._writing() as db:
            db["sessions"].update(session, {"status": "signing_out"})
            db["events"].insert(self._event_row("signing_out", session, {"reason": reason}))

    def fail_sign_in(self, session: int | None, agent: str, reason: str, **detail: Any) -> None:
        """A sign-in that did not complete: one `signin_failed` event with the reason (never the
        password); its session row, if one was opened, is closed as `failed`."""
        when, mono = self._now()
        with self._writing() as db:
            row = self._event_row("signin_failed", session, {"agent": agent, "reason": reason,
                                                             **detail})
            if session is not None:
                db["sessions"].update(session, {"status": "failed", "ended": when,
                                                "ended_mono": mono, "end_reason": "failed"})
            db["events"].insert(row)

    def end_session(self, session: int, reason: str, *, acd_state: str | None = None,
                    **detail: Any) -> None:
        """Close a session with its end reason (one of `END_REASONS`)."""
        if reason not in END_REASONS:
            raise ValueError(f"unknown end reason {reason!r}")
        when, mono = self._now()
        with self._writing() as db:
            row = db["sessions"].get(session)
            duration = self._duration(row, when, mono)
            db["sessions"].update(session, {
                "status": "ended", "ended": when, "ended_mono": mono, "duration_s": duration,
                "end_reason": reason, "acd_state_at_end": acd_state})
            db["events"].insert(self._event_row("signed_out", session,
                                                {"reason": reason, **detail}))

    def _duration(self, row: dict, ended: str, ended_mono: float) -> float:
        if row.get("boot_id") == self.boot_id and row.get("started_mono") is not None:
            return round(max(0.0, ended_mono - row["started_mono"]), 3)
        started = datetime.fromisoformat(row["started"].replace("Z", "+00:00"))
        finished = datetime.fromisoformat(ended.replace("Z", "+00:00"))
        return round(max(0.0, (finished - started).total_seconds()), 3)

    # --- reading what the engine needs ------------------------------------------------------

    def known_agent(self, agent: str) -> bool:
        """Whether `agent` ever signed in here (the Call Center accepted the user ID)."""
        with self._lock:
            try:
                return bool(list(self.db.query(
                    "SELECT 1 FROM sessions WHERE agent = ? COLLATE NOCASE LIMIT 1",
                    [agent.strip()])))
            except sqlite3.Error as exc:
                raise _write_error(exc, self.path) from None

    def open_sessions(self) -> list[dict]:
        """Sessions left open (by a crash or a power cut): not ended, newest first, with the
        saga steps journaled for each (`steps`: list of (step, phase))."""
        with self._lock:
            rows = list(self.db.query(
                "SELECT * FROM sessions WHERE ended IS NULL ORDER BY id DESC"))
            for row in rows:
                row["steps"] = [
                    (json.loads(e["detail"])["step"], json.loads(e["detail"])["phase"])
                    for e in self.db.query(
                        "SELECT detail FROM events WHERE session = ? AND kind = 'step' "
                        "ORDER BY id", [row["id"]])
                ]
            return rows

    def session(self, session: int) -> dict:
        with self._lock:
            return self.db["sessions"].get(session)

    def counts(self) -> dict:
        """What the metrics' counters carry on from (they survive restarts): sessions begun,
        failed sign-ins by reason, resync corrections."""
        with self._lock:
            db = self.db
            sessions = db.execute(
                "SELECT count(*) FROM events WHERE kind = 'signed_in'").fetchone()[0]
            failures = dict(db.execute(
                "SELECT coalesce(json_extract(detail, '$.reason'), 'unknown'), count(*) "
                "FROM events WHERE kind = 'signin_failed' GROUP BY 1").fetchall())
            corrections = db.execute(
                "SELECT count(*) FROM events WHERE kind = 'resync_corrected'").fetchone()[0]
        return {"sessions": sessions, "failures": failures, "corrections": corrections}

    # --- Xsi-Events subscriptions, journaled so a power cut cannot strand one -------------

    def subscriptions_left(self, agent: str) -> list[str]:
        """The IDs of `agent`'s event subscriptions made at this desk and never deleted (left
        over from a crash or a power cut), newest first: deleted by ID after a `409`."""
        with self._lock:
            rows = self.db.query(
                "SELECT json_extract(detail, '$.subscription_id') AS sub FROM events "
                "WHERE kind = 'events_subscribed' AND json_extract(detail, '$.agent') = ? "
                "AND json_extract(detail, '$.subscription_id') NOT IN ("
                "  SELECT json_extract(detail, '$.subscription_id') FROM events"
                "  WHERE kind = 'events_unsubscribed'"
                "  AND json_extract(detail, '$.subscription_id') IS NOT NULL) "
                "ORDER BY id DESC LIMIT 50", [agent])
            return [row["sub"] for row in rows if row["sub"]]

    # --- the outbox -------------------------------------------------------------------------

    def add_outbox(self, action: str, payload: dict, *, session: int | None = None) -> int:
        """Owe the server a clean-up (`action` with `payload`), to be retried until done."""
        check_no_secrets(payload, "payload")
        when, _ = self._now()
        with self._writing() as db:
            return db["outbox"].insert({
                "created": when, "session": session, "action": action,
                "payload": json.dumps(payload, ensure_ascii=False, sort_keys=True),
                "attempts": 0, "next_attempt": when}).last_pk

    def claim_outbox(self, *, limit: int = 10) -> list[OutboxItem]:
        """Take the items that are due and not claimed; they stay owed until completed."""
        when, _ = self._now()
        with self._writing() as db:
            rows = list(db.query(
                "SELECT * FROM outbox WHERE done IS NULL AND claimed IS NULL "
                "AND next_attempt <= ? ORDER BY id LIMIT ?", [when, limit]))
            for row in rows:
                db["outbox"].update(row["id"], {"claimed": when})
        return [OutboxItem(r["id"], r["action"], json.loads(r["payload"]), r["attempts"],
                           r["session"]) for r in rows]

    def complete_outbox(self, item_id: int) -> None:
        when, _ = self._now()
        with self._writing() as db:
            db["outbox"].update(item_id, {"done": when, "claimed": None})

    def retry_outbox(self, item_id: int, error: str, *, delay_s: float) -> None:
        """The attempt failed: free the item, due again in `delay_s` seconds."""
        with self._writing() as db:
            row = db["outbox"].get(item_id)
            db["outbox"].update(item_id, {
                "claimed": None, "attempts": row["attempts"] + 1, "last_error": error[:500],
                "next_attempt": utc_iso(self.clock() + delay_s)})

    def release_claims(self) -> None:
        """Free items claimed by a process that died (call at start-up)."""
        with self._writing() as db:
            db.execute("UPDATE outbox SET claimed = NULL WHERE done IS NULL")

    def owed(self) -> list[dict]:
        """Outbox items not yet done, oldest first."""
        with self._lock:
            return list(self.db.query("SELECT * FROM outbox WHERE done IS NULL ORDER BY id"))
