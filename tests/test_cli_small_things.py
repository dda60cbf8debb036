"""The small things a newcomer hit on the admin and facilities commands: -v after the command's
name, `| head`, typos in --reason and --kind, admin commands off a unit, the sessions table's
heading, the demo answering `kiosk status`, the signed-in footer and the French colon."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT


def kiosk(*args, env=None, cwd=ROOT):
    environment = {k: v for k, v in os.environ.items() if k != "HOTDESK_CONFIG"}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "kiosk", *args], capture_output=True,
                          text=True, timeout=60, cwd=cwd, env=environment)


def _log(tmp_path):
    from kiosk.sessionlog import SessionLog

    path = tmp_path / "sessions.db"
    with SessionLog(path, desk="desk12") as log:
        session = log.begin_session("zoe@demo.example", agent_name="Zoë Müller")
        log.activate(session)
        log.end_session(session, "agent")
    return path


def test_verbose_after_the_command_name(tmp_path):
    result = kiosk("sessions", "--db", str(_log(tmp_path)), "-v")
    assert result.returncode == 0, result.stderr


def test_a_pipe_closed_early_is_no_traceback(tmp_path):
    """`kiosk sessions --all | head`: the reader stops after a line; no BrokenPipeError."""
    import sqlite3

    path = _log(tmp_path)
    with sqlite3.connect(path) as conn:  # enough rows to fill the pipe many times over
        row = conn.execute("SELECT * FROM sessions").fetchone()
        columns = [c[1] for c in conn.execute("PRAGMA table_info(sessions)")]
        copies = [tuple(None if c == "id" else v for c, v in zip(columns, row, strict=True))
                  for _ in range(20_000)]
        conn.executemany(f"INSERT INTO sessions VALUES ({','.join('?' * len(columns))})",  # noqa: S608
                         copies)
    reader = subprocess.Popen([sys.executable, "-m", "kiosk", "sessions", "--db", str(path),
                               "--all"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              cwd=ROOT, text=True)
    assert reader.stdout.readline().startswith("ID")
    reader.stdout.close()  # as `head -n 1` does
    errors = reader.stderr.read()
    assert reader.wait(timeout=60) == 0
    assert "Traceback" not in errors and "BrokenPipe" not in errors, errors


def test_a_typo_in_reason_or_kind_is_refused_with_the_closest(tmp_path):
    db = str(_log(tmp_path))
    reason = kiosk("sessions", "--db", db, "--reason", "agnet")
    assert reason.returncode == 2 and "did you mean agent?" in reason.stderr
    kind = kiosk("events", "--db", db, "--kind", "sigin_failed")
    assert kind.returncode == 2 and "did you mean signin_failed?" in kind.stderr


def test_admin_commands_off_a_unit_say_to_use_db(tmp_path):
    result = kiosk("sessions", env={"HOTDESK_CONFIG": str(tmp_path / "none.toml")})
    assert result.returncode == 2 and "--db PATH" in result.stderr


def test_purge_with_db_needs_no_configuration(tmp_path):
    result = kiosk("purge", "--db", str(_log(tmp_path)), "--dry-run",
                   env={"HOTDESK_CONFIG": str(tmp_path / "none.toml")})
    assert result.returncode == 0, result.stderr
    assert "would remove" in result.stdout


def test_the_sessions_table_heads_the_end_reason_so(tmp_path):
    result = kiosk("sessions", "--db", str(_log(tmp_path)))
    assert "END REASON" in result.stdout.splitlines()[0]


def test_the_demo_answers_kiosk_status(tmp_path, monkeypatch):
    from kiosk.cli.ui_cmd import serve_status
    from kiosk.wiring import build_demo

    monkeypatch.setenv("RUNTIME_DIRECTORY", str(tmp_path / "run"))
    unit = build_demo(tmp_path / "demo")
    server = None
    try:
        unit.engine.start().settle()
        server = serve_status(lambda: unit, quiet=True)
        assert server is not None
        result = kiosk("status", "--json", env={"RUNTIME_DIRECTORY": str(tmp_path / "run")})
        assert result.returncode == 0, result.stderr
        answer = json.loads(result.stdout)
        assert answer["state"] == "idle" and answer["desk"] == unit.config.desk.id
        assert answer["gpio"]["status"] == "ok"
        text = kiosk("status", env={"RUNTIME_DIRECTORY": str(tmp_path / "run")}).stdout
        assert "\n  gpio: ok" in text  # the troubleshooting table points staff to this line
    finally:
        if server is not None:
            server.close()
        unit.close()


def test_the_footer_counts_seconds_as_the_warning_does():
    from kiosk.ui import i18n

    fr = i18n.catalog("fr")
    assert fr.tr("Automatic sign-out in {seconds} s", seconds=22) == (
        "Déconnexion automatique dans 22 s")
    assert i18n.colon("fr") == "\u00a0: " and i18n.colon("en") == ": "


def test_kiosk_status_says_when_the_gpio_and_the_badge_reader_are_unavailable():
    """Found by a newcomer: the troubleshooting table tells staff to look for `gpio:
    unavailable`, which only --json had; a badge reader that could not work said nothing."""
    from kiosk.cli.status_cmd import lines

    text = "\n".join(lines({"state": "idle", "gpio": {"status": "unavailable",
                                                     "error": "BadPinFactory: no pins"},
                            "badge": {"status": "unavailable", "device": "/dev/input/r",
                                      "error": "not plugged in (No such file or directory)"}}))
    assert "gpio: unavailable (BadPinFactory: no pins)" in text
    assert "badge reader: unavailable, /dev/input/r (not plugged in" in text


def test_the_doctor_checks_the_badge_reader(tmp_path):
    """Found on an installed unit: a reader that could not work (no evdev, not plugged in)
    was not mentioned by `kiosk doctor`."""
    from kiosk.doctor import badge_check

    assert badge_check("", None).ok  # none configured
    missing = badge_check(str(tmp_path / "usb-reader-event-kbd"), None)
    assert not missing.ok and "not found" in missing.detail and "by-id" in missing.advice
    present = tmp_path / "event-kbd"
    present.write_text("")
    assert badge_check(str(present), None).ok
    running = badge_check("/dev/input/r", {"badge": {"status": "unavailable",
                                                     "error": "No module named 'evdev'"}})
    assert not running.ok and "No module named 'evdev'" in running.detail
    assert "asked the running kiosk" in running.detail


def test_the_simulators_configuration_keeps_its_files_beside_it(tmp_path):
    """Found on a shared machine: `kiosk sim callcenter --write-config` pointed the badge table
    and the metrics file at the unit's own paths, so `kiosk badges list` showed another unit's
    table."""
    from kiosk import config as configuration
    from kiosk.cli.sim_cmd import write_config

    class Sim:
        url, ca_path = "http://127.0.0.1:8080/com.broadsoft.xsi-actions/v2.0", None

    write_config(tmp_path / "kiosk.toml", Sim())
    loaded = configuration.load(tmp_path / "kiosk.toml")
    for path in (loaded.badge.table, loaded.badge.key_file, loaded.log.metrics_file,
                 loaded.log.database):
        assert str(path).startswith(str(tmp_path)), path
    assert loaded.log.journal_socket is None
