"""A simulated desk phone that speaks HD-AT/1 exactly, on a real pty or a TCP socket.

```python
with SimulatedPhone() as phone:            # a pty; phone.port is "/dev/pts/N"
    driver = DeskPhone(phone.port)
    phone.lift()                           # +HDHOOK: 1
    phone.reboot()                         # +HDBOOT, back to the desk default, echo on
```

It keeps the contract's rules (`docs/deskphone-hd-at.md`): echo on at power-up, one command
per line, 256-byte lines, the string escaping rules (an unescaped control byte makes the whole
line ERROR), the argument limits and error numbers, `+HDREG` after a line change, URCs as whole
lines at any time between lines. It paces what it sends -- and the commands it receives -- at
the configured baud rate (8N1: ten bits a byte), since a pty has no wire speed of its own.

Controls for tests, the demo and `kiosk sim phone`: lift / hang up the handset, reboot, go
silent, send garbage, slow down, unplug / replug (the pty goes away and comes back under the
same link path, as a udev symlink does; the TCP port stops listening and listens again), and
`interject`, which slips a URC between the next command's information lines and its final
result code.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import threading
import time
import tty
from dataclasses import dataclass, field
from pathlib import Path

from hardware.phone import at
from hardware.phone.at import ATSyntaxError, Form

log = logging.getLogger(__name__)

LANGUAGES = ("en", "fr", "de", "es", "it", "vi", "zh-Hans", "ar")
_DIAL_CHARS = set("0123456789+*#")
CME_NOT_ALLOWED, CME_NOT_SUPPORTED, CME_BAD_PARAMETERS, CME_UNKNOWN = 3, 4, 50, 100


@dataclass(frozen=True)
class Identity:
    manufacturer: str = "Hotdesk Labs"
    model: str = "VX-400"
    revision: str = "1.4.2"
    serial: str = "VX4-000123"


@dataclass
class PhoneState:
    """What the phone holds; `power_up()` puts it back to the desk default."""

    registered: bool = True
    off_hook: bool = False
    line: tuple[str, str, str, str] | None = None  # user_id, display_name, number, extension
    language: str = "en"
    message: str = ""
    echo: bool = True
    commands: list[bytes] = field(default_factory=list)  # every command line received

    def power_up(self) -> None:
        self.registered, self.line, self.language, self.message, self.echo = (
            True, None, "en", "", True)

    def as_json(self) -> dict:
        line = None
        if self.line is not None:
            line = dict(zip(("user_id", "display_name", "number", "extension"), self.line,
                            strict=True))
        return {"registered": self.registered, "off_hook": self.off_hook, "line": line,
                "language": self.language, "message": self.message}


class PhoneBrain:
    """The command interpreter: one command line in, response lines out. No I/O.

    `notify(text)` sends a URC; `schedule(delay_s, fn)` runs `fn` later (registration).
    """

    def __init__(self, state: PhoneState, identity: Identity, *, notify, schedule,
                 registration_delay_s: float = 0.2):
        self.state = state
        self.identity = identity
        self.notify = notify
        self.schedule = schedule
        self.registration_delay_s = registration_delay_s
        self._generation = 0  # registration timers of an older line change are void

    def execute(self, line: bytes) -> list[str]:
        """The response to one received line (without CR): info lines, then the final code."""
        if not line.strip():
            return []  # an empty line (the driver's resync CR) gets nothing
        self.state.commands.append(line)
        try:
            command = at.parse_command(line)
        except ATSyntaxError:
            return ["ERROR"]
        handler = getattr(self, "_cmd_" + command.name.strip("+").lower(), None)
        if command.name == "":
            return ["OK"]
        if handler is None:
            return ["ERROR"]
        try:
            return handler(command)
        except _Cme as error:
            return [f"+CME ERROR: {error.code}"]

    # basic commands
    def _cmd_e0(self, command):
        self.state.echo = False
        return ["OK"]

    def _cmd_e1(self, command):
        self.state.echo = True
        return ["OK"]

    def _cmd_e(self, command):
        return self._cmd_e0(command)

    def _cmd_z(self, command):
        self.state.echo = True
        return ["OK"]

    # identification
    def _ident(self, command, value):
        if command.form is not Form.ACTION:
            return ["ERROR"]
        return [value, "OK"]

    def _cmd_gmi(self, command):
        return self._ident(command, self.identity.manufacturer)

    def _cmd_gmm(self, command):
        return self._ident(command, self.identity.model)

    def _cmd_gmr(self, command):
        return self._ident(command, self.identity.revision)

    def _cmd_gsn(self, command):
        return self._ident(command, self.identity.serial)

    # desk-phone commands
    def _cmd_hdstate(self, command):
        if command.form is not Form.READ:
            return ["ERROR"]
        s = self.state
        return [f"+HDSTATE: {int(s.registered)},{int(s.off_hook)},{int(s.line is not None)}",
                "OK"]

    def _cmd_hdline(self, command):
        if command.form is Form.READ:
            if self.state.line is None:
                return ["+HDLINE: 0", "OK"]
            return ["+HDLINE: 1," + ",".join(at.quote(v) for v in self.state.line), "OK"]
        if command.form is Form.TEST:
            return ['+HDLINE: ("user_id","display_name","number","extension")', "OK"]
        if command.form is not Form.SET:
            return ["ERROR"]
        args = command.args
        if len(args) != 4 or not all(isinstance(a, str) for a in args):
            raise _Cme(CME_BAD_PARAMETERS)
        user_id, name, number, extension = args
        if not user_id or len(user_id.encode()) > 80 or len(name.encode()) > 40:
            raise _Cme(CME_BAD_PARAMETERS)
        for digits in (number, extension):
            if len(digits) > 20 or not set(digits) <= _DIAL_CHARS:
                raise _Cme(CME_BAD_PARAMETERS)
        if self.state.off_hook:
            raise _Cme(CME_NOT_ALLOWED)
        self.state.line = (user_id, name, number, extension)
        self._reregister()
        return ["OK"]

    def _cmd_hdrel(self, command):
        force = command.form is Form.SET and command.args == (1,)
        if command.form is Form.SET and not force:
            raise _Cme(CME_BAD_PARAMETERS)
        if command.form not in (Form.ACTION, Form.SET):
            return ["ERROR"]
        if self.state.off_hook and not force:
            raise _Cme(CME_NOT_ALLOWED)
        if self.state.line is not None:
            self.state.line = None
            self.state.message = ""
            self._reregister()
        return ["OK"]

    def _cmd_hdlang(self, command):
        if command.form is Form.READ:
            return [f"+HDLANG: {at.quote(self.state.language)}", "OK"]
        if command.form is Form.TEST:
            return ["+HDLANG: (" + ",".join(at.quote(tag) for tag in LANGUAGES) + ")", "OK"]
        if command.form is not Form.SET or len(command.args) != 1 or \
                not isinstance(command.args[0], str):
            raise _Cme(CME_BAD_PARAMETERS)
        if command.args[0] not in LANGUAGES:
            raise _Cme(CME_NOT_SUPPORTED)
        self.state.language = command.args[0]
        return ["OK"]

    def _cmd_hdmsg(self, command):
        if command.form is Form.READ:
            return [f"+HDMSG: {at.quote(self.state.message)}", "OK"]
        if command.form is not Form.SET or len(command.args) != 1 or \
                not isinstance(command.args[0], str):
            raise _Cme(CME_BAD_PARAMETERS)
        if len(command.args[0]) > 32:
            raise _Cme(CME_BAD_PARAMETERS)
        self.state.message = command.args[0]
        return ["OK"]

    def _reregister(self) -> None:
        """A line change drops registration; it comes back as `+HDREG: 1` a moment later."""
        self._generation += 1
        generation = self._generation
        self.state.registered = False

        def registered():
            if generation == self._generation and not self.state.registered:
                self.state.registered = True
                self.notify("+HDREG: 1")

        self.schedule(self.registration_delay_s, registered)


class _Cme(Exception):
    def __init__(self, code: int):
        self.code = code


# --- transports -----------------------------------------------------------------------------


class _PtyTransport:
    """The phone's end of a pseudo-terminal; the driver opens `port` (or the link to it)."""

    def __init__(self, link: Path | None):
        self.link = link
        self.master: int | None = None
        self.slave: int | None = None
        self.name = ""

    def open(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no line discipline: bytes pass untouched
        self.name = os.ttyname(self.slave)
        if self.link is not None:
            tmp = self.link.with_name(self.link.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self.name)
            tmp.replace(self.link)

    @property
    def port(self) -> str:
        return str(self.link) if self.link is not None else self.name

    def read(self, timeout: float) -> bytes | None:
        master = self.master
        if master is None:
            time.sleep(timeout)
            return None
        try:
            ready, _, _ = select.select([master], [], [], timeout)
            return os.read(master, 4096) if ready else None
        except (OSError, ValueError):
            return None

    def write(self, data: bytes) -> None:
        master = self.master
        if master is None:
            return
        with contextlib.suppress(OSError):
            view = memoryview(data)
            while view:
                view = view[os.write(master, view):]

    def close(self) -> None:
        for fd in (self.master, self.slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.master = self.slave = None
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()


class _TcpTransport:
    """The phone behind a TCP port (as a serial-over-IP bridge would be); one client at a time."""

    def __init__(self, host: str, port: int):
        self.host = host
        self.port_number = port
        self.listener: socket.socket | None = None
        self.client: socket.socket | None = None

    def open(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port_number))
        listener.listen(1)
        self.port_number = listener.getsockname()[1]
        self.listener = listener

    @property
    def port(self) -> str:
        return f"socket://{self.host}:{self.port_number}"

    def read(self, timeout: float) -> bytes | None:
        listener, client = self.listener, self.client
        if listener is None:
            time.sleep(timeout)
            return None
        watched = [listener] + ([client] if client else [])
        try:
            ready, _, _ = select.select(watched, [], [], timeout)
        except (OSError, ValueError):
            return None
        if listener in ready:
            with contextlib.suppress(OSError):
                new, _ = listener.accept()
                new.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self.client is not None:
                    self.client.close()
                self.client = new
            return None
        if client is not None and client in ready:
            try:
                data = client.recv(4096)
            except OSError:
                data = b""
            if not data:
                client.close()
                self.client = None
                return None
            return data
        return None

    def write(self, data: bytes) -> None:
        client = self.client
        if client is not None:
            with contextlib.suppress(OSError):
                client.sendall(data)

    def close(self) -> None:
        for sock in (self.client, self.listener):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
        self.client = self.listener = None


# --- the phone ------------------------------------------------------------------------------


class SimulatedPhone:
    """A desk phone on a pty (default) or on `tcp_port` (0 = any free port).

    `port` is what the driver opens: the pty's path (or `link`, a symlink kept pointing at the
    current pty across unplug/replug), or a `socket://` URL. A context manager; `close()`
    twice is harmless.
    """

    def __init__(self, *, tcp_port: int | None = None, host: str = "127.0.0.1",
                 link: str | Path | None = None, baudrate: int = 115200,
                 identity: Identity = Identity(), registration_delay_s: float = 0.2):
        self.baudrate = baudrate
        self.identity = identity
        self.state = PhoneState()
        self.transport = (_TcpTransport(host, tcp_port) if tcp_port is not None
                          else _PtyTransport(Path(link) if link else None))
        self.brain = PhoneBrain(self.state, identity, notify=self._urc,
                                schedule=self._schedule,
                                registration_delay_s=registration_delay_s)
        self.silent = False
        self.delay_s = 0.0  # added before every answer ("slow down")
        self._write_lock = threading.Lock()
        self._state_lock = threading.RLock()
        self._interjections: list[str] = []
        self._timers: list[threading.Timer] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._plugged = False
        self._closed = False

    # --- life cycle -------------------------------------------------------------------------

    @property
    def port(self) -> str:
        return self.transport.port

    def start(self) -> SimulatedPhone:
        if self._thread is None:
            self.transport.open()
            self._plugged = True
            self._thread = threading.Thread(target=self._run, name="sim-phone", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        for timer in self._timers:
            timer.cancel()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.transport.close()

    def __enter__(self) -> SimulatedPhone:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # --- controls ---------------------------------------------------------------------------

    def lift(self) -> None:
        """The handset is lifted (off hook): `+HDHOOK: 1`."""
        self._set_hook(True)

    def hang_up(self) -> None:
        """The handset is put down (on hook): `+HDHOOK: 0`."""
        self._set_hook(False)

    def _set_hook(self, off_hook: bool) -> None:
        with self._state_lock:
            changed = self.state.off_hook != off_hook
            self.state.off_hook = off_hook
        if changed:
            self._urc(f"+HDHOOK: {int(off_hook)}")

    def reboot(self, *, boot_delay_s: float = 0.0) -> None:
        """Power-cycle: state back to the desk default, echo on, then `+HDBOOT`."""
        with self._state_lock:
            self.state.power_up()
            self.brain._generation += 1
        if boot_delay_s:
            self._schedule(boot_delay_s, lambda: self._urc("+HDBOOT"))
        else:
            self._urc("+HDBOOT")

    def set_silent(self, silent: bool = True) -> None:
        """A hung phone: reads and drops everything, answers nothing, reports nothing."""
        self.silent = silent

    def send_garbage(self) -> None:
        """Line noise: bytes that are no valid line of the protocol."""
        self._write(b"\r\n\xff\xfe\x00\x1b[0mgarbage\x07\xc3\r\n")

    def slow_down(self, delay_s: float) -> None:
        """Wait `delay_s` before every answer (0 = back to normal)."""
        self.delay_s = delay_s

    def interject(self, urc: str) -> None:
        """Send `urc` between the next command's information lines and its final result code."""
        with self._state_lock:
            self._interjections.append(urc)

    def unplug(self) -> None:
        """The USB cable is pulled: the port disappears."""
        self._plugged = False
        self.transport.close()

    def replug(self) -> None:
        """The cable is back: the port reappears (a new pty behind the same link) and the phone
        boots, as a phone powered over the same USB hub would."""
        with self._state_lock:
            self.state.power_up()
        self.transport.open()
        self._plugged = True

    def snapshot(self) -> dict:
        """The state as JSON-able data: registered, off_hook, line, language, message."""
        with self._state_lock:
            return self.state.as_json()

    # --- inside -----------------------------------------------------------------------------

    def _schedule(self, delay_s: float, fn) -> None:
        def run():
            if not self._stop.is_set():
                with self._state_lock:
                    fn()

        timer = threading.Timer(delay_s, run)
        timer.daemon = True
        self._timers = [t for t in self._timers if t.is_alive()] + [timer]
        timer.start()

    def _wire_time(self, nbytes: int) -> float:
        return nbytes * 10 / self.baudrate

    def _write(self, data: bytes) -> None:
        if self.silent or not self._plugged:
            return
        with self._write_lock:
            self.transport.write(data)
            time.sleep(self._wire_time(len(data)))  # the bytes take this long on the wire

    def _send_line(self, text: str) -> None:
        self._write(b"\r\n" + text.encode("utf-8") + b"\r\n")

    def _urc(self, text: str) -> None:
        self._send_line(text)

    def _run(self) -> None:
        buffer = bytearray()
        while not self._stop.is_set():
            data = self.transport.read(0.05)
            if not data or self.silent:
                continue
            for byte in data:
                if self.state.echo:
                    self._write(bytes([byte]))
                if byte == 0x0D:
                    line = bytes(buffer)
                    buffer.clear()
                    time.sleep(self._wire_time(len(line) + 1))  # the command's own wire time
                    self._answer(line)
                elif byte == 0x0A and not buffer:
                    continue  # the LF of a CR LF terminator
                else:
                    buffer.append(byte)
                    if len(buffer) > at.MAX_LINE * 4:  # runaway line: drop it
                        buffer.clear()

    def _answer(self, line: bytes) -> None:
        with self._state_lock:
            lines = self.brain.execute(line)  # a line over 256 bytes gets ERROR there
            interject = self._interjections.pop(0) if lines and self._interjections else None
        if not lines:
            return
        if self.delay_s:
            time.sleep(self.delay_s)
        *info, final = lines
        for text in info:
            self._send_line(text)
        if interject:
            self._urc(interject)
        self._send_line(final)
