"""Where the kiosk's shipped files are: the `assets/` folder of a checkout or of an install."""

from __future__ import annotations

import importlib.util
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
