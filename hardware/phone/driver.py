"""The desk phone driver: HD-AT/1 over any pyserial URL.

```python
with DeskPhone("/dev/deskphone") as phone:          # or "socket://10.0.0.5:7000", "loop://"
    phone.when_hook_changed = lambda off_hook: ...
    print(phone.identify().model)
    phone.assign(GuestLine("mai@corp.example.au", "Mai Nguyen", "0391234567", "4567"))
    phone.release()
```

A reader thread moves bytes and hands lines to the codec (`hardware.phone.at`); a command waits
for its final result code within the contract's bound (1 s, or 3 s for `AT+HDLINE` and
`AT+HDREL`). Unsolicited result codes that arrive in between are sorted out and dispatched to
the `when_*` callbacks on a separate event thread, so a callback may itself send commands.
On open and after `+HDBOOT` echo is switched off (the echoed `ATE0` is expected). A command that
gets no answer makes the driver resynchronise (CR, a pause, `AT`) and try once more before it
raises `PhoneTimeout`. When the port vanishes (USB pulled) the waiting command raises
`PhoneDisconnected`, `when_disconnected` fires, and the driver reopens the port by its path as
soon as it is back (a udev symlink reappears), then fires `when_reconnected`.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import serial

from hardware.phone import at
from hardware.phone.at import Kind

log = logging.getLogger(__name__)

QUICK_BOUND_S = 1.0  # AT, queries, identification
SLOW_BOUND_S = 3.0  # AT+HDLINE, AT+HDREL
RESYNC_PAUSE_S = 0.1
REOPEN_INTERVAL_S = 0.5
MAX_DISPLAY_NAME_BYTES = 40


class PhoneError(Exception):
    """Anything that went wrong with the desk phone."""


class PhoneTimeout(PhoneError, TimeoutError):
    """The phone did not answer within the contract's bound, even after resynchronising."""


class PhoneBusy(PhoneError):
    """`+CME ERROR: 3`: not allowed now -- the handset is off hook (the agent is on a call)."""


class PhoneRejected(PhoneError, ValueError):
    """The phone refused the command: `ERROR`, or `+CME ERROR: 4` / `50`. `code` says which."""

    def __init__(self, message: str, code: int | None = None):
        self.code = code
        super().__init__(message)


class PhoneDisconnected(PhoneError, ConnectionError):
    """The serial port is gone (USB pulled) or could not be opened."""


@dataclass(frozen=True)
class GuestLine:
    """The identity a guest brings to the phone."""

    user_id: str
    display_name: str
    number: str = ""
    extension: str = ""


@dataclass(frozen=True)
class PhoneIdentity:
    manufacturer: str
    model: str
    revision: str
    serial: str


@dataclass(frozen=True)
class PhoneState:
    registered: bool
    off_hook: bool
    line_assigned: bool


@dataclass
class _Pending:
    sent: bytes
    info: list[str] = field(default_factory=list)
    final: at.Line | None = None
    error: PhoneError | None = None
    done: threading.Event = field(default_factory=threading.Event)


def fit_display_name(name: str, limit: int = MAX_DISPLAY_NAME_BYTES) -> str:
    """`name` cut at a character boundary to at most `limit` UTF-8 bytes."""
    encoded = name.encode("utf-8")
    if len(encoded) <= limit:
        return name
    return encoded[:limit].decode("utf-8", "ignore").rstrip()


class DeskPhone:
    """The desk phone on `port`: a device path or any pyserial URL. Opens at once.

    Raises `PhoneDisconnected` when the port cannot be opened and `PhoneTimeout` when the phone
    does not answer. A context manager; `close()` twice is harmless.
    """

    def __init__(self, port: str = "/dev/deskphone", *, baudrate: int = 115200,
                 quick_bound_s: float = QUICK_BOUND_S, slow_bound_s: float = SLOW_BOUND_S,
                 reopen_interval_s: float = REOPEN_INTERVAL_S,
                 serial_for_url: Callable[..., serial.SerialBase] = serial.serial_for_url):
        self.port = port
        self.baudrate = baudrate
        self.quick_bound_s = quick_bound_s
        self.slow_bound_s = slow_bound_s
        self.reopen_interval_s = reopen_interval_s
        self._serial_for_url = serial_for_url
        self.when_hook_changed: Callable[[bool], None] | None = None
        self.when_registration_changed: Callable[[bool], None] | None = None
        self.when_rebooted: Callable[[], None] | None = None
        self.when_disconnected: Callable[[], None] | None = None
        self.when_reconnected: Callable[[], None] | None = None
        self.is_off_hook: bool | None = None
        self.is_registered: bool | None = None
        self.garbage_lines = 0
        self._serial: serial.SerialBase | None = None
        self._command_lock = threading.Lock()
        self._pending: _Pending | None = None
        self._splitter = at.LineSplitter()
        self._events: queue.Queue = queue.Queue()
        self._booted = threading.Event()
        self._closing = threading.Event()
        self._closed = False
        self._serial = self._open_port()
        self._reader = threading.Thread(target=self._read_loop, name="phone-reader", daemon=True)
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="phone-events",
                                            daemon=True)
        self._reader.start()
        self._dispatcher.start()
        try:
            self._echo_off()
        except PhoneError:
            self.close()
            raise

    # --- life cycle -------------------------------------------------------------------------

    def _open_port(self) -> serial.SerialBase:
        try:
            return self._serial_for_url(self.port, baudrate=self.baudrate, timeout=0.05,
                                        write_timeout=self.slow_bound_s)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise PhoneDisconnected(f"cannot open the phone's port {self.port}: {exc}") from None

    @property
    def is_connected(self) -> bool:
        return self._serial is not None

    def close(self) -> None:
        """Stop the threads and close the port. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._closing.set()
        self._fail_pending(PhoneDisconnected("the phone driver was closed"))
        self._events.put(None)
        for thread in (self._reader, self._dispatcher):
            if thread is not threading.current_thread():
                thread.join(timeout=2)
        port, self._serial = self._serial, None
        if port is not None:
            with contextlib.suppress(Exception):
                port.close()

    def __enter__(self) -> DeskPhone:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- operations -------------------------------------------------------------------------

    def ping(self) -> None:
        """`AT`: is the phone there?"""
        self._command(at.encode_command(""), self.quick_bound_s)

    def identify(self) -> PhoneIdentity:
        """Manufacturer, model, firmware revision and serial number."""
        values = []
        for name in ("+GMI", "+GMM", "+GMR", "+GSN"):
            info = self._command(at.encode_command(name), self.quick_bound_s)
            values.append(info[-1] if info else "")
        return PhoneIdentity(*values)

    def state(self) -> PhoneState:
        """Registration, hook and line, as the phone reports them now."""
        args = self._query("+HDSTATE")
        if len(args) != 3 or not all(a in (0, 1) for a in args):
            raise PhoneError(f"unexpected +HDSTATE answer: {args!r}")
        registered, off_hook, line = (bool(a) for a in args)
        self.is_registered, self.is_off_hook = registered, off_hook
        return PhoneState(registered, off_hook, line)

    def line(self) -> GuestLine | None:
        """The guest line assigned now, or None on the desk default."""
        args = self._query("+HDLINE")
        if args[:1] == [0]:
            return None
        if len(args) == 5 and args[0] == 1 and all(isinstance(a, str) for a in args[1:]):
            return GuestLine(*args[1:])
        raise PhoneError(f"unexpected +HDLINE answer: {args!r}")

    def assign(self, line: GuestLine) -> None:
        """Give the phone the guest's identity. `PhoneBusy` while off hook.

        The display name is cut to the phone's 40 bytes; registration follows as a URC.
        """
        command = at.encode_command("+HDLINE", line.user_id, fit_display_name(line.display_name),
                                    line.number, line.extension)
        self._command(command, self.slow_bound_s)

    def release(self, *, force: bool = False) -> None:
        """Back to the desk default line. Without `force`, `PhoneBusy` while off hook; with it,
        a call in progress is dropped."""
        command = at.encode_command("+HDREL", 1) if force else at.encode_command("+HDREL")
        self._command(command, self.slow_bound_s)

    def set_language(self, tag: str) -> None:
        """The phone's display language (BCP 47). `PhoneRejected` (code 4) if unsupported."""
        self._command(at.encode_command("+HDLANG", tag), self.quick_bound_s)

    def language(self) -> str:
        args = self._query("+HDLANG")
        return str(args[0]) if args else ""

    def languages(self) -> tuple[str, ...]:
        """The languages the phone can display."""
        info = self._command(at.encode_command("+HDLANG", test=True), self.quick_bound_s)
        for text in info:
            args = at.info_arguments(text, "+HDLANG")
            if args and isinstance(args[0], list):
                return tuple(str(tag) for tag in args[0])
        raise PhoneError("unexpected +HDLANG=? answer")

    def show_message(self, text: str) -> None:
        """A short text (at most 32 characters) on the idle screen; "" clears it."""
        self._command(at.encode_command("+HDMSG", text), self.quick_bound_s)

    def wait_for_boot(self, timeout: float = 30.0) -> bool:
        """Wait for the next `+HDBOOT` (after a power cycle). True if it came."""
        self._booted.clear()
        return self._booted.wait(timeout)

    # --- commands ---------------------------------------------------------------------------

    def _query(self, name: str) -> list:
        info = self._command(at.encode_command(name, query=True), self.quick_bound_s)
        for text in info:
            args = at.info_arguments(text, name)
            if args is not None:
                return args
        raise PhoneError(f"the phone gave no {name} line")

    def _command(self, command: bytes, bound: float) -> list[str]:
        with self._command_lock:
            for attempt in (1, 2):
                pending = self._send(command)
                if pending.done.wait(bound):
                    return self._result(pending, command)
                self._pending = None
                if attempt == 1 and self._resync():
                    continue
                raise PhoneTimeout(f"the phone did not answer {_name(command)} within "
                                   f"{bound:g} s")
        raise AssertionError("unreachable")

    def _send(self, command: bytes) -> _Pending:
        port = self._serial
        if port is None:
            raise PhoneDisconnected(f"the phone's port {self.port} is gone")
        pending = _Pending(sent=command)
        self._pending = pending
        try:
            port.write(command)
        except (serial.SerialException, OSError) as exc:
            self._pending = None
            self._lost(exc)
            raise PhoneDisconnected(f"the phone's port {self.port} is gone") from None
        return pending

    def _result(self, pending: _Pending, command: bytes) -> list[str]:
        self._pending = None
        if pending.error is not None:
            raise pending.error
        final = pending.final
        if final.ok:
            return pending.info
        code = final.cme_error
        what = _name(command)
        if code == 3:
            raise PhoneBusy(f"the phone refused {what}: handset off hook")
        if code in (4, 50) or final.text == "ERROR":
            meaning = {4: "not supported", 50: "incorrect parameters"}.get(code, "ERROR")
            raise PhoneRejected(f"the phone refused {what}: {meaning}", code)
        raise PhoneError(f"the phone failed {what}: {final.text}")

    def _resync(self) -> bool:
        """CR, a pause, `AT`: True when the phone answers again."""
        log.warning("phone on %s not answering; resynchronising", self.port)
        port = self._serial
        if port is None:
            return False
        with contextlib.suppress(serial.SerialException, OSError):
            port.write(b"\r")
        time.sleep(RESYNC_PAUSE_S)
        try:
            pending = self._send(at.encode_command(""))
        except PhoneDisconnected:
            return False
        answered = pending.done.wait(self.quick_bound_s) and pending.final is not None \
            and pending.final.ok
        self._pending = None
        return bool(answered)

    def _echo_off(self) -> None:
        self._command(at.encode_command("E0"), self.quick_bound_s)

    # --- the reader thread ------------------------------------------------------------------

    def _read_loop(self) -> None:
        next_reopen = 0.0
        while not self._closing.is_set():
            port = self._serial
            if port is None:
                if time.monotonic() >= next_reopen:
                    next_reopen = time.monotonic() + self.reopen_interval_s
                    self._try_reopen()
                else:
                    self._closing.wait(0.05)
                continue
            try:
                data = port.read(max(1, port.in_waiting))
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                if not self._closing.is_set():
                    self._lost(exc)
                continue
            if data:
                for raw in self._splitter.feed(data):
                    self._on_line(raw)

    def _on_line(self, raw: bytes) -> None:
        pending = self._pending
        line = at.classify(raw, sent=pending.sent if pending else None)
        if line.kind is Kind.URC:
            self._on_urc(line.text)
        elif line.kind is Kind.GARBAGE:
            self.garbage_lines += 1
            log.warning("phone sent garbage, ignored: %r", raw[:80])
        elif line.kind is Kind.ECHO:
            pass
        elif pending is None or pending.done.is_set():
            log.info("phone line with no command waiting, ignored: %r", line.text[:80])
        elif line.kind is Kind.FINAL:
            pending.final = line
            pending.done.set()
        else:
            pending.info.append(line.text)

    def _on_urc(self, text: str) -> None:
        name, _, value = text.partition(":")
        value = value.strip()
        if name == "+HDHOOK" and value in ("0", "1"):
            self.is_off_hook = value == "1"
            self._post(self.when_hook_changed, value == "1")
        elif name == "+HDREG" and value in ("0", "1"):
            self.is_registered = value == "1"
            self._post(self.when_registration_changed, value == "1")
        elif name == "+HDBOOT":
            self.is_off_hook = None
            self._events.put(self._after_boot)
        else:
            log.warning("phone sent a malformed URC, ignored: %r", text[:80])

    def _after_boot(self) -> None:
        self._booted.set()
        try:
            self._echo_off()
        except PhoneError as exc:
            log.warning("phone rebooted but did not take ATE0: %s", exc)
        self._call(self.when_rebooted)

    def _lost(self, exc: BaseException) -> None:
        port, self._serial = self._serial, None
        if port is None:
            return
        log.error("phone port %s lost: %s", self.port, exc)
        with contextlib.suppress(Exception):
            port.close()
        self._splitter.reset()
        self._fail_pending(PhoneDisconnected(f"the phone's port {self.port} is gone"))
        self._post(self.when_disconnected)

    def _try_reopen(self) -> None:
        try:
            port = self._open_port()
        except PhoneDisconnected:
            return
        self._serial = port
        log.info("phone port %s is back", self.port)
        self._events.put(self._after_reopen)

    def _after_reopen(self) -> None:
        try:
            self._echo_off()
        except PhoneError as exc:
            log.warning("phone port is back but the phone does not answer: %s", exc)
        self._call(self.when_reconnected)

    def _fail_pending(self, error: PhoneError) -> None:
        pending = self._pending
        if pending is not None and not pending.done.is_set():
            pending.error = error
            pending.done.set()

    # --- the event thread -------------------------------------------------------------------

    def _post(self, callback, *args) -> None:
        if callback is not None:
            self._events.put(lambda: callback(*args))

    def _call(self, callback, *args) -> None:
        if callback is not None:
            callback(*args)

    def _dispatch_loop(self) -> None:
        while True:
            job = self._events.get()
            if job is None:
                return
            try:
                job()
            except Exception:
                log.exception("phone event handler failed")


def _name(command: bytes) -> str:
    text = command.rstrip(b"\r").decode("utf-8", "replace")
    return text.split("=", 1)[0]
