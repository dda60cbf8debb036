"""The session log's schema, changed only through these migrations (sqlite-utils `Migrations`).

Add a migration at the end to change the schema; never edit one that has shipped. Columns are
named for the people who read the log with `sqlite-utils` or Datasette.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("hotdesk-sessionlog")


@migrations()
def m001_sessions_events_outbox(db: Database) -> None:
    db["sessions"].create({
        "id": int,
        "desk": str,            # desk.id of the kiosk
        "agent": str,           # the agent's full user ID
        "agent_name": str,      # first and last name from the Call Center profile
        "language": str,        # the language chosen at sign-in
        "stay_signed_in": int,  # 1 when "Stay signed in" was ticked
        "status": str,          # signing_in, active, signing_out, ended, failed
        "started": str,         # UTC, ISO 8601 with milliseconds
        "ended": str,           # UTC, ISO 8601 with milliseconds; NULL while open
        "duration_s": float,    # from the monotonic clock when the unit did not restart
        "end_reason": str,      # agent, button, limit, idle, end_of_day, evicted, ...
        "acd_state_at_end": str,
        "phone_serial": str,
        "moved_from": str,      # the desk host the agent was associated with before
        "boot_id": str,         # which boot the monotonic readings belong to
        "started_mono": float,
        "ended_mono": float,
    }, pk="id", not_null={"desk", "agent", "status", "started"})
    db["sessions"].create_index(["agent", "started"], index_name="sessions_by_agent")
    db["sessions"].create_index(["desk", "started"], index_name="sessions_by_desk")
    db["sessions"].create_index(["started"], index_name="sessions_by_start")
    db["sessions"].create_index(["end_reason", "started"], index_name="sessions_by_reason")
    db.execute("CREATE INDEX sessions_open ON sessions(status) WHERE ended IS NULL")

    db["events"].create({
        "id": int,
        "time": str,            # UTC, ISO 8601 with milliseconds
        "mono": float,          # monotonic reading, for durations within one boot
        "session": int,         # NULL for events outside a session (failed sign-ins, ...)
        "desk": str,
        "kind": str,            # signin_failed, throttled, step, reconnect, warning, admin, ...
        "detail": str,          # JSON; never a password
    }, pk="id", not_null={"time", "kind"}, foreign_keys=[("session", "sessions", "id")])
    db["events"].create_index(["session", "id"], index_name="events_by_session")
    db["events"].create_index(["kind", "time"], index_name="events_by_kind")
    db["events"].create_index(["time"], index_name="events_by_time")

    db["outbox"].create({
        "id": int,
        "created": str,
        "session": int,
        "action": str,          # clear_association, acd_sign_out, force_release, ...
        "payload": str,         # JSON: user IDs and the like; never a password
        "attempts": int,
        "next_attempt": str,    # UTC; due when it is in the past
        "claimed": str,         # UTC when a worker took it; NULL when free
        "done": str,            # UTC when it succeeded; NULL while owed
        "last_error": str,
    }, pk="id", not_null={"created", "action", "attempts", "next_attempt"},
        defaults={"attempts": 0}, foreign_keys=[("session", "sessions", "id")])
    db.execute("CREATE INDEX outbox_owed ON outbox(next_attempt) WHERE done IS NULL")


@migrations()
def m002_sessions_role(db: Database) -> None:
    """Supervisors hot-desk too: who signed in as what (`agent`, `supervisor`)."""
    db["sessions"].add_column("role", str)


@migrations()
def m003_sessions_by_agent_any_case(db: Database) -> None:
    """Agent filters ignore case (`--agent ZOE@…`, `--agent zoe`): an index that serves them."""
    db.execute("CREATE INDEX IF NOT EXISTS sessions_by_agent_nocase "
               "ON sessions(agent COLLATE NOCASE, started)")
