"""Set Kivy up before it is imported: window size, kiosk hardening, where it keeps its files.

Call `configure()` once, before any `kivy` import (the UI modules import Kivy at the top).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

KIOSK_SIZE = (800, 480)


def configure(*, kiosk_mode: bool = False, size: tuple[int, int] = KIOSK_SIZE,
              offscreen: bool = False, fullscreen: bool | None = None) -> None:
    """`kiosk_mode`: fullscreen, no exit on ESC or window close, no cursor. `offscreen`: draw
    without a display (tests, the tour). `fullscreen` defaults to `kiosk_mode`."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    os.environ.setdefault("SDL_VIDEO_ALLOW_SCREENSAVER", "0")  # the screen never blanks
    os.environ.setdefault("KIVY_CLIPBOARD", "dummy")  # no copying from fields, no xclip probes
    if offscreen or not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                         or os.environ.get("SDL_VIDEODRIVER")):
        os.environ["SDL_VIDEODRIVER"] = "offscreen" if offscreen else os.environ.get(
            "SDL_VIDEODRIVER", "offscreen")
    if "KIVY_HOME" not in os.environ:  # never write into a home directory on a unit
        state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
        if state:
            home = Path(state) / "kivy"
        else:  # Kivy imports modules from its home (mods/): never a folder others can write
            from kiosk.paths import private_dir

            home = private_dir() / "kivy"
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.environ["KIVY_HOME"] = str(home)

    logging.getLogger("kivy").addFilter(_quiet_kivy)

    from kivy.config import Config

    Config.set("kivy", "log_level", "warning")

    Config.set("graphics", "width", str(size[0]))
    Config.set("graphics", "height", str(size[1]))
    Config.set("graphics", "resizable", "0")
    Config.set("input", "mouse", "mouse,multitouch_on_demand")
    Config.set("kivy", "keyboard_mode", "system")
    Config.set("kivy", "exit_on_escape", "0" if kiosk_mode else "1")
    Config.set("kivy", "desktop", "0" if kiosk_mode else "1")
    if kiosk_mode if fullscreen is None else fullscreen:
        Config.set("graphics", "fullscreen", "auto")
    if kiosk_mode:
        Config.set("graphics", "show_cursor", "0")
        Config.set("graphics", "borderless", "1")


def _quiet_kivy(record: logging.LogRecord) -> bool:
    """Keep Kivy's warnings and errors; drop its start-up chatter, the selection-buffer probe
    (the kiosk has no clipboard on purpose, so that failure is expected) and the traceback of
    its multitouch probe on a machine without libmtdev (a desktop; `kiosk doctor` checks the
    touchscreen's input on a unit)."""
    if record.levelno < logging.WARNING:
        return False
    text = str(record.msg)
    return not (text.startswith(("Cutbuffer", "xclip", "xsel")) or "Cutbuffer" in text
                or "MTDev is not supported" in text)
