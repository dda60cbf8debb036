"""The badge reader: a USB keyboard-wedge reader (HID Prox, MIFARE) that "types" the card
number and Enter, read through evdev with an exclusive grab so its keystrokes never land in a
form field or anywhere else.

```python
reader = BadgeReader("/dev/input/by-id/usb-HID_Prox-event-kbd", min_length=6, max_length=16)
reader.when_read = lambda number: ...        # a well-formed read, on the reader's thread
reader.when_rejected = lambda reason: ...    # garbage, a stuck key, typed too slowly, …
reader.when_unplugged = lambda: ...          # and it is found again when plugged back in
reader.start()
reader.close()
```

`BadgeDecoder` is the pure part: evdev key events in, a read or a rejection out. A read is
digits or hexadecimal digits, `min_length` to `max_length` long, each key within
`max_key_gap_s` of the one before (faster than a person types), ended by Enter. A key held
down (auto-repeat), a character outside the set, a read too long or too slow, or a read cut by
the reader's unplugging is rejected with the reason, and nothing else changes.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

KEY_DOWN, KEY_HELD = 1, 2


@functools.cache
def keys() -> tuple[int, dict[int, str], set[int], set[int]]:
    """What a wedge reader types, by evdev's own names (`evdev.ecodes`): (EV_KEY, the codes of
    digits, A-F and the keypad's digits, Enter and keypad Enter, the shifts, which a reader
    may press for A-F and are ignored). Looked up at the first key: evdev is only needed where
    a reader is."""
    from evdev import ecodes

    chars = {getattr(ecodes, f"KEY_{c}"): c for c in "0123456789ABCDEF"}
    chars |= {getattr(ecodes, f"KEY_KP{d}"): d for d in "0123456789"}
    return (ecodes.EV_KEY, chars, {ecodes.KEY_ENTER, ecodes.KEY_KPENTER},
            {ecodes.KEY_LEFTSHIFT, ecodes.KEY_RIGHTSHIFT})


@dataclass(frozen=True)
class BadgeRead:
    number: str


@dataclass(frozen=True)
class BadgeRejected:
    reason: str  # garbage, stuck_key, too_slow, too_short, too_long, unplugged


class BadgeDecoder:
    """Key events (evdev `InputEvent`s, or anything with `type`, `code`, `value` and
    `timestamp()`) to reads. Pure: no device, no thread."""

    def __init__(self, *, min_length: int = 4, max_length: int = 20,
                 max_key_gap_s: float = 0.1):
        self.min_length = min_length
        self.max_length = max_length
        self.max_key_gap_s = max_key_gap_s
        self._typed: list[str] = []
        self._last: float | None = None
        self._spoiled: str | None = None  # why the read under way will be rejected

    def feed(self, event) -> BadgeRead | BadgeRejected | None:
        ev_key, key_chars, enter_keys, shift_keys = keys()
        if event.type != ev_key or event.value not in (KEY_DOWN, KEY_HELD):
            return None
        if event.code in shift_keys:
            return None
        now = event.timestamp()
        if event.value == KEY_HELD:
            self._spoil("stuck_key")
            self._last = now
            return None
        if self._last is not None and self._typed and now - self._last > self.max_key_gap_s:
            self._spoil("too_slow")  # a person at a keyboard, not a reader
        self._last = now
        if event.code in enter_keys:
            return self._finish()
        char = key_chars.get(event.code)
        if char is None:
            self._spoil("garbage")
        else:
            self._typed.append(char)
        if len(self._typed) > self.max_length:
            self._spoil("too_long")
        return None

    def _spoil(self, reason: str) -> None:
        if self._spoiled is None:
            self._spoiled = reason

    def _finish(self) -> BadgeRead | BadgeRejected | None:
        typed, spoiled = "".join(self._typed), self._spoiled
        self.reset()
        if not typed and spoiled is None:
            return None  # a lone Enter: nothing was read
        if spoiled is not None:
            return BadgeRejected(spoiled)
        if len(typed) < self.min_length:
            return BadgeRejected("too_short")
        return BadgeRead(typed)

    def cut(self) -> BadgeRejected | None:
        """The reader went away mid-read: what was typed is rejected."""
        had = bool(self._typed) or self._spoiled is not None
        self.reset()
        return BadgeRejected("unplugged") if had else None

    def reset(self) -> None:
        self._typed, self._last, self._spoiled = [], None, None


class BadgeReader:
    """The wedge reader at `device` (a `/dev/input/by-id/…` path), grabbed exclusively and read
    on a thread of its own; found again when unplugged and plugged back in. `open_device`: the
    seam (default `evdev.InputDevice`)."""

    def __init__(self, device: str, *, min_length: int = 4, max_length: int = 20,
                 max_key_gap_s: float = 0.1, retry_s: float = 1.0,
                 open_device: Callable | None = None):
        self.device = device
        self.retry_s = retry_s
        self.decoder = BadgeDecoder(min_length=min_length, max_length=max_length,
                                    max_key_gap_s=max_key_gap_s)
        self.open_device = open_device
        self.when_read: Callable[[str], None] = lambda number: None
        self.when_rejected: Callable[[str], None] = lambda reason: None
        self.when_unplugged: Callable[[], None] = lambda: None
        self.when_plugged: Callable[[], None] = lambda: None
        self.connected = False
        self.problem: str | None = None  # why it is not reading now (for `kiosk status`)
        self._stop = threading.Event()
        self._dev = None
        self._thread: threading.Thread | None = None

    def start(self) -> BadgeReader:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="badge-reader", daemon=True)
            self._thread.start()
        return self

    def _open(self):
        if self.open_device is not None:
            return self.open_device(self.device)
        import evdev

        return evdev.InputDevice(self.device)

    def _run(self) -> None:
        warned = False
        while not self._stop.is_set():
            try:
                dev = self._open()
                dev.grab()  # its keystrokes go nowhere else
            except ImportError as exc:  # no evdev on this unit: no read will ever come
                self.problem = f"cannot read keyboard-wedge readers: {exc} (pip install evdev)"
                log.error("badge reader %s: %s", self.device, self.problem)
                return
            except OSError as exc:
                self.problem = f"not plugged in ({exc.strerror or exc})"
                if not warned:
                    log.warning("badge reader %s not available (%s); looking again every "
                                "%.0f s", self.device, exc, self.retry_s)
                    warned = True
                self._stop.wait(self.retry_s)
                continue
            warned = False
            self._dev, self.connected, self.problem = dev, True, None
            self._tell(self.when_plugged)
            try:
                for event in dev.read_loop():
                    if self._stop.is_set():
                        break
                    self._handle(self.decoder.feed(event))
            except OSError as exc:  # unplugged (ENODEV), or closed by close()
                if not self._stop.is_set():
                    log.warning("badge reader %s went away: %s", self.device, exc)
            finally:
                self.connected, self._dev = False, None
                self._handle(self.decoder.cut())
                _quietly_close(dev)
            if not self._stop.is_set():
                self._tell(self.when_unplugged)

    def _handle(self, result) -> None:
        if isinstance(result, BadgeRead):
            self._tell(self.when_read, result.number)
        elif isinstance(result, BadgeRejected):
            log.info("badge read rejected: %s", result.reason)
            self._tell(self.when_rejected, result.reason)

    @staticmethod
    def _tell(callback, *args) -> None:
        try:
            callback(*args)
        except Exception:
            log.exception("a badge reader callback failed")

    def close(self) -> None:
        """Stop reading and let the reader go (twice is harmless)."""
        self._stop.set()
        dev = self._dev
        if dev is not None:
            _quietly_close(dev)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)

    def __enter__(self) -> BadgeReader:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


def _quietly_close(dev) -> None:
    for step in ("ungrab", "close"):
        with contextlib.suppress(OSError, AttributeError):
            getattr(dev, step)()
