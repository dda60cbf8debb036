"""Every command the README gives facilities and administrators runs as written, on a unit
staged by `install.sh --root` and against the simulated Call Center (`kiosk sim callcenter
--write-config`): found in the README, not copied here, so a command that changes in one place
and not the other fails this test."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

SECTIONS = ("## Deploying a unit (for facilities)", "## The session log (for administrators)")
#: what a command may exit with, as the README says; everything else must exit 0
EXPECTED = {"kiosk status": {3},  # nothing runs on the staged unit
            "kiosk doctor": {0, 1},  # no display, no phone, no GPIO here: some ✗
            "kiosk panel test": {1}}  # nobody presses the button here
#: commands of these sections that are not the unit's own, and why they do not run here
NOT_RUN = {"pip wheel": "builds a wheelhouse on another machine, from PyPI",
           "scp ": "copies to a Pi over the network",
           "sudo PIP_NO_INDEX=1": "installs on a Pi (install.sh runs in test_deploy.py)"}


def readme_commands() -> list[str]:
    """The commands of the facilities and admin sections: `kiosk …` and `sudo …` code spans,
    and every line of their shell blocks."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found: list[str] = []
    for title in SECTIONS:
        start = text.index(title)
        section = text[start:text.index("\n## ", start + len(title))]
        for block in re.findall(r"```sh\n(.*?)```", section, re.DOTALL):
            pending = ""
            for line in block.replace("\\\n", " ").splitlines():
                pending = f"{pending}\n{line}" if pending else line
                try:
                    shlex.split(pending, comments=True)
                except ValueError:  # a quoted string goes on to the next line
                    continue
                if _without_comment(pending):
                    found.append(_without_comment(pending))
                pending = ""
        section = re.sub(r"```.*?```", "", section, flags=re.DOTALL)
        for span in re.findall(r"`((?:sudo )?(?:kiosk|datasette) [^`]+)`", section):
            found.append(" ".join(span.split()))
    return list(dict.fromkeys(found))


def _without_comment(line: str) -> str:
    """The command without a trailing `# comment` (outside quotes), re-quoted for bash."""
    words = shlex.split(line, comments=True)
    return " ".join(w if w in (">", "<", "|") else shlex.quote(w) for w in words)


@pytest.fixture
def staged_unit(tmp_path):
    """A unit laid out by install.sh under `unit/`, its configuration written for a simulated
    Call Center (over TLS, with the desk host's password beside it), and a session in its log."""
    unit = tmp_path / "unit"
    staged = subprocess.run(["bash", str(ROOT / "systemd/install.sh"), "--root", str(unit)],
                            capture_output=True, text=True, timeout=120)
    assert staged.returncode == 0, staged.stderr
    config = unit / "etc/hotdesk/kiosk.toml"
    sim = subprocess.Popen([sys.executable, "-m", "kiosk", "sim", "callcenter", "--tls",
                            "--write-config", str(config)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        json.loads(sim.stdout.readline())  # serving; the configuration is written
        from kiosk import config as configuration
        from kiosk.sessionlog import SessionLog

        database = configuration.load(config).log.database
        with SessionLog(database, desk="desk12") as log:
            session = log.begin_session("mai@demo.example", agent_name="Mai Nguyen")
            log.activate(session)
            log.end_session(session, "agent")
        yield {"config": config, "database": database, "session": session, "tmp": tmp_path}
    finally:
        sim.terminate()
        sim.wait(timeout=60)


def _as_on_the_unit(command: str, unit: dict) -> str:
    """The README's command with this staged unit's paths (on a unit: /etc/hotdesk and
    /var/lib/hotdesk), without sudo (the tests run as root, or as the owner of it all)."""
    command = re.sub(r"^sudo (-u hotdesk )?", "", command)
    swaps = {"/etc/hotdesk/kiosk.toml": str(unit["config"]),
             "/var/lib/hotdesk/sessions.db": str(unit["database"]),
             "/tmp/sessions-copy.db": str(unit["tmp"] / "sessions-copy.db"),
             "mai@corp.example.au": "mai@demo.example",
             "show 1234": f"show {unit['session']}",
             "> sessions.csv": f"> {shlex.quote(str(unit['tmp'] / 'sessions.csv'))}",
             "datasette --immutable sessions-copy.db":
                 f"datasette --immutable {unit['tmp'] / 'sessions-copy.db'} "
                 "--get /sessions-copy/sessions.json"}
    for old, new in swaps.items():
        command = command.replace(old, new)
    if command.startswith("kiosk panel test"):
        command += " --yes --button-timeout 0.1"
    return command


def test_the_readme_has_facilities_and_admin_commands():
    commands = readme_commands()
    assert any(c.startswith("sudo kiosk doctor") for c in commands)
    assert any("sqlite-utils" in c for c in commands)
    assert any(c.startswith("datasette") for c in commands)


def test_every_facilities_and_admin_command_runs_as_written(staged_unit, tmp_path):
    bin_dir = Path(sys.executable).parent  # kiosk, sqlite-utils and datasette, as on PATH
    env = {**os.environ, "HOTDESK_CONFIG": str(staged_unit["config"]),
           "RUNTIME_DIRECTORY": str(tmp_path / "run"), "GPIOZERO_PIN_FACTORY": "mock",
           "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("SUDO_USER", None)
    ran = []
    for written in readme_commands():
        command = _as_on_the_unit(written, staged_unit)
        if command.startswith("kiosk callcenter release") or written.startswith(
                tuple(NOT_RUN)):
            continue  # release runs last: it frees the desk
        result = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                                timeout=120, cwd=tmp_path, env=env)
        allowed = next((codes for prefix, codes in EXPECTED.items()
                        if command.startswith(prefix)), {0})
        assert result.returncode in allowed, (written, result.returncode, result.stderr[-800:])
        assert "Traceback" not in result.stderr, (written, result.stderr[-800:])
        ran.append(written)
    release = next(c for c in readme_commands() if "callcenter release --reason" in c)
    result = subprocess.run(["bash", "-c", _as_on_the_unit(release, staged_unit)],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert len(ran) >= 12
    assert (tmp_path / "sessions.csv").read_text().startswith("id,desk,agent")
