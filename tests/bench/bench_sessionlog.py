"""Session log at the size of a year on a large floor: 1,000,000 sessions, 5,000,000 events.

Prints: the insert rate with synchronous=FULL (a real sign-in/sign-out's transactions), the
query behind `kiosk sessions --agent X --limit 50` (target < 50 ms) and the whole command
(target < 0.5 s), `kiosk stats --since 30d` (target < 1 s), and a CSV export of everything.
The generated log is cached in the temp folder between runs (it takes a while to build).
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kiosk.sessionlog import SessionLog, query, utc_iso

SESSIONS = 1_000_000
EVENTS_PER_SESSION = 5
AGENTS = 3000
DESKS = 400
REASONS = ("agent", "agent", "agent", "end_of_day", "idle", "limit", "button", "evicted",
           "connection_lost")
CACHE = Path(tempfile.gettempdir()) / "hotdesk-bench" / f"sessions-{SESSIONS}-v2.db"
ROOT = Path(__file__).resolve().parents[2]


def _generate(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    for old in path.parent.glob(partial.name + "*"):
        old.unlink()
    SessionLog(partial, desk="bench").close()  # schema through the migrations
    conn = sqlite3.connect(partial)
    conn.execute("PRAGMA synchronous = OFF")
    rng = random.Random(42)
    now = time.time()
    year = 365 * 86400
    started_at = sorted(now - rng.random() * year for _ in range(SESSIONS))
    batch_s, batch_e = [], []
    event_id = 0

    def flush():
        conn.executemany("INSERT INTO sessions (id, desk, agent, agent_name, language, "
                         "stay_signed_in, status, started, ended, duration_s, end_reason, "
                         "acd_state_at_end, boot_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", batch_s)
        conn.executemany("INSERT INTO events (id, time, session, desk, kind, detail) "
                         "VALUES (?,?,?,?,?,?)", batch_e)
        batch_s.clear()
        batch_e.clear()

    for sid, start in enumerate(started_at, 1):
        agent = f"agent{rng.randrange(AGENTS):04d}@corp.example.au"
        desk = f"desk{rng.randrange(DESKS):03d}"
        duration = rng.uniform(600, 9 * 3600)
        end = start + duration
        reason = rng.choice(REASONS)
        batch_s.append((sid, desk, agent, "Agent Name", "en", 1, "ended", utc_iso(start),
                        utc_iso(end), round(duration, 3), reason, "Sign-Out", "bench"))
        kinds = [("signin_started", {"agent": agent}),
                 ("step", {"step": "associate", "phase": "trying"}),
                 ("step", {"step": "associate", "phase": "done"}),
                 ("signed_in", {}), ("signed_out", {"reason": reason})]
        for offset, (kind, detail) in enumerate(kinds):
            event_id += 1
            session = sid
            if kind == "signin_started" and sid % 20 == 0:  # some failed sign-ins too
                kind, session, detail = "signin_failed", None, {"agent": agent,
                                                                "reason": "invalid_credentials"}
            when = end if kind == "signed_out" else start + offset * 0.2
            batch_e.append((event_id, utc_iso(when), session, desk, kind, json.dumps(detail)))
        if len(batch_s) >= 20000:
            flush()
    flush()
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()
    partial.rename(path)


def _median_s(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _kiosk(*args: str, stdout=subprocess.DEVNULL) -> None:
    subprocess.run([sys.executable, "-m", "kiosk", *args], check=True, stdout=stdout, cwd=ROOT,
                   env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})


def main() -> None:
    if not CACHE.exists():
        started = time.perf_counter()
        print(f"   generating {SESSIONS:,} sessions and {SESSIONS * EVENTS_PER_SESSION:,} "
              f"events into {CACHE} …", flush=True)
        _generate(CACHE)
        print(f"   generated in {time.perf_counter() - started:.0f} s "
              f"({CACHE.stat().st_size / 2**20:.0f} MiB)")

    with tempfile.TemporaryDirectory() as tmp:
        log = SessionLog(Path(tmp) / "insert.db", desk="bench")
        rounds = 200
        started = time.perf_counter()
        for i in range(rounds):
            sid = log.begin_session(f"agent{i}@corp.example.au", agent_name="A", language="en")
            log.journal_step(sid, "associate", "trying")
            log.journal_step(sid, "associate", "done")
            log.activate(sid)
            log.end_session(sid, "agent")
        elapsed = time.perf_counter() - started
        log.close()
        print(f"   insert, synchronous=FULL: {rounds * 5 / elapsed:.0f} commits/s, "
              f"{rounds / elapsed:.0f} whole sessions/s (5 commits each)")

    conn = query.open_readonly(CACHE)
    agent = "agent0042@corp.example.au"
    rows = query.list_sessions(conn, agent=agent, limit=50)
    q = _median_s(lambda: query.list_sessions(conn, agent=agent, limit=50), 20)
    print(f"   query behind `kiosk sessions --agent X --limit 50`: {q * 1000:.1f} ms "
          f"({len(rows)} rows; target < 50 ms)")
    cmd = _median_s(lambda: _kiosk("sessions", "--db", str(CACHE), "--agent", agent,
                                   "--limit", "50"), 5)
    print(f"   `kiosk sessions --agent X --limit 50`, whole command: {cmd:.2f} s "
          "(target < 0.5 s)")
    commands = [
        ("sessions", "--agent", "agent0042", "--limit", "50"),
        ("sessions", "--agent", agent.upper(), "--limit", "50"),
        ("sessions", "show", "500000"),
        ("events", "--kind", "signed_out", "--limit", "50"),
        ("stats", "--since", "30d"),
        ("stats", "--since", "30d", "--by", "agent"),
        ("stats", "--agent", "agent0042", "--by", "reason"),
    ]
    for command in commands:
        took = _median_s(lambda c=command: _kiosk(*c[:1], "--db", str(CACHE), *c[1:])
                         if c[0] != "sessions" or c[1] != "show" else
                         _kiosk("sessions", "show", c[2], "--db", str(CACHE)), 3)
        print(f"   `kiosk {' '.join(command)}`, whole command: {took:.2f} s (target < 0.5 s)")
    with open(os.devnull, "w") as sink:
        started = time.perf_counter()
        _kiosk("sessions", "--db", str(CACHE), "--limit", "0", "--format", "csv", stdout=sink)
        export = time.perf_counter() - started
    print(f"   CSV export of all {SESSIONS:,} sessions: {export:.1f} s, "
          f"{SESSIONS / export:,.0f} rows/s")
