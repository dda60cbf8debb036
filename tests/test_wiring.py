"""The one place that picks real or simulated parts."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from kiosk import config as configuration
from kiosk.errors import ConfigError
from kiosk.session import State
from kiosk.wiring import build_demo, build_unit
from tests.conftest import DESK12, ROOT, host_password_file, unit_settings, wait_until


def test_demo_unit_signs_an_agent_in_and_out(tmp_path):
    before = threading.active_count()
    unit = build_demo(tmp_path)
    try:
        unit.engine.start().settle()
        agent = next(a for a in unit.demo_agents if a.user == "zoe")
        assert unit.engine.sign_in(agent.user, agent.password).result(10).ok
        assert unit.phone_sim.snapshot()["line"]["display_name"] == "Zoë Müller"
        assert unit.callcenter_sim.inspect()["seating"][DESK12[0]] == "zoe@demo.example"
        assert unit.engine.sign_out().result(10).ok
        assert (tmp_path / "sessions.db").exists()
    finally:
        unit.close()
        unit.close()
    assert wait_until(lambda: threading.active_count() <= before + 1)


def test_demo_agents_are_listed_for_the_banner(tmp_path):
    unit = build_demo(tmp_path)
    try:
        users = {a.user for a in unit.demo_agents}
        assert {"zoe", "mai", "francois", "wei", "layla"} <= users
        assert all(a.password for a in unit.demo_agents)
    finally:
        unit.close()


def _production_config(tmp_path, sim, phone_port):
    secret = host_password_file(tmp_path)
    return configuration.from_dict(unit_settings(
        tmp_path, url=sim.url, desk__host_password_file=str(secret), phone__port=phone_port))


def test_production_unit_without_gpio_says_so_and_still_works(tmp_path, sim, sim_phone,
                                                               monkeypatch):
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    unit = build_unit(_production_config(tmp_path, sim, sim_phone.port),
                      lock_path=tmp_path / "kiosk.lock")
    try:
        assert unit.panel is None  # no GPIO on this machine, and no silent mock either
        events = list(unit.session_log.db.query("SELECT kind FROM events"))
        assert {"kind": "gpio_unavailable"} in events
        unit.engine.start().settle()
        assert unit.engine.sign_in("zoe", "zoe-demo-1").result(10).ok
        assert unit.engine.sign_out().result(10).ok
    finally:
        unit.close()


def test_production_unit_with_a_missing_phone_still_signs_agents_in(tmp_path, sim):
    """No phone on the port: no provisioning, nothing out of order (calls follow the
    association), and the unit says so; it never falls back to a simulated phone."""
    unit = build_unit(_production_config(tmp_path, sim, str(tmp_path / "no-phone")),
                      lock_path=tmp_path / "kiosk.lock")
    try:
        unit.engine.start().settle()
        assert unit.engine.snapshot.state is State.IDLE
        assert unit.engine.snapshot.phone == "missing" and unit.engine.phone is None
        assert unit.engine.sign_in("zoe", "zoe-demo-1").result(10).ok
        assert unit.callcenter_sim is None and unit.phone_sim is None  # no simulator
    finally:
        unit.close()


def test_production_unit_without_an_hd_at_phone_configured(tmp_path, sim):
    unit = build_unit(_production_config(tmp_path, sim, ""), lock_path=tmp_path / "kiosk.lock")
    try:
        unit.engine.start().settle()
        assert unit.engine.snapshot.phone == "none"
        assert unit.engine.sign_in("zoe", "zoe-demo-1").result(10).ok
        assert unit.engine.snapshot.state is State.ACTIVE
    finally:
        unit.close()


def test_production_unit_needs_the_host_password(tmp_path, sim, monkeypatch):
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    config = configuration.from_dict({
        "desk": {"id": "desk12", "host_user_id": DESK12[0]},
        "callcenter": {"url": sim.url}, "log": {"database": str(tmp_path / "s.db")}})
    with pytest.raises(ConfigError, match="host_password_file"):
        build_unit(config, lock_path=tmp_path / "kiosk.lock")


def test_a_unit_that_fails_to_start_closes_what_it_opened(tmp_path, sim, monkeypatch):
    """The password is missing: the lock taken first is given back (the next start works)."""
    from kiosk.session.lock import RuntimeLock

    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    config = configuration.from_dict({
        "desk": {"id": "desk12", "host_user_id": DESK12[0]},
        "callcenter": {"url": sim.url}, "log": {"database": str(tmp_path / "s.db")}})
    with pytest.raises(ConfigError):
        build_unit(config, lock_path=tmp_path / "kiosk.lock")
    RuntimeLock(tmp_path / "kiosk.lock").release()  # free again


def test_a_second_unit_on_the_same_lock_refuses_to_start(tmp_path, sim, sim_phone,
                                                          monkeypatch):
    from kiosk.errors import AlreadyRunning

    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    config = _production_config(tmp_path, sim, sim_phone.port)
    first = build_unit(config, lock_path=tmp_path / "kiosk.lock")
    try:
        with pytest.raises(AlreadyRunning):
            build_unit(config, lock_path=tmp_path / "kiosk.lock")
    finally:
        first.close()
    build_unit(config, lock_path=tmp_path / "kiosk.lock").close()


def test_a_second_kiosk_run_says_so_in_one_line_before_touching_anything(tmp_path, sim,
                                                                         sim_phone):
    import os
    import subprocess
    import sys

    from kiosk.session.lock import RuntimeLock
    from tests.conftest import ROOT, toml_text

    config = tmp_path / "kiosk.toml"
    config.write_text(toml_text(unit_settings(tmp_path, url=sim.url)))
    runtime = tmp_path / "run"
    first = RuntimeLock(runtime / "kiosk.lock")  # a kiosk is running
    try:
        env = {**os.environ, "RUNTIME_DIRECTORY": str(runtime), "SDL_VIDEODRIVER": "dummy"}
        result = subprocess.run([sys.executable, "-m", "kiosk", "run", "--config", str(config)],
                                capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)
    finally:
        first.release()
    assert result.returncode == 1
    assert "already running" in result.stderr and "Traceback" not in result.stderr
    assert "kivy" not in result.stderr.lower()  # the screen was never touched


def test_a_unit_with_a_badge_reader_configured_looks_for_it_and_still_runs(tmp_path, sim):
    """The reader not plugged in yet: the unit runs, and the reader is looked for again."""
    config = configuration.from_dict(unit_settings(
        tmp_path, url=sim.url, desk__host_password_file=str(host_password_file(tmp_path)),
        phone__port="", badge__device=str(tmp_path / "by-id" / "usb-reader-event-kbd"),
        badge__table=str(tmp_path / "badges.json"), badge__key_file=str(tmp_path / "key")))
    unit = build_unit(config, lock_path=tmp_path / "kiosk.lock")
    try:
        unit.engine.start().settle()
        assert unit.badge_reader is not None and not unit.badge_reader.connected
        assert unit.engine.badge_resolver is not None
        assert unit.engine.badge_tapped("0004521788").result(10).ok
        unit.engine.settle()
        assert unit.engine.snapshot.badge.kind == "unknown"
    finally:
        unit.close()


def test_a_member_of_the_group_sees_the_kiosks_lock_as_held(request):
    """Found on a deployed desk: under the unit's UMask=0077 the lock file was 0600, so `kiosk
    doctor` run by a member of the hotdesk group could not open it, decided that no kiosk was
    running and opened the phone's port and the pins itself. The lock is readable now, and a
    lock that cannot be opened counts as held."""
    import os
    import shutil
    import subprocess
    import sys
    import tempfile

    from kiosk.session.lock import RuntimeLock

    folder = Path(tempfile.mkdtemp(prefix="hotdesk-lock-test-"))  # outside pytest's 0700 tree
    folder.chmod(0o755)
    request.addfinalizer(lambda: shutil.rmtree(folder))
    previous = os.umask(0o077)
    try:
        lock = RuntimeLock(folder / "kiosk.lock")
    finally:
        os.umask(previous)
    probe = [sys.executable, "-c", "import sys; from kiosk.session.lock import kiosk_running; "
             "sys.exit(0 if kiosk_running(sys.argv[1]) else 1)", str(folder / "kiosk.lock")]
    as_someone_else = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    env = {"PYTHONPATH": str(ROOT), "PATH": os.environ["PATH"]}
    try:
        assert (folder / "kiosk.lock").stat().st_mode & 0o777 == 0o644
        assert subprocess.run(as_someone_else + probe, env=env).returncode == 0
        (folder / "kiosk.lock").chmod(0o600)  # a lock this user may not open: held, to be safe
        assert subprocess.run(as_someone_else + probe, env=env).returncode == 0
    finally:
        lock.release()
    (folder / "kiosk.lock").chmod(0o644)
    assert subprocess.run(as_someone_else + probe, env=env).returncode == 1  # given back
