"""`kiosk callcenter whoami / desk / release` against the simulated Call Center."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import DESK12, ROOT, ZOE


def kiosk(*args, stdin=None, env=None):
    env = {**{k: v for k, v in os.environ.items() if k not in ("HOTDESK_CONFIG", "SUDO_USER")},
           **(env or {})}
    return subprocess.run([sys.executable, "-m", "kiosk", *args], input=stdin,
                          capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)


def test_whoami_with_append_domain_prints_json(unit_config, sim, xsi):
    xsi(ZOE).associate(DESK12[0], limit_hours=8)
    result = kiosk("callcenter", "whoami", "--config", str(unit_config()), "--user", "zoe",
                   "--password-stdin", "--json", stdin=ZOE[1] + "\n")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "user_id": "zoe@demo.example", "first_name": "Zoë", "last_name": "Müller",
        "number": "0391234567", "extension": "4567", "host_user_id": DESK12[0],
        "acd_state": "Sign-Out"}


def test_whoami_for_people(unit_config):
    result = kiosk("callcenter", "whoami", "--config", str(unit_config()), "--user",
                   "zoe@demo.example", "--password-stdin", stdin=ZOE[1] + "\n")
    assert result.returncode == 0, result.stderr
    assert "Zoë Müller (zoe@demo.example)" in result.stdout
    assert "not at a desk" in result.stdout


def test_whoami_wrong_password_exits_3_once(unit_config, sim):
    result = kiosk("callcenter", "whoami", "--config", str(unit_config()), "--user", "zoe",
                   "--password-stdin", stdin="wrong-one\n")
    assert result.returncode == 3
    assert "wrong user ID or password" in result.stderr
    assert "wrong-one" not in result.stderr + result.stdout
    assert sim.inspect()["users"][ZOE[0]]["requests"] == 1


def test_whoami_unreachable_exits_4(unit_config, unused_port):
    config = unit_config(url=f"http://127.0.0.1:{unused_port}")
    result = kiosk("callcenter", "whoami", "--config", str(config), "--user", "zoe",
                   "--password-stdin", stdin="x\n")
    assert result.returncode == 4
    assert "connection refused" in result.stderr
    assert result.stderr.count("cannot reach") == 1  # printed once, not logged as well


def test_whoami_untrusted_tls_names_tls(unit_config, tls_sim):
    result = kiosk("callcenter", "whoami", "--config", str(unit_config(url=tls_sim.url)),
                   "--user", "zoe", "--password-stdin", stdin=ZOE[1] + "\n")
    assert result.returncode == 4
    assert "TLS" in result.stderr and "ca_bundle" in result.stderr


def test_whoami_trusted_tls(unit_config, tls_sim):
    config = unit_config(url=tls_sim.url, callcenter__ca_bundle=str(tls_sim.ca_path))
    result = kiosk("callcenter", "whoami", "--config", str(config), "--user", "zoe",
                   "--password-stdin", "--json", stdin=ZOE[1] + "\n")
    assert result.returncode == 0, result.stderr


def test_whoami_refuses_an_unusable_user_id(unit_config):
    result = kiosk("callcenter", "whoami", "--config", str(unit_config()), "--user", "zo e",
                   "--password-stdin", stdin="x\n")
    assert result.returncode == 2


def test_desk_shows_the_guest(unit_config, xsi):
    xsi(ZOE).associate(DESK12[0], limit_hours=8)
    result = kiosk("callcenter", "desk", "--config", str(unit_config()), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["host_user_id"] == DESK12[0]
    assert data["guest"]["first_name"] == "Zoë" and data["guest"]["extension"] == "4567"
    assert data["guest"]["since"]


def test_desk_when_free(unit_config):
    result = kiosk("callcenter", "desk", "--config", str(unit_config()))
    assert result.returncode == 0
    assert "free" in result.stdout
    result = kiosk("callcenter", "desk", "--config", str(unit_config()), "--json")
    assert json.loads(result.stdout)["guest"] is None


def test_desk_with_wrong_host_password_exits_3(unit_config):
    result = kiosk("callcenter", "desk", "--config", str(unit_config(host_password="bad")))
    assert result.returncode == 3


def test_release_frees_the_desk_and_says_who(unit_config, sim, xsi):
    xsi(ZOE).associate(DESK12[0], limit_hours=8)
    result = kiosk("callcenter", "release", "--config", str(unit_config()), "--reason",
                   "agent went home")
    assert result.returncode == 0, result.stderr
    assert "was: Zoë Müller" in result.stdout
    assert "agent went home" in result.stderr  # in the journal
    assert sim.inspect()["seating"][DESK12[0]] is None
    events = json.loads(kiosk("events", "--config", str(unit_config()), "--kind", "admin",
                              "--format", "json").stdout)
    assert events[0]["detail"]["action"] == "force_release"
    assert events[0]["detail"]["reason"] == "agent went home"
    assert events[0]["detail"]["guest"] == "Zoë Müller"


def test_desk_and_release_name_the_agent_from_the_local_log(unit_config, sim, xsi, tmp_path):
    from kiosk.sessionlog import SessionLog

    config = unit_config()
    with SessionLog(tmp_path / "sessions.db", desk="desk12") as log:
        session = log.begin_session(ZOE[0], agent_name="Zoë Müller")
        log.activate(session)
    xsi(ZOE).associate(DESK12[0], limit_hours=8)
    data = json.loads(kiosk("callcenter", "desk", "--config", str(config), "--json").stdout)
    assert data["guest"]["user_id"] == ZOE[0]
    text = kiosk("callcenter", "desk", "--config", str(config)).stdout
    assert f"Zoë Müller ({ZOE[0]})" in text and "Z" not in text.split("since ")[1]  # local
    result = kiosk("callcenter", "release", "--config", str(config), "--reason", "Pi replaced")
    assert result.returncode == 0, result.stderr
    assert f"was: Zoë Müller, {ZOE[0]}" in result.stdout
    assert "ACD state is left as it is" in result.stdout
    events = json.loads(kiosk("events", "--config", str(config), "--kind", "admin",
                              "--format", "json").stdout)
    assert events[0]["detail"]["agent"] == ZOE[0]


def test_release_under_sudo_records_who_ran_sudo_not_root(unit_config, sim, xsi):
    config = str(unit_config())
    xsi(ZOE).associate(DESK12[0], limit_hours=8)
    result = kiosk("callcenter", "release", "--config", config, "--reason", "stuck",
                   env={"SUDO_USER": "fiona"})
    assert result.returncode == 0, result.stderr
    assert "by fiona" in result.stderr  # the journal line
    xsi(ZOE).associate(DESK12[0], limit_hours=8)
    kiosk("callcenter", "release", "--config", config, "--reason", "again",
          "--operator", "helpdesk ticket 4711", env={"SUDO_USER": "fiona"})
    events = json.loads(kiosk("events", "--config", config, "--kind", "admin",
                              "--format", "json").stdout)
    assert [e["detail"]["operator"] for e in events] == ["helpdesk ticket 4711", "fiona"]


def test_whoami_warns_and_stops_asking_the_server_after_three_wrong_passwords(unit_config, sim):
    """Four wrong tries locked an account: whoami now says each try counts toward the
    server's lockout, and after `signin.max_failures` (3) it waits before asking again."""
    config = str(unit_config())
    for attempt in range(1, 4):
        result = kiosk("callcenter", "whoami", "--config", config, "--user", "zoe",
                       "--password-stdin", stdin="wrong\n")
        assert result.returncode == 3
        assert "counts toward the Call Center's lockout" in result.stderr
        assert f"{attempt} wrong password(s)" in result.stderr
    assert sim.inspect()["users"][ZOE[0]]["failed_logins"] == 3
    fourth = kiosk("callcenter", "whoami", "--config", config, "--user", "zoe",
                   "--password-stdin", stdin=ZOE[1] + "\n")
    assert fourth.returncode == 3 and "wait" in fourth.stderr
    assert sim.inspect()["users"][ZOE[0]]["failed_logins"] == 3  # nothing was sent
    assert sim.inspect()["users"][ZOE[0]]["requests"] == 3
