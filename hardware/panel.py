"""The desk's GPIO panel: status light, the phone's power relay, hook switch, sign-out button.

```python
panel = DeskPanel(led_red=17, led_green=27, led_blue=22, relay=23, sign_out_button=25)
panel.show("busy")                       # red: the desk is taken
panel.when_sign_out_held = sign_out      # held for hold_s seconds; a tap does nothing
panel.power_cycle(off_s=2.0)             # cut the phone's power, then restore it
```

Built from gpiozero devices; the backend is the `pin_factory` keyword (None = gpiozero's
default, e.g. lgpio on a Pi 5; `gpiozero.pins.mock.MockFactory()` in tests and the demo).

The relay is wired through its normally-closed contact: the phone has power while the relay
rests -- also when the Pi is off or has crashed -- and `power_cycle` energises it to cut power.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from gpiozero import RGBLED, Button, DigitalInputDevice, OutputDevice

AMBER = (1, 1, 0)
RED = (1, 0, 0)
GREEN = (0, 1, 0)
DARK = (0, 0, 0)

#: pattern -> (on colour, off colour or None for steady, seconds on, seconds off)
PATTERNS: dict[str, tuple[tuple, tuple | None, float, float]] = {
    "free": (GREEN, None, 0, 0),
    "busy": (RED, None, 0, 0),
    "working": (AMBER, DARK, 0.5, 0.5),
    "attention": (AMBER, RED, 0.5, 0.5),
    "fault": (RED, DARK, 0.1, 0.1),
    "off": (DARK, None, 0, 0),
}


class DeskPanel:
    """The panel's devices, from BCM pin numbers. `relay`, `hook` and `sign_out_button` may be
    None when not fitted. A context manager; `close()` releases every pin and is idempotent."""

    def __init__(self, *, led_red: int = 17, led_green: int = 27, led_blue: int = 22,
                 relay: int | None = 23, relay_active_high: bool = True,
                 hook: int | None = None, sign_out_button: int | None = 25,
                 hold_s: float = 2.0, pin_factory=None):
        self._devices = []
        self.when_hook_changed: Callable[[bool], None] | None = None
        self.when_sign_out_held: Callable[[], None] | None = None
        self.pattern = "off"
        self._relay_lock = threading.Lock()
        try:
            self.light = self._add(RGBLED(led_red, led_green, led_blue, pwm=False,
                                          pin_factory=pin_factory))
            self.relay = None if relay is None else self._add(OutputDevice(
                relay, active_high=relay_active_high, initial_value=False,
                pin_factory=pin_factory))
            self.hook = None if hook is None else self._add(DigitalInputDevice(
                hook, pull_up=True, bounce_time=0.02, pin_factory=pin_factory))
            self.button = None if sign_out_button is None else self._add(Button(
                sign_out_button, pull_up=True, hold_time=hold_s, hold_repeat=False,
                pin_factory=pin_factory))
        except Exception:
            self.close()
            raise
        if self.hook is not None:
            self.hook.when_activated = lambda: self._hook_changed(True)
            self.hook.when_deactivated = lambda: self._hook_changed(False)
        if self.button is not None:
            self.button.when_held = self._held

    def _add(self, device):
        self._devices.append(device)
        return device

    # --- the light --------------------------------------------------------------------------

    def show(self, pattern: str) -> None:
        """Light `pattern`: free, busy, working, attention, fault or off."""
        try:
            on, off, on_s, off_s = PATTERNS[pattern]
        except KeyError:
            raise ValueError(f"unknown light pattern {pattern!r}; "
                             f"known: {', '.join(PATTERNS)}") from None
        self.pattern = pattern
        if off is None:
            self.light.color = on
        else:
            self.light.blink(on_time=on_s, off_time=off_s, on_color=on, off_color=off,
                             background=True)

    # --- the relay --------------------------------------------------------------------------

    def power_cycle(self, off_s: float = 2.0) -> None:
        """Cut the phone's power for `off_s` seconds, then restore it (blocks meanwhile)."""
        if self.relay is None:
            raise RuntimeError("no phone power relay is fitted (gpio.relay = false)")
        with self._relay_lock:
            self.relay.on()
            try:
                time.sleep(off_s)
            finally:
                self.relay.off()

    @property
    def has_relay(self) -> bool:
        return self.relay is not None

    # --- inputs -----------------------------------------------------------------------------

    @property
    def is_off_hook(self) -> bool | None:
        """The hook switch (True = handset lifted), or None when none is fitted."""
        return None if self.hook is None else bool(self.hook.is_active)

    def _hook_changed(self, off_hook: bool) -> None:
        if self.when_hook_changed is not None:
            self.when_hook_changed(off_hook)

    def _held(self) -> None:
        if self.when_sign_out_held is not None:
            self.when_sign_out_held()

    # --- life cycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Release every pin. Idempotent."""
        devices, self._devices = self._devices, []
        for device in reversed(devices):
            device.close()

    def __enter__(self) -> DeskPanel:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
