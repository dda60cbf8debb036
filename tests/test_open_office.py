"""A kiosk in an open office: what a passer-by at the screen, a local user without root, a
rogue USB device or directory, a stolen SD card or a malicious CSV file could do, each
reproduced the way it was found and checked to fail now. (The badge table and imports are in
`test_badges.py`, the directory in `test_badge_directory.py`.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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


def _plant(folder: Path) -> Path:
    """What a local user without root did: made the folder first and left a module in Kivy's
    `mods` (which Kivy puts on `sys.path`)."""
    mods = folder / "kivy" / "mods"
    mods.mkdir(parents=True)
    (mods / "planted_probe.py").write_text(
        "import pathlib; pathlib.Path(__file__).with_suffix('.ran').write_text('ran')\n")
    for path in (folder, folder / "kivy", mods, mods / "planted_probe.py"):
        os.chown(path, NOBODY, NOBODY)
    folder.chmod(0o777)
    return mods


@needs_root
def test_a_kivy_home_planted_in_tmp_by_another_user_is_refused(tmp_path):
    folder = tmp_path / f"hotdesk-{os.geteuid()}"
    old = tmp_path / "hotdesk-kivy"  # where earlier versions looked: no longer used at all
    mods, old_mods = _plant(folder), _plant(old)
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
