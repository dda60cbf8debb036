"""`kiosk phone …` and `kiosk sim phone` as facilities staff run them."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT


def kiosk(*args, stdin=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "kiosk", *args], input=stdin,
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def test_info_json(sim_phone):
    result = kiosk("phone", "info", "--port", sim_phone.port, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"manufacturer": "Hotdesk Labs", "model": "VX-400",
                                         "revision": "1.4.2", "serial": "VX4-000123"}


def test_assign_state_release(sim_phone):
    result = kiosk("phone", "assign", "--port", sim_phone.port, "mai@demo.example",
                   "Mai Nguyễn", "--number", "0391234568", "--extension", "4568")
    assert result.returncode == 0, result.stderr
    state = json.loads(kiosk("phone", "state", "--port", sim_phone.port, "--json").stdout)
    assert state["line"] == {"user_id": "mai@demo.example", "display_name": "Mai Nguyễn",
                             "number": "0391234568", "extension": "4568"}
    assert set(state) == {"registered", "off_hook", "line"}
    human = kiosk("phone", "state", "--port", sim_phone.port).stdout
    assert "Mai Nguyễn (mai@demo.example)" in human
    assert kiosk("phone", "release", "--port", sim_phone.port).returncode == 0
    assert sim_phone.snapshot()["line"] is None


def test_release_while_off_hook_exits_5(sim_phone):
    sim_phone.lift()
    result = kiosk("phone", "release", "--port", sim_phone.port)
    assert result.returncode == 5
    assert "off hook" in result.stderr
    assert kiosk("phone", "release", "--port", sim_phone.port, "--force").returncode == 0


def test_lang_and_msg(sim_phone):
    assert kiosk("phone", "lang", "--port", sim_phone.port, "fr").returncode == 0
    assert kiosk("phone", "msg", "--port", sim_phone.port, "Bienvenue").returncode == 0
    assert sim_phone.snapshot()["language"] == "fr"
    assert sim_phone.snapshot()["message"] == "Bienvenue"
    bad = kiosk("phone", "lang", "--port", sim_phone.port, "tlh")
    assert bad.returncode == 1 and "not supported" in bad.stderr


def test_missing_port_exits_6(tmp_path):
    result = kiosk("phone", "info", "--port", str(tmp_path / "nothing"))
    assert result.returncode == 6
    assert "cannot open" in result.stderr


def test_silent_phone_exits_6(sim_phone):
    sim_phone.set_silent(True)
    result = kiosk("phone", "info", "--port", sim_phone.port)
    assert result.returncode == 6
    assert "did not answer" in result.stderr


def test_port_from_config(sim_phone, write_config):
    path = write_config(f"""
        [desk]
        id = "desk12"
        host_user_id = "desk12@demo.example"
        [callcenter]
        url = "https://xsp.example.au"
        [phone]
        port = "{sim_phone.port}"
        """)
    result = kiosk("phone", "info", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert "VX-400" in result.stdout


def test_sim_phone_command_controls():
    process = subprocess.Popen([sys.executable, "-m", "kiosk", "sim", "phone", "--tcp", "0"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        port = json.loads(process.stdout.readline())["port"]
        assert port.startswith("socket://127.0.0.1:")
        process.stdin.write("lift\nstate\n")
        process.stdin.flush()
        state = json.loads(process.stdout.readline())
        assert state == {"registered": True, "off_hook": True, "line": None, "language": "en",
                         "message": ""}
        assert kiosk("phone", "release", "--port", port).returncode == 5
        process.stdin.write("hangup\nbogus\nstate\n")
        process.stdin.flush()
        assert json.loads(process.stdout.readline())["off_hook"] is False
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
    assert "unknown control command 'bogus'" in process.stderr.read()


def test_sim_phone_on_a_pty():
    process = subprocess.Popen([sys.executable, "-m", "kiosk", "sim", "phone", "--pty"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        port = json.loads(process.stdout.readline())["port"]
        assert port.startswith("/dev/pts/")
        assert kiosk("phone", "info", "--port", port).returncode == 0
    finally:
        process.terminate()
        process.wait(timeout=10)
