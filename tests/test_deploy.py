"""Deployment: the systemd units, sd_notify, the install script and `kiosk doctor`."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from kiosk.doctor import Doctor
from kiosk.sdnotify import Notifier
from tests.conftest import DESK12, ROOT

SYSTEMD = ROOT / "systemd"
UNITS = ["hotdesk-kiosk.service", "hotdesk-retention.service", "hotdesk-retention.timer"]
needs_systemd = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                   reason="systemd-analyze is not installed")


def staged_unit(tmp_path, name) -> Path:
    """The unit with its ExecStart pointing at this checkout's `kiosk` (which exists here)."""
    kiosk = Path(sys.executable).parent / "kiosk"
    text = (SYSTEMD / name).read_text().replace("/opt/hotdesk/venv/bin/kiosk", str(kiosk))
    path = tmp_path / name
    path.write_text(text)
    if name.endswith(".timer"):
        (tmp_path / name.replace(".timer", ".service")).write_text(
            (SYSTEMD / name.replace(".timer", ".service")).read_text().replace(
                "/opt/hotdesk/venv/bin/kiosk", str(kiosk)))
    return path


@needs_systemd
@pytest.mark.parametrize("name", UNITS)
def test_units_pass_systemd_analyze_verify(tmp_path, name):
    result = subprocess.run(["systemd-analyze", "verify", str(staged_unit(tmp_path, name))],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "hotdesk" not in result.stderr, result.stderr  # no complaint about our units


@needs_systemd
@pytest.mark.parametrize(("name", "limit"), [("hotdesk-kiosk.service", 3.0),
                                             ("hotdesk-retention.service", 3.0)])
def test_unit_exposure_is_low(name, limit):
    result = subprocess.run(["systemd-analyze", "security", "--offline=true",
                             str(SYSTEMD / name)], capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for \S+: ([\d.]+)", result.stdout)
    assert match, result.stdout[-2000:] + result.stderr
    assert float(match.group(1)) <= limit


def test_kiosk_unit_asks_for_what_the_design_says():
    unit = (SYSTEMD / "hotdesk-kiosk.service").read_text()
    for line in ("Type=notify", "WatchdogSec=", "Restart=always", "User=hotdesk",
                 "StateDirectory=hotdesk", "ConfigurationDirectory=hotdesk",
                 "RuntimeDirectory=hotdesk", "LoadCredential=host-password:",
                 "SDL_VIDEODRIVER=kmsdrm", "Conflicts=getty@tty1.service",
                 "DevicePolicy=closed", "NoNewPrivileges=yes", "ProtectSystem=strict",
                 "SystemCallFilter=@system-service"):
        assert line in unit, line
    groups = re.search(r"SupplementaryGroups=(.*)", unit).group(1).split()
    assert set(groups) >= {"video", "render", "input", "gpio", "dialout"}


# --- sd_notify --------------------------------------------------------------------------------


@pytest.fixture
def notify_socket(tmp_path):
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    yield path, sock
    sock.close()


def test_sd_notify_sends_ready_status_watchdog_stopping(notify_socket):
    path, sock = notify_socket
    notifier = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "20000000"})
    assert notifier.enabled and notifier.watchdog_interval_s() == 10
    notifier.ready("desk free")
    assert sock.recv(256) == b"READY=1\nSTATUS=desk free"
    notifier.status("signed in: mai@demo.example")
    assert sock.recv(256) == b"STATUS=signed in: mai@demo.example"
    notifier.status("signed in: mai@demo.example")  # unchanged: not sent again
    notifier.watchdog()
    assert sock.recv(256) == b"WATCHDOG=1"
    notifier.stopping()
    assert sock.recv(256) == b"STOPPING=1"
    notifier.close()


def test_sd_notify_does_nothing_outside_systemd():
    notifier = Notifier({})
    assert not notifier.enabled and notifier.watchdog_interval_s() is None
    assert notifier.ready() is False


def test_watchdog_meant_for_another_process_is_ignored():
    notifier = Notifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000000",
                         "WATCHDOG_PID": str(os.getpid() + 1)})
    assert notifier.watchdog_interval_s() is None


def test_abstract_notify_socket(tmp_path):
    name = f"hotdesk-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2)
    try:
        Notifier({"NOTIFY_SOCKET": "@" + name}).ready()
        assert sock.recv(64) == b"READY=1"
    finally:
        sock.close()


# --- the install script -----------------------------------------------------------------------


def install(*args):
    return subprocess.run(["bash", str(SYSTEMD / "install.sh"), *args], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)


def snapshot_tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_mode)
            for p in root.rglob("*") if p.is_file()}


def test_install_into_a_staging_root_twice(tmp_path):
    first = install("--root", str(tmp_path))
    assert first.returncode == 0, first.stderr
    for path in ("etc/systemd/system/hotdesk-kiosk.service",
                 "etc/systemd/system/hotdesk-retention.timer",
                 "etc/udev/rules.d/99-hotdesk-deskphone.rules",
                 "usr/lib/sysusers.d/hotdesk.conf", "usr/lib/tmpfiles.d/hotdesk.conf",
                 "etc/hotdesk/kiosk.toml", "opt/hotdesk/src/kiosk/cli/__init__.py"):
        assert (tmp_path / path).is_file(), path
    assert oct((tmp_path / "etc/hotdesk/kiosk.toml").stat().st_mode)[-3:] == "640"
    assert "would: apt-get install" in first.stdout
    assert "would: systemctl enable hotdesk-kiosk.service" in first.stdout
    before = snapshot_tree(tmp_path)
    second = install("--root", str(tmp_path))
    assert second.returncode == 0, second.stderr
    assert "nothing to do" in second.stdout
    assert not re.search(r"^installed ", second.stdout, re.MULTILINE)
    assert "systemctl enable" not in second.stdout
    assert snapshot_tree(tmp_path) == before


def test_install_puts_kiosk_on_path_and_uninstall_takes_it_away(tmp_path):
    """Every `kiosk …` line of the README runs as written on a unit: `kiosk` is on PATH (in
    /usr/local/bin, which sudo's secure_path has too)."""
    result = install("--root", str(tmp_path))
    link = tmp_path / "usr/local/bin/kiosk"
    assert link.is_symlink() and str(link.readlink()) == "/opt/hotdesk/venv/bin/kiosk"
    tool = tmp_path / "usr/local/bin/sqlite-utils"  # the README's sqlite-utils examples
    assert tool.is_symlink() and str(tool.readlink()) == "/opt/hotdesk/venv/bin/sqlite-utils"
    assert "linked" in result.stdout
    install("--root", str(tmp_path), "--uninstall")
    assert not link.is_symlink()


def test_install_keeps_a_units_own_configuration(tmp_path):
    install("--root", str(tmp_path))
    own = tmp_path / "etc/hotdesk/kiosk.toml"
    own.write_text("# this desk's own\n")
    install("--root", str(tmp_path))
    assert own.read_text() == "# this desk's own\n"


def test_uninstall_keeps_the_session_log_unless_purged(tmp_path):
    install("--root", str(tmp_path))
    log = tmp_path / "var/lib/hotdesk/sessions.db"
    log.write_text("log")
    result = install("--root", str(tmp_path), "--uninstall")
    assert result.returncode == 0
    assert log.exists() and not (tmp_path / "etc/systemd/system/hotdesk-kiosk.service").exists()
    assert not (tmp_path / "opt/hotdesk").exists()
    install("--root", str(tmp_path), "--uninstall", "--purge")
    assert not log.exists() and not (tmp_path / "etc/hotdesk").exists()


def test_installed_example_configuration_passes_config_check(tmp_path):
    install("--root", str(tmp_path))
    result = subprocess.run([sys.executable, "-m", "kiosk", "config", "check",
                             str(tmp_path / "etc/hotdesk/kiosk.toml")], capture_output=True,
                            text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stdout


# --- kiosk doctor -----------------------------------------------------------------------------


@pytest.fixture
def unit_files(tmp_path, tls_sim, sim_phone, unit_config):
    """A unit's configuration against the simulators: HTTPS Call Center with its CA, the
    simulated phone, a state folder, a private host password, a fake DRM device."""
    dri = tmp_path / "dri"
    dri.mkdir()
    (dri / "card0").write_text("")
    (tmp_path / "state").mkdir()  # as the install script leaves it (the doctor makes nothing)

    def write(url=None, ca=None, database=None, host_password=None):
        return unit_config(
            url=url or tls_sim.url, host_password=host_password,
            callcenter__ca_bundle=str(tls_sim.ca_path) if ca is None else ca,
            callcenter__connect_timeout_s=2, callcenter__read_timeout_s=3,
            signin__languages=["en", "fr", "ar"], phone__port=sim_phone.port,
            log__database=database or str(tmp_path / "state" / "sessions.db"))

    write.dri = dri
    write.tmp = tmp_path
    return write


def doctor(unit_files, factory=None, **changes):
    checks = Doctor(unit_files(**changes), dri_dir=unit_files.dri,
                    pin_factory=factory or MockFactory(), clock_synced=lambda: True).run()
    return {c.name: c for c in checks}


def test_doctor_all_green_against_the_simulators(unit_files):
    checks = doctor(unit_files)
    assert [name for name, c in checks.items() if not c.ok] == []
    assert len(checks) == 13
    assert "VX-400" in checks["phone"].detail and "VX4-000123" in checks["phone"].detail
    assert "TLS valid for" in checks["Call Center"].detail
    assert "Hoteling Host active" in checks["desk host"].detail
    assert checks["Xsi-Events"].detail.startswith("offered")


def test_doctor_silent_phone(unit_files, sim_phone):
    sim_phone.set_silent(True)
    check = doctor(unit_files)["phone"]
    assert not check.ok and "did not answer" in check.detail
    assert "powered" in check.advice


def test_doctor_untrusted_tls(unit_files):
    checks = doctor(unit_files, ca="")
    assert not checks["Call Center"].ok and "TLS" in checks["Call Center"].detail
    assert "ca_bundle" in checks["Call Center"].advice


def test_doctor_wrong_host_password_costs_one_failed_login(unit_files, tls_sim):
    """Two runs while fixing the password could lock the desk: a run spends at most one
    login attempt of the desk account, and names the file it read."""
    checks = doctor(unit_files, host_password="not-the-password")
    check = checks["desk host"]
    assert not check.ok and "was refused" in check.detail
    assert str(unit_files.tmp / "host-password") in check.detail
    assert "host-password" in check.advice and "once" in check.advice
    events = checks["Xsi-Events"]
    assert not events.ok and "one login attempt per run" in events.detail
    assert tls_sim.inspect()["users"][DESK12[0]]["failed_logins"] == 1


def test_doctor_names_the_host_password_file_it_read(unit_files):
    check = doctor(unit_files)["desk host"]
    assert check.ok and f"password from {unit_files.tmp / 'host-password'}" in check.detail


def test_doctor_says_to_check_the_url_when_the_server_has_no_xsi(unit_files):
    """A URL typo that reaches another web server (the portal): every Xsi path is a 404."""
    import http.server
    import threading

    class Portal(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_error(404)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Portal)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        check = doctor(unit_files, url=f"http://127.0.0.1:{server.server_port}/")["desk host"]
    finally:
        server.shutdown()
        server.server_close()
    assert not check.ok
    assert check.advice.startswith("check callcenter.url first")
    assert f"127.0.0.1:{server.server_port}/com.broadsoft.xsi-actions/v2.0" in check.advice


def test_doctor_busy_gpio_pin(unit_files):
    from gpiozero import LED

    factory = MockFactory()
    holder = LED(25, pin_factory=factory)  # someone else holds the button's pin
    try:
        check = doctor(unit_files, factory=factory)["GPIO"]
    finally:
        holder.close()
    assert not check.ok and "in use" in check.detail
    assert "stop the kiosk" in check.advice


def test_doctor_missing_state_directory_is_named_and_not_made(unit_files):
    missing = unit_files.tmp / "nowhere" / "state"
    check = doctor(unit_files, database=str(missing / "sessions.db"))["state directory"]
    assert not check.ok and "does not exist" in check.detail
    assert not missing.parent.exists()  # the doctor creates nothing


@pytest.mark.skipif(os.geteuid() != 0, reason="checking as another user needs root")
def test_doctor_checks_the_state_directory_as_the_service_user(unit_files):
    """Under sudo, the doctor is root, who may write anywhere: it asks as the kiosk's user
    (here `nobody`, who may not write in a folder of root's)."""
    folder = unit_files.tmp / "state"
    folder.chmod(0o755)
    before = sorted(folder.iterdir())
    checks = Doctor(unit_files(), dri_dir=unit_files.dri, pin_factory=MockFactory(),
                    clock_synced=lambda: True, service_user="nobody").run()
    check = next(c for c in checks if c.name == "state directory")
    assert not check.ok and "not writable by nobody" in check.detail
    assert "chown hotdesk:hotdesk" in check.advice
    assert sorted(folder.iterdir()) == before


def test_doctor_missing_display_and_unsynced_clock(unit_files):
    checks = {c.name: c for c in Doctor(unit_files(), dri_dir=unit_files.tmp / "none",
                                         pin_factory=MockFactory(),
                                         clock_synced=lambda: False).run()}
    assert not checks["display"].ok and "vc4-kms-v3d" in checks["display"].advice
    assert not checks["clock"].ok and "set-ntp" in checks["clock"].advice


def test_doctor_with_a_broken_configuration_still_checks_the_rest(tmp_path):
    path = tmp_path / "kiosk.toml"
    path.write_text("[desk]\nid = 'bad id'\n")
    dri = tmp_path / "dri"
    dri.mkdir()
    (dri / "card0").write_text("")
    checks = {c.name: c for c in Doctor(path, dri_dir=dri, pin_factory=MockFactory(),
                                         clock_synced=lambda: True).run()}
    assert len(checks) == 13
    assert not checks["configuration"].ok and "desk.id" in checks["configuration"].detail
    for name in ("display", "clock", "GPIO", "fonts"):
        assert checks[name].ok, checks[name]
        assert "with the defaults" in checks[name].detail
    for name in ("Call Center", "desk host", "Xsi-Events"):
        assert not checks[name].ok and checks[name].detail.startswith("not checked")


def test_doctor_command_json_and_exit_code(unit_files):
    result = subprocess.run([sys.executable, "-m", "kiosk", "doctor", "--config",
                             str(unit_files()), "--json"], capture_output=True, text=True,
                            timeout=120, cwd=ROOT)
    data = json.loads(result.stdout)
    assert result.returncode == (0 if data["ok"] else 1)
    assert {c["name"] for c in data["checks"]} >= {"configuration", "phone", "Call Center"}
    assert all(set(c) == {"name", "ok", "detail", "advice"} for c in data["checks"])


# --- kiosk run, as systemd starts it ----------------------------------------------------------


def test_kiosk_run_under_a_fake_systemd(unit_files, notify_socket, tmp_path, tls_sim):
    """The production entry point: the screen comes up (offscreen here), READY=1 follows the
    first frame, the unit starts behind it and reports the desk free, and SIGTERM stops it."""
    import signal
    import time

    path, sock = notify_socket
    config = unit_files()
    env = {**os.environ, "NOTIFY_SOCKET": path, "SDL_VIDEODRIVER": "offscreen",
           "KIVY_HOME": str(tmp_path / "kivy"), "RUNTIME_DIRECTORY": str(tmp_path / "run"),
           "GPIOZERO_PIN_FACTORY": "mock"}
    process = subprocess.Popen([sys.executable, "-m", "kiosk", "run", "--config", str(config)],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    messages = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("desk free" in m for m in messages):
            try:
                messages.append(sock.recv(4096).decode())
            except TimeoutError:
                assert process.poll() is None, process.stderr.read()[-3000:]
        assert any(m.startswith("READY=1") for m in messages), messages
        assert "STATUS=desk free" in messages, messages
        beside = {**os.environ, "RUNTIME_DIRECTORY": str(tmp_path / "run")}

        def kiosk(*args):
            return subprocess.run([sys.executable, "-m", "kiosk", *args], capture_output=True,
                                  text=True, timeout=120, cwd=ROOT, env=beside)

        # facilities beside the running kiosk: status asks it; doctor and phone leave the
        # phone's port alone
        status = kiosk("status", "--json")
        assert status.returncode == 0, status.stderr
        answer = json.loads(status.stdout)
        assert answer["state"] == "idle" and answer["phone"]["serial"] == "VX4-000123"
        assert answer["agent"] is None and answer["version"]
        assert DESK12[1] not in status.stdout  # no secret crosses the socket
        assert "desk: desk12" in kiosk("status").stdout
        host_requests = tls_sim.inspect()["users"][DESK12[0]]["requests"]
        doctor = json.loads(kiosk("doctor", "--config", str(config), "--json").stdout)
        checks = {c["name"]: c for c in doctor["checks"]}
        assert checks["phone"]["ok"] and "asked the running kiosk" in checks["phone"]["detail"]
        assert checks["GPIO"]["ok"] and "opened by the running kiosk" in checks["GPIO"]["detail"]
        assert checks["desk host"]["ok"] and "no login spent" in checks["desk host"]["detail"]
        assert "the running kiosk: connection ok" in checks["Call Center"]["detail"]
        assert tls_sim.inspect()["users"][DESK12[0]]["requests"] - host_requests <= 1  # its
        # heartbeat, at most: the doctor spent no login of the desk account
        refused = kiosk("phone", "info", "--config", str(config))
        assert refused.returncode == 5 and "--force" in refused.stderr
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, process.stderr.read()[-3000:]
        assert "phone port lost" not in process.stderr.read()
        assert kiosk("status").returncode == 3  # none runs now
    finally:
        if process.poll() is None:
            process.kill()
    while True:
        try:
            messages.append(sock.recv(4096).decode())
        except TimeoutError:
            break
    assert messages[-1] == "STOPPING=1"


def test_admin_commands_find_the_host_password_after_install(tmp_path, sim):
    """As the deploy guide says: install, give the host's password with `install -m 600` beside
    the configuration (the service gets it as a credential); over SSH, the admin commands find
    it there without extra flags."""
    assert install("--root", str(tmp_path)).returncode == 0
    config = tmp_path / "etc/hotdesk/kiosk.toml"
    text = config.read_text()
    text = re.sub(r'(?m)^host_user_id = ".*"', f'host_user_id = "{DESK12[0]}"', text)
    text = re.sub(r'(?m)^url = ".*"', f'url = "{sim.url}"', text)
    text = re.sub(r'(?m)^database = ".*"', f'database = "{tmp_path / "sessions.db"}"', text)
    config.write_text(text)
    secret = tmp_path / "etc/hotdesk/host-password"
    secret.write_text(DESK12[1] + "\n")
    secret.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if k not in ("CREDENTIALS_DIRECTORY",
                                                            "HOTDESK_CONFIG")}

    def kiosk(*args):
        return subprocess.run([sys.executable, "-m", "kiosk", *args, "--config", str(config)],
                              capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)

    result = kiosk("callcenter", "desk", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["host_user_id"] == DESK12[0]
    secret.chmod(0o644)  # readable by others: refused, and it says how to fix it
    result = kiosk("callcenter", "desk")
    assert result.returncode == 2 and "chmod 600" in result.stderr


def test_doctor_reports_the_running_kiosks_gpio_failure(unit_files, tls_sim, monkeypatch):
    """Beside a kiosk that could not open its GPIO, the doctor said "✓ GPIO: in use by the
    running kiosk". It now says what the kiosk found."""
    from kiosk import config as configuration
    from kiosk.status import describe
    from kiosk.wiring import build_unit

    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "no-such-factory")
    config = unit_files()
    unit = build_unit(configuration.load(config), lock_path=unit_files.tmp / "kiosk.lock")
    try:
        unit.engine.start().settle()
        answer = describe(unit, 0, 1)  # what the kiosk's status socket answers
    finally:
        unit.close()
    assert answer["gpio"]["status"] == "unavailable" and answer["gpio"]["error"]
    found = Doctor(config, dri_dir=unit_files.dri, pin_factory=MockFactory(),
                   clock_synced=lambda: True)
    found._running = answer  # as asked over the socket
    check = found.check_gpio()
    assert not check.ok and "could not open its pins" in check.detail
