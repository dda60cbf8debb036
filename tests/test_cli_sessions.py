"""`kiosk sessions / events / stats / purge` over a real session log file."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import time

import pytest

from kiosk.sessionlog import SessionLog
from tests.conftest import ROOT

DAY = 86400.0


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """A log of six sessions over 40 days, one still open, one failed sign-in."""
    path = tmp_path_factory.mktemp("log") / "sessions.db"
    now = time.time()
    clock = [now]
    mono = [1000.0]
    log = SessionLog(path, desk="desk12", clock=lambda: clock[0], monotonic=lambda: mono[0])

    def session(agent, days_ago, hours, reason, name=""):
        clock[0] = now - days_ago * DAY
        sid = log.begin_session(agent, agent_name=name, language="en", stay_signed_in=True)
        log.journal_step(sid, "associate", "trying")
        log.journal_step(sid, "associate", "done")
        log.activate(sid)
        if reason:
            clock[0] += hours * 3600
            mono[0] += hours * 3600
            log.end_session(sid, reason, acd_state="Sign-Out")
        return sid

    session("mai@demo.example", 40, 8, "end_of_day", "Mai Nguyễn")
    session("zoe@demo.example", 20, 2, "idle", "Zoë Müller")
    session("mai@demo.example", 10, 4, "agent", "Mai Nguyễn")
    session("wei@demo.example", 3, 1, "evicted", "王伟")
    session("mai@demo.example", 1, 6, "agent", "Mai Nguyễn")
    clock[0] = now - 0.5 * DAY
    log.fail_sign_in(None, "zoe@demo.example", "invalid_credentials")
    session("zoe@demo.example", 0.1, 0, None, "Zoë Müller")
    log.close()
    return path


def kiosk(*args):
    return subprocess.run([sys.executable, "-m", "kiosk", *args], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)


def test_sessions_table_newest_first_within_100_columns(history):
    result = kiosk("sessions", "--db", str(history))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "STARTED", "LENGTH", "DESK", "AGENT", "END", "REASON"]
    assert [line.split()[0] for line in lines[1:]] == ["6", "5", "4", "3", "2", "1"]
    assert "(active)" in lines[1] and "agent" in lines[2]
    assert all(len(line) <= 100 for line in lines)
    assert "6h 00m" in lines[2]


def test_sessions_csv_has_stable_columns_and_utc(history):
    result = kiosk("sessions", "--db", str(history), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == ["id", "desk", "agent", "agent_name", "language", "stay_signed_in",
                             "started", "ended", "duration_s", "end_reason"]
    assert rows[0]["started"].endswith("Z") and rows[0]["ended"] == ""
    assert rows[1]["duration_s"] == "21600.0"


def test_sessions_json(history):
    data = json.loads(kiosk("sessions", "--db", str(history), "--format", "json").stdout)
    assert data[-1]["agent_name"] == "Mai Nguyễn"
    assert data[-1]["stay_signed_in"] is True
    assert data[-1]["end_reason"] == "end_of_day"


@pytest.mark.parametrize(("args", "ids"), [
    (["--agent", "mai@demo.example"], [5, 3, 1]),
    (["--desk", "desk12", "--limit", "2"], [6, 5]),
    (["--since", "7d"], [6, 5, 4]),
    (["--since", "30d", "--until", "5d"], [3, 2]),
    (["--since", "36h"], [6, 5]),
    (["--reason", "evicted"], [4]),
    (["--open"], [6]),
    (["--limit", "0"], [6, 5, 4, 3, 2, 1]),
])
def test_sessions_filters(history, args, ids):
    result = kiosk("sessions", "--db", str(history), "--format", "json", *args)
    assert result.returncode == 0, result.stderr
    assert [row["id"] for row in json.loads(result.stdout)] == ids


def test_absolute_since(history):
    from datetime import datetime, timedelta

    since = (datetime.now() - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    data = json.loads(kiosk("sessions", "--db", str(history), "--format", "json",
                            "--since", since).stdout)
    assert [row["id"] for row in data] == [6, 5]


def test_sessions_show_lists_events_in_order(history):
    result = kiosk("sessions", "show", "3", "--db", str(history))
    assert result.returncode == 0, result.stderr
    assert "Mai Nguyễn (mai@demo.example) at desk12" in result.stdout
    kinds = [line.split()[2] for line in result.stdout.splitlines() if line.startswith("    ")]
    assert kinds == ["signin_started", "step", "step", "signed_in", "signed_out"]
    data = json.loads(kiosk("sessions", "show", "3", "--db", str(history), "--format",
                            "json").stdout)
    assert data["session"]["end_reason"] == "agent"
    assert data["events"][1]["detail"] == {"phase": "trying", "step": "associate"}


def test_sessions_show_takes_the_options_given_before_show_too(history):
    """Found by a newcomer: `kiosk sessions --db X show ID` ignored --db and asked for it."""
    before = kiosk("sessions", "--db", str(history), "--utc", "show", "3")
    assert before.returncode == 0, before.stderr
    assert before.stdout == kiosk("sessions", "show", "3", "--db", str(history), "--utc").stdout
    assert "Mai Nguyễn (mai@demo.example) at desk12" in before.stdout


def test_sessions_show_unknown_id(history):
    result = kiosk("sessions", "show", "99", "--db", str(history))
    assert result.returncode == 1 and "no session 99" in result.stderr


def test_events_filters_and_formats(history):
    data = json.loads(kiosk("events", "--db", str(history), "--kind", "signin_failed",
                            "--format", "json").stdout)
    assert len(data) == 1 and data[0]["detail"]["reason"] == "invalid_credentials"
    session_events = json.loads(kiosk("events", "--db", str(history), "--session", "1",
                                      "--format", "json").stdout)
    assert {e["session"] for e in session_events} == {1}
    recent = json.loads(kiosk("events", "--db", str(history), "--since", "2d",
                              "--format", "json").stdout)
    assert {e["session"] for e in recent} == {5, 6, None}
    table = kiosk("events", "--db", str(history), "--limit", "3")
    assert len(table.stdout.splitlines()) == 4
    rows = list(csv.DictReader(io.StringIO(kiosk("events", "--db", str(history), "--format",
                                                 "csv").stdout)))
    assert list(rows[0]) == ["id", "time", "session", "desk", "kind", "detail"]


def test_stats(history):
    data = json.loads(kiosk("stats", "--db", str(history), "--format", "json").stdout)
    assert data["sessions"] == 6
    assert data["total_s"] == (8 + 2 + 4 + 1 + 6) * 3600
    assert data["median_s"] == 4 * 3600
    assert data["failed_sign_ins"] == 1
    assert data["end_reasons"]["agent"] == 2 and data["end_reasons"]["(open)"] == 1


def test_stats_since_and_by(history):
    data = json.loads(kiosk("stats", "--db", str(history), "--since", "30d", "--by", "agent",
                            "--format", "json").stdout)
    by_agent = {g["agent"]: g for g in data["groups"]}
    assert by_agent["mai@demo.example"]["sessions"] == 2
    assert by_agent["mai@demo.example"]["median_s"] == 5 * 3600
    table = kiosk("stats", "--db", str(history), "--by", "reason").stdout
    assert "failed sign-ins  1" in table and "evicted" in table
    assert kiosk("stats", "--db", str(history), "--by", "day").returncode == 0


def test_purge_dry_run_then_real_keeps_open_sessions(tmp_path):
    path = tmp_path / "s.db"
    clock = [time.time() - 100 * DAY]
    log = SessionLog(path, desk="d", clock=lambda: clock[0])
    old_open = log.begin_session("open@x.y")
    old_closed = log.begin_session("closed@x.y")
    log.end_session(old_closed, "agent")
    clock[0] = time.time()
    recent = log.begin_session("recent@x.y")
    log.end_session(recent, "agent")
    log.close()
    dry = kiosk("purge", "--db", str(path), "--older-than", "30", "--dry-run")
    assert dry.returncode == 0 and dry.stdout.startswith("would remove 1 sessions")
    real = kiosk("purge", "--db", str(path), "--older-than", "30")
    assert real.stdout.startswith("removed 1 sessions")
    ids = [row["id"] for row in json.loads(kiosk("sessions", "--db", str(path), "--format",
                                                 "json").stdout)]
    assert sorted(ids) == sorted([old_open, recent])


def test_purge_defaults_to_retention_from_config(tmp_path, write_config):
    path = tmp_path / "s.db"
    SessionLog(path, desk="d").close()
    config = write_config(f"""
        [desk]
        id = "desk12"
        host_user_id = "desk12@demo.example"
        [callcenter]
        url = "https://xsp.example.au"
        [log]
        database = "{path}"
        retention_days = 90
        """)
    result = kiosk("purge", "--config", str(config), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "(90 days)" in result.stdout
    assert kiosk("sessions", "--config", str(config)).stdout.startswith("no sessions match")


@pytest.mark.parametrize("args", [
    ["sessions", "--since", "last tuesday"], ["sessions", "--limit", "-1"],
    ["sessions", "--format", "xml"], ["stats", "--by", "colour"],
    ["purge", "--older-than", "0"],
])
def test_bad_arguments_exit_2_with_one_clear_line(history, args):
    result = kiosk(*args, "--db", str(history))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(("kiosk", "usage"))


def test_missing_database_says_where_it_looked(tmp_path):
    result = kiosk("sessions", "--db", str(tmp_path / "nothing.db"))
    assert result.returncode == 1
    assert str(tmp_path / "nothing.db") in result.stderr


def test_admin_commands_import_no_kivy(history):
    script = ("import sys; from kiosk.cli import main; "
              f"main(['sessions', '--db', {str(history)!r}]); "
              f"main(['stats', '--db', {str(history)!r}]); "
              "print('kivy' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=ROOT, timeout=60)
    assert result.stdout.splitlines()[-1] == "False"


# --- a log people can read --------------------------------------------------------------------


def test_times_to_the_second_in_local_time_or_utc(history):
    local = kiosk("sessions", "--db", str(history)).stdout.splitlines()[1]
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ", local)
    utc = kiosk("sessions", "--db", str(history), "--utc").stdout.splitlines()[1]
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ ", utc)
    events = kiosk("events", "--db", str(history), "--utc").stdout.splitlines()[1]
    assert re.search(r"\d\d:\d\d:\d\dZ", events)


def test_event_detail_is_never_cut_and_never_says_none(history):
    lines = kiosk("events", "--db", str(history), "--kind", "signin_failed").stdout.splitlines()
    assert "reason=invalid_credentials" in lines[1]  # whole, not "reason=inva…"
    every = kiosk("events", "--db", str(history), "--limit", "0").stdout
    assert "None" not in every and "owed=" not in every
    show = kiosk("sessions", "show", "5", "--db", str(history)).stdout
    assert "None" not in show


def test_every_kind_of_event_is_listed_with_its_meaning():
    from kiosk.sessionlog.query import EVENT_KINDS

    result = kiosk("events", "--kinds")
    assert result.returncode == 0
    listed = dict(line.split(None, 1) for line in result.stdout.splitlines())
    assert listed == EVENT_KINDS


def test_every_kind_the_code_writes_is_documented():
    from kiosk.sessionlog.query import EVENT_KINDS

    pattern = re.compile(r"""(?:record|_record|when_event|_event_row)\(\s*"([a-z_]+)"|"""
                         r"""session_log\.record,\s*"([a-z_]+)\"""")
    written = set()
    for path in (ROOT / "kiosk").rglob("*.py"):
        for match in pattern.finditer(path.read_text(encoding="utf-8")):
            written.add(match.group(1) or match.group(2))
    assert written - set(EVENT_KINDS) == set()
    assert {"signin_started", "signed_out", "outbox_done", "reconnect_failed"} <= written


def test_agent_filters_take_the_user_part_and_any_case(history):
    def agents(*args):
        rows = json.loads(kiosk("sessions", "--db", str(history), "--format", "json",
                                *args).stdout)
        return {r["agent"] for r in rows}

    assert agents("--agent", "mai") == {"mai@demo.example"}
    assert agents("--agent", "MAI@Demo.Example") == {"mai@demo.example"}
    stats = json.loads(kiosk("stats", "--db", str(history), "--agent", "Zoe",
                             "--format", "json").stdout)
    assert stats["sessions"] == 2 and stats["failed_sign_ins"] == 1


def test_no_match_says_what_the_log_holds(history):
    result = kiosk("sessions", "--db", str(history), "--agent", "nobody")
    assert result.stdout.startswith("no sessions match; the log has 6 session(s) from ")
    assert "zoe@demo.example" in result.stdout


def test_stats_filters_csv_failed_per_agent_and_medians_for_every_grouping(history):
    until = json.loads(kiosk("stats", "--db", str(history), "--until", "15d",
                             "--format", "json").stdout)
    assert until["sessions"] == 2  # the ones 40 and 20 days ago
    assert json.loads(kiosk("stats", "--db", str(history), "--desk", "nowhere", "--format",
                            "json").stdout)["sessions"] == 0
    by_reason = json.loads(kiosk("stats", "--db", str(history), "--by", "reason",
                                 "--format", "json").stdout)["groups"]
    assert all("median_s" in g for g in by_reason)
    assert {g["reason"]: g["median_s"] for g in by_reason}["agent"] == 5 * 3600
    rows = list(csv.DictReader(io.StringIO(kiosk("stats", "--db", str(history), "--by",
                                                 "agent", "--format", "csv").stdout)))
    assert list(rows[0]) == ["agent", "sessions", "total_s", "median_s", "failed_sign_ins"]
    assert {r["agent"]: r["failed_sign_ins"] for r in rows}["zoe@demo.example"] == "1"
    table = kiosk("stats", "--db", str(history), "--by", "reason").stdout
    assert "MEDIAN" in table and "None" not in table


def test_sessions_show_json_has_the_same_types_as_the_list(history):
    shown = json.loads(kiosk("sessions", "show", "5", "--db", str(history),
                             "--format", "json").stdout)
    listed = json.loads(kiosk("sessions", "--db", str(history), "--format", "json").stdout)
    assert shown["session"]["stay_signed_in"] is True
    assert next(r for r in listed if r["id"] == 5)["stay_signed_in"] is True
