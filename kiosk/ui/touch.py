"""Simulated touches, dispatched through Kivy's event loop like a finger on the panel (used by
the tour and the UI tests)."""

from __future__ import annotations

import itertools

from kivy.base import EventLoop
from kivy.input.motionevent import MotionEvent

_ids = itertools.count(1)


class SimulatedTouch(MotionEvent):
    """A one-finger touch at window position (x, y) in pixels."""

    def __init__(self, x: float, y: float):
        window = EventLoop.window
        super().__init__("simulated", next(_ids), [x / window.width, y / window.height],
                         is_touch=True)

    def depack(self, args):
        self.sx, self.sy = args
        self.profile = ["pos"]
        super().depack(args)


def tap_at(x: float, y: float) -> None:
    """Press and release at window position (x, y). Call on the Kivy thread."""
    touch = SimulatedTouch(x, y)
    EventLoop.post_dispatch_input("begin", touch)
    EventLoop.post_dispatch_input("end", touch)


def tap(widget) -> None:
    """Tap the middle of `widget`. Call on the Kivy thread."""
    tap_at(*widget.to_window(*widget.center))


def press(widget) -> SimulatedTouch:
    """Put a finger on `widget` and keep it there; `release(touch)` lifts it."""
    touch = SimulatedTouch(*widget.to_window(*widget.center))
    EventLoop.post_dispatch_input("begin", touch)
    return touch


def release(touch: SimulatedTouch) -> None:
    EventLoop.post_dispatch_input("end", touch)
