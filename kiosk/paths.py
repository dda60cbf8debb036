"""Where the kiosk's shipped files are: the `assets/` folder of a checkout or of an install."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import stat
import tempfile
from functools import cache
from pathlib import Path


@cache
def assets_dir() -> Path:
    """The assets folder: `assets/` beside the package in a checkout, `kiosk_assets` installed."""
    checkout = Path(__file__).resolve().parent.parent / "assets"
    if (checkout / "demo").is_dir():
        return checkout
    spec = importlib.util.find_spec("kiosk_assets")  # a namespace package: a folder of data
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (Path(location) / "demo").is_dir():
            return Path(location)
    raise FileNotFoundError("the kiosk's assets are missing: reinstall hotdesk-kiosk")


def asset(*parts: str) -> Path:
    """A shipped file, e.g. `asset("demo", "directory.toml")`."""
    return assets_dir().joinpath(*parts)


#: Where the unit's configuration is (here, not in `kiosk.config`, so that the command line
#: names it without loading the configuration's machinery: `kiosk status` starts faster).
CONFIG_DEFAULT_PATH = Path("/etc/hotdesk/kiosk.toml")
CONFIG_ENV_VAR = "HOTDESK_CONFIG"


class UntrustedPath(OSError):
    """A folder the kiosk would keep code, a lock or a socket in, that another user could
    write to; the message names it and says what to do."""


def private_dir() -> Path:
    """A folder only this user may write, for the files a kiosk started outside systemd keeps
    (Kivy's home, the lock, the status socket): `$XDG_RUNTIME_DIR/hotdesk` when the login gave
    one, else `<temp>/hotdesk-<uid>`. Made mode 0700; a folder there already is used only when
    it is a real folder (no link), owned by this user and writable by nobody else; otherwise
    `UntrustedPath` (someone may have planted it: code in Kivy's home would run as this user)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    base = Path(runtime) if runtime and _trusted(Path(runtime)) else None
    path = base / "hotdesk" if base else Path(tempfile.gettempdir()) / f"hotdesk-{os.geteuid()}"
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    if not _trusted(path):
        info = os.lstat(path)
        raise UntrustedPath(
            f"{path} is not this user's private folder (owner uid {info.st_uid}, mode "
            f"{stat.S_IMODE(info.st_mode):04o}{', a link' if stat.S_ISLNK(info.st_mode) else ''})"
            f": another user may have made it to plant files; remove it (sudo rm -r {path})")
    return path


def _trusted(path: Path) -> bool:
    """A real folder of this user's that no one else may write to."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return (stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid()
            and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH))
