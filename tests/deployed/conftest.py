"""The unit tier (`make test-unit`): the installed unit under a real systemd in systemd-nspawn,
beside Debian's node_exporter, journald and an SSH server, checked as a site checks it.

Needs root, systemd-nspawn (systemd-container), debootstrap and Debian's package mirror; `.ci/run`
installs them. The Debian root is made once and cached (`HOTDESK_UNIT_CACHE`), as are the .debs
and wheels the desks download; every desk itself starts from that bare root.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.deployed import screen
from tests.deployed.container import CACHE, Desk, base_root

ROOT = Path(__file__).resolve().parents[2]
DESK12_PASSWORD = "desk12-host"


def pytest_collection_modifyitems(items):
    """The tier's tests run in file order: each builds on the desk the one before left."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def base():
    missing = [tool for tool in ("systemd-nspawn", "debootstrap", "nsenter")
               if shutil.which(tool) is None]
    if missing or os.geteuid() != 0:
        pytest.fail(f"the unit tier needs root and {', '.join(missing) or 'nothing more'} "
                    "(apt-get install systemd-container debootstrap; .ci/run does)")
    return base_root()


@pytest.fixture(scope="session")
def checkout(tmp_path_factory) -> Path:
    """This repository as facilities copy it to a Pi: the files git knows, as they are now."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], cwd=ROOT, capture_output=True,
                           check=True).stdout.split(b"\0")
    copy = tmp_path_factory.mktemp("checkout") / "hotdesk"
    for name in filter(None, files):
        source = ROOT / os.fsdecode(name)
        if source.is_file():
            target = copy / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return copy


def caches() -> dict[str, str]:
    """What a desk downloads, kept between runs (a desk still installs everything itself)."""
    binds = {}
    for name, inside in (("apt-archives", "/var/cache/apt/archives"),
                         ("pip", "/root/.cache/pip")):
        (CACHE / name / "partial").mkdir(parents=True, exist_ok=True)
        binds[str(CACHE / name)] = inside
    return binds


def new_desk(base: Path, checkout: Path | None, where: Path, name: str,
             hostname: str = "kiosk-floor3-desk12") -> Desk:
    """A desk that never had the kiosk, with this repository copied to /root/hotdesk (unless
    `checkout` is None). It trusts what this machine trusts (a site's own CA, as behind a
    TLS-inspecting proxy): call `trust_the_sites_ca(desk)` once it is booted."""
    desk = Desk.fresh(base, where / name, binds=caches(), log=where / f"{name}.console",
                      hostname=hostname)
    if checkout is not None:
        shutil.copytree(checkout, desk.file("/root/hotdesk"), symlinks=True)
    local_cas = Path("/usr/local/share/ca-certificates")
    if local_cas.is_dir():
        shutil.copytree(local_cas, desk.file(str(local_cas)), dirs_exist_ok=True)
    return desk


def trust_the_sites_ca(desk: Desk) -> None:
    desk.run("update-ca-certificates >/dev/null")


class Simulators:
    """The simulated Call Center and, once plugged in, the phone: on the host's loopback,
    which the desk shares."""

    def __init__(self):
        self.callcenter = subprocess.Popen(
            [sys.executable, "-m", "kiosk", "sim", "callcenter"], stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
        first = json.loads(self.callcenter.stdout.readline())
        self.url = first["url"]
        self.inspect_url = first["inspect"]
        self.phone_port = _free_port()
        self.phone: subprocess.Popen | None = None

    def plug_in_phone(self) -> None:
        self.phone = subprocess.Popen(
            [sys.executable, "-m", "kiosk", "sim", "phone", "--tcp", str(self.phone_port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, cwd=ROOT)
        json.loads(self.phone.stdout.readline())

    def seating(self) -> dict:
        """Who the simulated Call Center seats at each desk host."""
        import urllib.request

        with urllib.request.urlopen(self.inspect_url, timeout=10) as answer:
            return json.load(answer)["seating"]

    def phone_command(self, line: str) -> str | None:
        self.phone.stdin.write(line + "\n")
        self.phone.stdin.flush()
        return self.phone.stdout.readline() if line == "state" else None

    def close(self) -> None:
        for process in (self.callcenter, self.phone):
            if process is not None:
                process.terminate()
                process.wait(10)


@pytest.fixture(scope="session")
def sims():
    simulators = Simulators()
    yield simulators
    simulators.close()


def desk_config(sims: Simulators, **extra: str) -> str:
    """Desk 12's kiosk.toml against the simulators (the rest: the kiosk's defaults)."""
    text = textwrap.dedent(f"""\
        [desk]
        id = "floor3-desk12"
        name = "Level 3, desk 12"
        host_user_id = "desk12@demo.example"

        [callcenter]
        url = "{sims.url}"
        default_domain = "demo.example"

        [signin]
        languages = ["en", "fr", "zh_CN", "ar"]

        [phone]
        port = "socket://127.0.0.1:{sims.phone_port}"
        """)
    for section, body in extra.items():
        text += f"\n[{section}]\n{textwrap.dedent(body)}"
    return text


# What the container lacks and the test may stand in for, and nothing else: a screen (SDL draws
# offscreen), GPIO (gpiozero's mock pins) and tty1. The unit tier adds the touchscreen: Kivy's
# TUIO input on a loopback port (screen.TUIO_INPUT; it needs oscpy in the kiosk's venv).
TEST_DROP_IN = """\
[Service]
Environment=SDL_VIDEODRIVER=offscreen GPIOZERO_PIN_FACTORY=mock
Environment=KCFG_GRAPHICS_FULLSCREEN=0 KCFG_GRAPHICS_WIDTH=800 KCFG_GRAPHICS_HEIGHT=480
StandardInput=null
TTYReset=no
TTYVHangup=no
"""


@pytest.fixture(scope="session")
def screen_layout() -> dict:
    """Where the kiosk's controls are on its window (laid out once, offscreen, here)."""
    return screen.layout()


@pytest.fixture(scope="module")
def touchscreen(screen_layout):
    """A touchscreen for one desk of the module: `.drop_in` adds it to the unit (with oscpy in
    its venv), `.tap(x, y)` touches it."""
    port = _free_port()
    panel = screen.Touchscreen(port)
    panel.layout, panel.drop_in = screen_layout, \
        f"Environment={screen.TUIO_INPUT.format(port=port)}\n"
    yield panel
    panel.close()


def sign_in_by_touch(panel, user: str, password: str) -> None:
    """Tap in, type both fields on the on-screen keyboard, press its Enter key."""
    layout = panel.layout
    panel.tap(*layout["welcome"])
    time.sleep(1.0)  # the sign-in screen slides in (no one can see it from here)
    for key in user:
        panel.tap(*layout["user_keys"][key])
    panel.tap(*layout["password_field"])
    for key in password:
        panel.tap(*layout["password_keys"][key])
    panel.tap(*layout["password_keys"]["enter"])
