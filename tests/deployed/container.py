"""A Debian 12 machine booted by a real systemd in systemd-nspawn: the desk as it is deployed.

```python
base = base_root()                         # debootstrap once, cached (HOTDESK_UNIT_CACHE)
with Desk.fresh(base, tmp_path / "desk") as desk:   # a copy of it, booted
    desk.run("systemd/install.sh", cwd="/root/hotdesk")
    desk.run("kiosk status", user="alice")  # as a member of the hotdesk group
    desk.power_cut(); desk.boot()           # PID 1 killed: nothing is shut down cleanly
```

The container shares the host's network (loopback included), so the simulators run on the host
and the desk reaches them on 127.0.0.1; it has no display, no GPIO and no USB, which the tests
stand in for (a test drop-in with `SDL_VIDEODRIVER=offscreen` and gpiozero's mock pins; a phone
on a socket). Commands enter it with `nsenter` (`--register=no` leaves no machined to ask).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

CACHE = Path(os.environ.get("HOTDESK_UNIT_CACHE", "/var/cache/hotdesk-unit-tier"))
MIRROR = os.environ.get("HOTDESK_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# A Pi OS Lite's base, as far as it matters here: systemd, D-Bus, Python with venv, sudo.
INCLUDE = "systemd,systemd-sysv,dbus,python3,python3-venv,ca-certificates,sudo,procps,iproute2"


def base_root() -> Path:
    """The cached Debian 12 root (debootstrap --variant=minbase), made on first use."""
    root = CACHE / "bookworm-minbase"
    if (root / "etc" / "debian_version").exists():
        return root
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = CACHE / "bookworm-minbase.partial"
    shutil.rmtree(partial, ignore_errors=True)
    subprocess.run(["debootstrap", "--variant=minbase", f"--include={INCLUDE}", "bookworm",
                    str(partial), MIRROR], check=True, stdout=subprocess.DEVNULL)
    # The apt lists come from `apt-get update` inside, as on a new Pi; the .debs are kept (the
    # tier binds a cache over /var/cache/apt/archives).
    (partial / "etc/apt/apt.conf.d/99keep-debs").write_text(
        'Binary::apt::APT::Keep-Downloaded-Packages "true";\n')
    partial.rename(root)
    return root


class CommandFailed(AssertionError):
    def __init__(self, command: str, result: subprocess.CompletedProcess):
        super().__init__(f"{command!r} exited {result.returncode}\n--- stdout\n{result.stdout}"
                         f"\n--- stderr\n{result.stderr}")
        self.result = result


class Desk:
    """One booted container. `run()` a command in it (as root or another user); `boot()`,
    `shutdown()` and `power_cut()` as a unit's power switch would."""

    def __init__(self, root: Path, *, binds: dict[str, str] | None = None, log: Path,
                 hostname: str = "kiosk-floor3-desk12"):
        self.root = root
        self.hostname = hostname
        self.binds = binds or {}
        self.log = log
        self.process: subprocess.Popen | None = None
        self.leader: int | None = None

    @classmethod
    def fresh(cls, base: Path, root: Path, **kwargs) -> Desk:
        """A new desk: a copy of `base` that has never seen the kiosk."""
        shutil.rmtree(root, ignore_errors=True)
        root.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-a", "--reflink=auto", str(base), str(root)], check=True)
        return cls(root, log=kwargs.pop("log", root.with_suffix(".console")), **kwargs)

    def __enter__(self) -> Desk:
        self.boot()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()

    # --- power ---------------------------------------------------------------------------

    def boot(self, timeout: float = 180) -> None:
        """Boot to multi-user (systemd says running or degraded); a desk that does not get
        there is powered off again."""
        try:
            self._boot(timeout)
        except BaseException:
            self.power_cut()
            raise

    def _boot(self, timeout: float) -> None:
        argv = ["systemd-nspawn", "-D", str(self.root), "--keep-unit", "--register=no", "-b",
                "--console=passive", "--quiet", f"--hostname={self.hostname}"]
        for host, inside in self.binds.items():
            argv.append(f"--bind={host}:{inside}")
        with open(self.log, "ab") as console:
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=console,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while self.leader is None:
            if self.process.poll() is not None:
                raise RuntimeError(f"systemd-nspawn exited {self.process.returncode}: "
                                   f"{self.log.read_text(errors='replace')[-2000:]}")
            children = subprocess.run(["pgrep", "-x", "-P", str(self.process.pid), "systemd"],
                                      capture_output=True, text=True).stdout.split()
            if children:
                self.leader = int(children[0])
            elif time.monotonic() > deadline:
                raise TimeoutError("the container's systemd did not start")
            else:
                time.sleep(0.1)
        state = ""
        while state in ("", "offline"):  # until the container's systemd answers
            state = self.run("systemctl is-system-running --wait", check=False,
                             timeout=timeout).stdout.strip()
            if state in ("", "offline") and time.monotonic() > deadline:
                raise TimeoutError("the container's systemd never answered")
            time.sleep(0.2)
        if state not in ("running", "degraded"):
            raise RuntimeError(f"the desk booted to {state!r}")

    def shutdown(self, timeout: float = 60) -> None:
        """A clean power-off (systemd stops every unit)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)  # nspawn asks the container to power off
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.power_cut()
        self.process = self.leader = None

    def power_cut(self) -> None:
        """The power goes: the container's PID 1 is killed, and with it every process in it;
        nothing is stopped, flushed or cleaned up by systemd."""
        if self.process is None:
            return
        if self.leader is None:  # it never got as far as its systemd
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, TypeError):
            os.kill(self.leader, signal.SIGKILL)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.process = self.leader = None

    # --- commands ---------------------------------------------------------------------------

    def run(self, command: str, *, user: str | None = None, cwd: str | None = None,
            check: bool = True, timeout: float = 600, input: str | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """A shell command in the desk, as root or as `user` (with a login's groups), with a
        clean environment as over SSH."""
        assert self.leader is not None, "the desk is not booted"
        cwd = cwd or (f"/home/{user}" if user else "/root")
        script = f"cd {shlex.quote(cwd)} && {command}"
        environment = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                       "LANG": "C.UTF-8", "TERM": "dumb", **(env or {})}
        if user:
            inner = ["runuser", "-u", user, "--", "env", "-i",
                     *(f"{k}={v}" for k, v in environment.items()),
                     f"HOME=/home/{user}", f"USER={user}", "bash", "-c", script]
        else:
            inner = ["env", "-i", *(f"{k}={v}" for k, v in environment.items()),
                     "HOME=/root", "bash", "-c", script]
        result = subprocess.run(["nsenter", "-t", str(self.leader), "-a", *inner],
                                capture_output=True, text=True, timeout=timeout, input=input,
                                stdin=None if input is not None else subprocess.DEVNULL)
        if check and result.returncode != 0:
            raise CommandFailed(command, result)
        return result

    def out(self, command: str, **kwargs) -> str:
        return self.run(command, **kwargs).stdout

    def wait_for(self, command: str, predicate, *, timeout: float = 120, every: float = 0.5,
                 **kwargs) -> str:
        """Run `command` until `predicate(stdout)` holds; its last output, or TimeoutError
        with it (a generous deadline: this waits for a state, it does not time one)."""
        deadline = time.monotonic() + timeout
        while True:
            output = self.run(command, check=False, **kwargs).stdout
            if predicate(output):
                return output
            if time.monotonic() > deadline:
                raise TimeoutError(f"{command!r} never satisfied the test; last:\n{output}")
            time.sleep(every)

    def file(self, path: str) -> Path:
        """A path inside the desk, seen from the host."""
        return self.root / path.lstrip("/")

    def unit(self, name: str, *properties: str) -> dict[str, str]:
        lines = self.out(f"systemctl show {name} -p {','.join(properties)}").splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)
