"""The session log on a real SQLite file: never lost, never half-written, never a password."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading

import pytest

from kiosk.errors import SecretRefused, SessionLogError
from kiosk.sessionlog import SessionLog, query
from tests.conftest import ROOT


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "state" / "sessions.db"


@pytest.fixture
def log(db_path):
    with SessionLog(db_path, desk="desk12") as log:
        yield log


def test_missing_database_and_folder_are_created(db_path):
    assert not db_path.parent.exists()
    SessionLog(db_path, desk="desk12").close()
    assert db_path.exists()


def test_migrations_from_empty_and_rerun(db_path):
    SessionLog(db_path, desk="desk12").close()
    SessionLog(db_path, desk="desk12").close()
    conn = sqlite3.connect(db_path)
    applied = conn.execute("SELECT name FROM _sqlite_migrations").fetchall()
    assert applied == [("m001_sessions_events_outbox",), ("m002_sessions_role",),
                       ("m003_sessions_by_agent_any_case",)]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"sessions", "events", "outbox"} <= tables


def test_a_log_from_before_roles_gains_the_column_and_keeps_its_rows(db_path):
    from sqlite_utils import Database

    from kiosk.sessionlog.schema import migrations

    db_path.parent.mkdir(parents=True, exist_ok=True)
    old = Database(db_path)
    migrations.apply(old, stop_before="m002_sessions_role")
    old["sessions"].insert({"desk": "desk12", "agent": "zoe@demo.example", "status": "ended",
                            "started": "2026-11-01T08:00:00.000Z"})
    old.close()
    SessionLog(db_path, desk="desk12").close()
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT agent, role FROM sessions").fetchall() == [
        ("zoe@demo.example", None)]


def test_pragmas_wal_and_synchronous_full(log):
    assert log.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert log.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert log.db.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000


def test_session_life_cycle(log):
    sid = log.begin_session("mai@demo.example", agent_name="Mai Nguyễn", language="vi",
                            stay_signed_in=True, phone_serial="VX4-1")
    assert log.session(sid)["status"] == "signing_in"
    log.activate(sid)
    log.end_session(sid, "idle", acd_state="Available")
    row = log.session(sid)
    assert (row["status"], row["end_reason"], row["acd_state_at_end"]) == (
        "ended", "idle", "Available")
    assert row["started"].endswith("Z") and len(row["started"]) == len("2026-11-27T03:12:38.078Z")
    assert row["duration_s"] >= 0


def test_duration_uses_the_monotonic_clock_not_the_wall_clock(db_path):
    wall, mono = [1_800_000_000.0], [100.0]
    log = SessionLog(db_path, desk="d", clock=lambda: wall[0], monotonic=lambda: mono[0])
    sid = log.begin_session("a@b.c")
    wall[0] -= 3600  # the wall clock jumps back an hour (NTP after boot)
    mono[0] += 90
    log.end_session(sid, "agent")
    assert log.session(sid)["duration_s"] == 90


def test_unknown_end_reason_is_refused(log):
    sid = log.begin_session("a@b.c")
    with pytest.raises(ValueError):
        log.end_session(sid, "bored")


def test_failed_sign_in_closes_its_row_and_records_the_reason(log):
    sid = log.begin_session("zoe@demo.example")
    log.journal_step(sid, "associate", "trying")
    log.journal_step(sid, "associate", "failed", error="rejected")
    log.fail_sign_in(sid, "zoe@demo.example", "rejected", step="associate")
    assert log.open_sessions() == []
    assert log.session(sid)["status"] == "failed"
    log.fail_sign_in(None, "zoe@demo.example", "invalid_credentials")
    kinds = [r["kind"] for r in log.db.query("SELECT kind FROM events ORDER BY id")]
    assert kinds.count("signin_failed") == 2


def test_secret_named_details_are_refused(log):
    for field in ("password", "Password", "host_password", "secret", "auth_token",
                  "credentials", "authorization", "cookie"):
        with pytest.raises(SecretRefused):
            log.record("signin_failed", **{field: "x"})
    with pytest.raises(SecretRefused):
        log.record("admin", nested={"deep": {"passwd": "x"}})
    with pytest.raises(SecretRefused):
        log.add_outbox("clear_association", {"agent": "a@b", "password": "x"})
    assert log.db["events"].count == 0


def test_crash_left_open_session_is_found_with_its_steps(db_path):
    script = f"""
import os
from kiosk.sessionlog import SessionLog
log = SessionLog({str(db_path)!r}, desk="desk12")
sid = log.begin_session("mai@demo.example")
log.journal_step(sid, "associate", "trying")
log.journal_step(sid, "associate", "done")
log.journal_step(sid, "phone", "trying")
os._exit(1)  # the power goes
"""
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=False, timeout=30)
    with SessionLog(db_path, desk="desk12") as log:
        (open_row,) = log.open_sessions()
        assert open_row["agent"] == "mai@demo.example"
        assert open_row["status"] == "signing_in"
        assert open_row["steps"] == [("associate", "trying"), ("associate", "done"),
                                     ("phone", "trying")]


def test_write_interrupted_mid_transaction_leaves_nothing(db_path):
    script = f"""
import os
from kiosk.sessionlog import SessionLog
log = SessionLog({str(db_path)!r}, desk="desk12")
log.record("before")
with log._writing() as db:
    db["sessions"].insert({{"desk": "d", "agent": "half@x", "status": "active",
                           "started": "2026-01-01T00:00:00.000Z"}})
    db["events"].insert({{"time": "2026-01-01T00:00:00.000Z", "kind": "half"}})
    os._exit(1)  # killed between the two halves and the commit
"""
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=False, timeout=30)
    with SessionLog(db_path, desk="desk12") as log:
        assert log.db["sessions"].count == 0
        assert [r["kind"] for r in log.db["events"].rows] == ["before"]


def test_an_exception_inside_a_write_rolls_it_back(log):
    with pytest.raises(RuntimeError), log._writing() as db:
        db["events"].insert({"time": "t", "kind": "half"})
        raise RuntimeError("boom")
    assert log.db["events"].count == 0


@pytest.mark.parametrize("garbage", [b"this is not a database at all" * 40,
                                     b"SQLite format 3\x00" + b"\xff" * 4000])
def test_corrupt_file_is_moved_aside_and_a_fresh_log_started(db_path, garbage):
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(garbage)
    with SessionLog(db_path, desk="desk12") as log:
        (event,) = list(log.db.query("SELECT kind, detail FROM events"))
        assert event["kind"] == "log_reset"
        moved = list(db_path.parent.glob("sessions.db.corrupt-*"))
        assert len(moved) == 1 and moved[0].read_bytes() == garbage
        assert str(moved[0]) in event["detail"]
        log.begin_session("a@b.c")  # and the fresh log works


def test_full_disk_is_one_clear_error_and_the_log_recovers(log):
    log.record("fill")
    pages = log.db.execute("PRAGMA page_count").fetchone()[0]
    log.db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(SessionLogError, match="the disk is full") as info:
        for _ in range(500):
            log.record("fill", text="x" * 2000)
    assert isinstance(info.value, OSError)
    assert log.last_error is info.value
    log.db.execute("PRAGMA max_page_count = 1073741823")
    log.record("after")  # space again: writes go on
    assert log.last_error is None


def test_read_only_database_is_one_clear_error(log):
    log.db.execute("PRAGMA query_only = ON")
    with pytest.raises(SessionLogError, match="read-only"):
        log.begin_session("a@b.c")


def test_outbox_claim_retry_complete(log):
    item = log.add_outbox("clear_association", {"agent": "mai@demo.example"})
    (claimed,) = log.claim_outbox()
    assert (claimed.id, claimed.action, claimed.payload) == (
        item, "clear_association", {"agent": "mai@demo.example"})
    assert log.claim_outbox() == []  # claimed: not handed out twice
    log.retry_outbox(item, "Unreachable: timeout", delay_s=3600)
    assert log.claim_outbox() == []  # not due yet
    assert log.owed()[0]["attempts"] == 1
    log.retry_outbox(item, "again", delay_s=0)
    (again,) = log.claim_outbox()
    log.complete_outbox(again.id)
    assert log.owed() == []


def test_claims_of_a_dead_process_are_released(log):
    log.add_outbox("force_release", {"host": "desk12@demo.example"})
    log.claim_outbox()
    log.release_claims()
    assert len(log.claim_outbox()) == 1


def test_read_only_reader_is_not_blocked_by_a_writer(log, db_path):
    log.record("committed")
    writer_in_transaction = threading.Event()
    finish = threading.Event()

    def write_slowly():
        with log._writing() as db:
            db["events"].insert({"time": "t", "kind": "uncommitted"})
            writer_in_transaction.set()
            finish.wait(60)  # holds the transaction until the reader is done

    thread = threading.Thread(target=write_slowly)
    thread.start()
    assert writer_in_transaction.wait(5)
    conn = query.open_readonly(db_path)
    kinds = [e["kind"] for e in query.list_events(conn)]
    assert thread.is_alive()  # read while the writer still holds its transaction
    assert kinds == ["committed"]
    with pytest.raises(sqlite3.OperationalError):
        conn.execute("INSERT INTO events (time, kind) VALUES ('t', 'x')")
    finish.set()
    thread.join()


def test_close_twice_is_harmless(db_path):
    log = SessionLog(db_path, desk="d")
    log.close()
    log.close()
    with pytest.raises(SessionLogError):
        log.record("after close")


def test_a_second_process_writes_beside_a_busy_kiosk_without_losing_a_record(db_path):
    """Found on a deployed desk: `kiosk callcenter release` while the kiosk wrote its log
    printed "not recorded in the session log: another process holds the database locked" in 2
    of 3 runs. A write transaction that read first could not become a writer once the kiosk
    had written meanwhile (SQLite answers that at once, without waiting); writes now take the
    write lock first and wait their turn."""
    SessionLog(db_path, desk="desk12").close()
    kiosk = subprocess.Popen(
        [sys.executable, "-c", f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from kiosk.sessionlog import SessionLog
log = SessionLog({str(db_path)!r}, desk="desk12")
print("ready", flush=True)
for i in range(3000):
    log.record("heartbeat_failed", attempt=i)
"""], stdout=subprocess.PIPE, text=True)
    assert kiosk.stdout.readline().strip() == "ready"
    admin = SessionLog(db_path, desk="desk12")
    lost = []
    try:
        for i in range(60):
            try:
                admin.record("admin", action="force_release", reason=f"run {i}")
            except SessionLogError as exc:
                lost.append(str(exc))
    finally:
        admin.close()
        assert kiosk.wait(120) == 0
    assert lost == []
    with SessionLog(db_path, desk="desk12") as log:
        kept = log.db.execute("SELECT count(*) FROM events WHERE kind = 'admin'").fetchone()[0]
    assert kept == 60
