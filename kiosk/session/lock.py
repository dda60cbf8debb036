"""One kiosk process per unit: an advisory lock file in the runtime directory."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from kiosk.errors import AlreadyRunning

#: The unit's runtime folder (`RuntimeDirectory=hotdesk` in the service).
UNIT_RUNTIME = Path("/run/hotdesk")


def runtime_path(name: str) -> Path:
    """Where the running kiosk keeps `name` (its lock, its status socket), as the kiosk and
    the admin commands both find it: `$RUNTIME_DIRECTORY` under systemd; over SSH the unit's
    `/run/hotdesk` when there is one; else this user's private folder (`paths.private_dir`,
    never a folder another user could have made for us)."""
    runtime = os.environ.get("RUNTIME_DIRECTORY")
    if runtime:
        return Path(runtime.split(":")[0]) / name
    if UNIT_RUNTIME.is_dir():
        return UNIT_RUNTIME / name
    from kiosk.paths import private_dir

    return private_dir() / name


def default_lock_path() -> Path:
    return runtime_path("kiosk.lock")


def kiosk_running(path: str | Path | None = None) -> bool:
    """Whether a kiosk holds the unit's lock (tried, and given back at once). A lock this user
    may not open counts as held: better to ask a kiosk that may be there than to open the
    phone's port and the pins under it."""
    lock = Path(path) if path else default_lock_path()
    try:
        fd = os.open(lock, os.O_RDONLY)
    except PermissionError:
        return True
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # the kiosk holds it exclusively
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # (closing gives back a lock taken here)
    return False


class RuntimeLock:
    """Hold the unit's lock; `AlreadyRunning` if another process has it. The kernel drops the
    lock when the process dies, so a crash never leaves the unit locked."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_lock_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        with contextlib.suppress(OSError):  # readable whatever the umask (the unit's is 0077):
            os.fchmod(self._fd, 0o644)     # the admin commands of the group test it
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            raise AlreadyRunning(f"another kiosk is already running on this unit "
                                 f"(lock {self.path})") from None
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{os.getpid()}\n".encode())

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
            self._fd = None
