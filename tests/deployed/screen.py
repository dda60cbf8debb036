"""The deployed kiosk's touchscreen, from outside: where its controls are, and taps on them.

The container has no panel: the kiosk draws offscreen, and a test drop-in adds Kivy's TUIO input
provider on a loopback UDP port (`TUIO_INPUT`), which stands in for the touchscreen. Where
to tap comes from the same code laid out the same way (`python -m tests.deployed.screen`, run
offscreen here: the kiosk's own window in kiosk mode, over the demo unit, which has the desk's
languages), as normalised positions, so that a tap lands where a finger would.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TUIO_INPUT = "KCFG_INPUT_TUIO=tuio,127.0.0.1:{port}"


def _osc(address: str, *values) -> bytes:
    """One OSC message (strings, ints, floats), as TUIO trackers send them."""
    def padded(raw: bytes) -> bytes:
        raw += b"\0"
        return raw + b"\0" * (-len(raw) % 4)

    tags, body = ",", b""
    for value in values:
        if isinstance(value, str):
            tags, body = tags + "s", body + padded(value.encode())
        elif isinstance(value, int):
            tags, body = tags + "i", body + struct.pack(">i", value)
        else:
            tags, body = tags + "f", body + struct.pack(">f", value)
    return padded(address.encode()) + padded(tags.encode()) + body


class Touchscreen:
    """Taps sent as TUIO 2D cursors to the kiosk's UDP port (positions 0..1 from the top left,
    as TUIO has them)."""

    def __init__(self, port: int):
        self.address = ("127.0.0.1", port)
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.frame = 0
        self.cursor = 0

    def _send(self, *messages: bytes) -> None:
        for message in messages:
            self.socket.sendto(message, self.address)

    def tap(self, x: float, y: float, hold_s: float = 0.08) -> None:
        self.cursor += 1
        self.frame += 1
        self._send(_osc("/tuio/2Dcur", "set", self.cursor, x, y, 0.0, 0.0, 0.0),
                   _osc("/tuio/2Dcur", "alive", self.cursor),
                   _osc("/tuio/2Dcur", "fseq", self.frame))
        time.sleep(hold_s)
        self.frame += 1
        self._send(_osc("/tuio/2Dcur", "alive"), _osc("/tuio/2Dcur", "fseq", self.frame))
        time.sleep(0.15)  # a person between two taps

    def close(self) -> None:
        self.socket.close()


def layout() -> dict:
    """Where the controls of a sign-in are on the kiosk's own window (run in a subprocess)."""
    env = {**os.environ, "SDL_VIDEODRIVER": "offscreen", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "tests.deployed.screen"], env=env,
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    if result.returncode != 0:
        raise RuntimeError(f"could not lay the screen out: {result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _measure() -> None:
    import tempfile

    from kiosk.ui import boot

    boot.configure(kiosk_mode=True)
    from kivy.clock import Clock
    from kivy.core.window import Window

    from kiosk.ui.app import KioskApp
    from kiosk.wiring import build_demo

    unit = build_demo(Path(tempfile.mkdtemp()))
    unit.engine.start()
    app = KioskApp(unit.engine, unit.config, kiosk_mode=True)
    found: dict = {}

    def where(widget) -> list[float]:
        x, y = widget.to_window(*widget.center)
        return [x / Window.width, 1 - y / Window.height]  # TUIO: from the top left

    def on_ui(fn):
        done = threading.Event()
        Clock.schedule_once(lambda dt: (fn(), done.set()), 0)
        done.wait(10)

    def walk():
        time.sleep(1.0)
        on_ui(lambda: found.update(welcome=where(app.screens["welcome"].ids.tap),
                                   size=[Window.width, Window.height]))
        on_ui(app.open_sign_in)
        time.sleep(0.8)
        signin = app.screens["signin"]
        on_ui(lambda: found.update(
            user_keys={k: where(w) for k, w in signin.ids.keyboard.keys().items()},
            password_field=where(signin.ids.password)))
        on_ui(lambda: signin.point_keyboard_at(signin.ids.password))
        time.sleep(0.8)
        on_ui(lambda: found.update(
            password_keys={k: where(w) for k, w in signin.ids.keyboard.keys().items()}))
        print(json.dumps(found), flush=True)
        on_ui(app.stop)

    app.bind(on_start=lambda *_: threading.Thread(target=walk, daemon=True).start())
    try:
        app.run()
    finally:
        unit.close()


if __name__ == "__main__":
    _measure()
