"""The `kiosk` command line, run as a person runs it: a real process, real files."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

EXAMPLE = ROOT / "systemd" / "kiosk.toml.example"


def kiosk(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kiosk", *args],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env=env,
    )


def test_config_check_passes_the_shipped_example():
    result = kiosk("config", "check", str(EXAMPLE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK: desk floor3-desk12")
    assert "https://xsp.example.au" in result.stdout
    assert "en, fr, zh_CN, ar" in result.stdout


def test_config_check_lists_every_mistake_by_key(write_config):
    path = write_config(
        """
        [desk]
        id = "desk 12"
        host_user_id = "desk12@corp.example.au"

        [callcenter]
        url = "http://xsp.example.au/xsi"

        [session]
        warn_before_s = 5
        """
    )
    result = kiosk("config", "check", str(path))
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert len(lines) == 3, lines
    assert lines[0].startswith("desk.id: ")
    assert lines[1].startswith("callcenter.url: ")
    assert lines[2] == "session.warn_before_s: must be at least 20 (got 5)"


def test_config_check_reports_toml_syntax_with_line(write_config):
    path = write_config("[desk]\nid = 'x'\nthis is not toml\n")
    result = kiosk("config", "check", str(path))
    assert result.returncode == 2
    assert "line 3" in result.stdout


def test_config_check_refuses_world_readable_password_file(write_config, tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("hunter22\n")
    secret.chmod(0o644)
    path = write_config(
        f"""
        [desk]
        id = "desk12"
        host_user_id = "desk12@corp.example.au"
        host_password_file = "{secret}"
        [callcenter]
        url = "https://xsp.example.au"
        """
    )
    result = kiosk("config", "check", str(path))
    assert result.returncode == 2
    assert result.stdout.startswith("desk.host_password_file: ")
    assert "hunter22" not in result.stdout + result.stderr


def test_version_and_help():
    assert kiosk("--version").stdout.startswith("kiosk ")
    result = kiosk("--help")
    assert result.returncode == 0
    assert "config" in result.stdout


def test_missing_subcommand_is_a_usage_error():
    result = kiosk()
    assert result.returncode == 2
    assert "required" in result.stderr


def test_console_script_is_installed():
    script = ROOT / ".venv" / "bin" / "kiosk"
    if not script.exists():  # the suite may run in another environment
        script_dir = subprocess.run(
            [sys.executable, "-c", "import sysconfig; print(sysconfig.get_path('scripts'))"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        script = type(ROOT)(script_dir) / "kiosk"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("kiosk ")
