"""Bad input typed at any command: one clear line naming the argument, the documented exit
code, and never a traceback. Nothing is sent anywhere first (the ports here lead nowhere)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

NOWHERE = "socket://127.0.0.1:9"  # never opened: the argument is refused first

# (arguments, stdin, exit code, words the message must hold)
CASES = [
    (["sim", "callcenter", "--port", "99999"], None, 2, "--port"),
    (["sim", "callcenter", "--port", "http"], None, 2, "--port"),
    (["sim", "callcenter", "--latency", "-1"], None, 2, "--latency"),
    (["sim", "phone", "--tcp", "99999"], None, 2, "--tcp"),
    (["sim", "phone", "--baudrate", "0"], None, 2, "--baudrate"),
    (["phone", "msg", "x" * 33, "--port", NOWHERE], None, 2, "TEXT"),
    (["phone", "assign", "", "Name", "--port", NOWHERE], None, 2, "USER_ID"),
    (["phone", "assign", "bad user", "Name", "--port", NOWHERE], None, 2, "USER_ID"),
    (["phone", "assign", "zoe@demo.example", " ", "--port", NOWHERE], None, 2, "DISPLAY_NAME"),
    (["phone", "assign", "zoe@demo.example", "Zoe", "--number", "abc", "--port", NOWHERE],
     None, 2, "--number"),
    (["phone", "lang", "not a tag", "--port", NOWHERE], None, 2, "TAG"),
    (["phone", "info", "--port", "bogus://x"], None, 2, "--port"),
    (["phone", "info", "--port", NOWHERE, "--baudrate", "12345"], None, 2, "--baudrate"),
    (["demo", "--latency", "-1"], None, 2, "--latency"),
    (["sessions", "--db", "x.db", "--limit", "-1"], None, 2, "--limit"),
    (["sessions", "--db", "x.db", "--since", "last tuesday"], None, 2, "last tuesday"),
    (["events", "--db", "x.db", "--limit", "many"], None, 2, "--limit"),
    (["stats", "--db", "x.db", "--by", "colour"], None, 2, "--by"),
    (["stats", "--db", "x.db", "--format", "xml"], None, 2, "--format"),
    (["callcenter", "whoami"], None, 2, "--user"),
    (["callcenter", "release", "--reason"], None, 2, "--reason"),
    (["config", "check", "/nonexistent/kiosk.toml"], None, 2, "/nonexistent/kiosk.toml"),
    (["status", "--bogus"], None, 2, "--bogus"),
]


def kiosk(args, stdin):
    env = {k: v for k, v in os.environ.items() if k != "HOTDESK_CONFIG"}
    return subprocess.run([sys.executable, "-m", "kiosk", *args], input=stdin,
                          capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)


@pytest.mark.parametrize(("args", "stdin", "code", "words"), CASES,
                         ids=[" ".join(c[0])[:60] for c in CASES])
def test_bad_input_is_refused_plainly(args, stdin, code, words):
    result = kiosk(args, stdin)
    output = result.stdout + result.stderr
    assert result.returncode == code, output
    assert "Traceback" not in output
    assert words in output  # (config check lists problems on stdout, as documented)


def test_the_kiosks_own_language_tag_is_mapped_for_the_phone(sim_phone):
    result = kiosk(["phone", "lang", "zh_CN", "--port", sim_phone.port], None)
    assert result.returncode == 0, result.stderr
    assert "zh-Hans" in result.stdout and sim_phone.snapshot()["language"] == "zh-Hans"
    result = kiosk(["phone", "lang", "FR", "--port", sim_phone.port], None)
    assert result.returncode == 0 and sim_phone.snapshot()["language"] == "fr"


@pytest.mark.parametrize("stdin", ["", "hunter22\n"], ids=["end of input", "a pipe"])
def test_whoami_without_a_terminal_says_to_use_password_stdin(unit_config, stdin):
    result = kiosk(["callcenter", "whoami", "--config", str(unit_config()), "--user", "zoe"],
                   stdin)
    assert result.returncode == 2
    assert "--password-stdin" in result.stderr and "Traceback" not in result.stderr
    assert "hunter22" not in result.stdout + result.stderr


def test_purge_of_a_file_that_is_not_a_session_log(tmp_path):
    other = tmp_path / "some.toml"
    other.write_text("x = 1\n")
    result = kiosk(["purge", "--db", str(other), "--older-than", "30"], None)
    assert result.returncode == 1
    assert "not a session log" in result.stderr and "Traceback" not in result.stderr
