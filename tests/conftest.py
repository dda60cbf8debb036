"""Shared fixtures. Real parts over mocks: real files, real servers on loopback, real ptys."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The unit tier boots a Debian root under systemd-nspawn: `make test-unit`, not `make test`.
collect_ignore = [] if os.environ.get("HOTDESK_UNIT_TIER") else ["deployed"]

MINIMAL_CONFIG = """
[desk]
id = "desk12"
host_user_id = "desk12@corp.example.au"

[callcenter]
url = "https://xsp.example.au/com.broadsoft.xsi-actions/v2.0"
"""


@pytest.fixture
def write_config(tmp_path):
    """Write TOML text (dedented) to a file and return its path."""

    def write(text: str = MINIMAL_CONFIG, name: str = "kiosk.toml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


DEMO_DIRECTORY = ROOT / "assets" / "demo" / "directory.toml"

# Demo credentials used across the suites.
ZOE = ("zoe@demo.example", "zoe-demo-1")
MAI = ("mai@demo.example", "mai-demo-1")
DESK12 = ("desk12@demo.example", "desk12-host")
DESK14 = ("desk14@demo.example", "desk14-host")
ADMIN = ("admin@demo.example", "admin-demo-1")


# --- one unit's configuration, shared by every suite that needs a whole unit ----------------


def unit_settings(tmp_path: Path, *, url: str, host=None, **overrides) -> dict:
    """Desk 12's configuration as sections of keys: the simulator at `url`, the session log in
    `tmp_path`. `overrides` are `section__key=value` (`phone__port="…"`)."""
    raw = {"desk": {"id": "desk12", "host_user_id": (host or DESK12)[0]},
           "callcenter": {"url": url, "default_domain": "demo.example",
                          "connect_timeout_s": 1, "read_timeout_s": 2},
           "signin": {"languages": ["en", "fr", "zh_CN", "ar"]},
           # no copies to this machine's journal or /run (the floor's tests turn them on)
           "log": {"database": str(tmp_path / "sessions.db"), "journal_socket": "",
                   "metrics_file": ""}}
    for dotted, value in overrides.items():
        section, key = dotted.split("__")
        raw.setdefault(section, {})[key] = value
    return raw


def host_password_file(tmp_path: Path, password: str | None = None) -> Path:
    """The desk host's password in a private file (mode 600), as `install.sh` leaves it."""
    secret = tmp_path / "host-password"
    secret.write_text((DESK12[1] if password is None else password) + "\n")
    secret.chmod(0o600)
    return secret


def toml_text(raw: dict) -> str:
    """Sections of strings, numbers, booleans and lists as TOML."""
    import json

    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, Path):
            v = str(v)
        return json.dumps(v, ensure_ascii=False)  # strings, numbers, lists of them

    return "".join(f"[{section}]\n" + "".join(f"{k} = {value(v)}\n" for k, v in body.items())
                   for section, body in raw.items())


@pytest.fixture
def unit_config(tmp_path, sim):
    """Write desk 12's configuration (the simulator by default, a private host password) to
    `kiosk.toml` and return its path: `unit_config(url=…, host_password=…, section__key=…)`."""

    def write(url=None, host_password=None, **overrides) -> Path:
        secret = host_password_file(tmp_path, host_password)
        raw = unit_settings(tmp_path, url=url or sim.url, desk__host_password_file=str(secret),
                            **overrides)
        path = tmp_path / "kiosk.toml"
        path.write_text(toml_text(raw), encoding="utf-8")
        return path

    return write


@pytest.fixture
def directory():
    from kiosk.callcenter.sim import load_directory

    return load_directory(DEMO_DIRECTORY)


@pytest.fixture
def sim(directory):
    """A simulated Call Center over plain HTTP on loopback, fresh for each test."""
    from kiosk.callcenter.sim import SimulatedCallCenter

    with SimulatedCallCenter(directory) as server:
        yield server


@pytest.fixture(scope="session")
def _tls_material(tmp_path_factory):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return cert, path


@pytest.fixture
def tls_sim(directory, _tls_material):
    """A simulated Call Center over HTTPS; `tls_sim.ca_path` is the CA that signed it."""
    import ssl

    from kiosk.callcenter.sim import SimulatedCallCenter

    cert, ca_path = _tls_material
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    with SimulatedCallCenter(directory, ssl_context=context) as server:
        server.ca_path = ca_path
        yield server


@pytest.fixture
def xsi(sim):
    """Make a client against `sim`; every client made is closed after the test."""
    from kiosk.callcenter import XsiClient

    made = []

    def make(credentials=ZOE, **kwargs):
        client = XsiClient(sim.url, *credentials, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.session.close()


@pytest.fixture
def unused_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redirecting_server():
    """A loopback server that answers every request with a 302 elsewhere."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(302)
            self.send_header("Location", "https://elsewhere.example/")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/xsi"
    server.shutdown()
    server.server_close()


@pytest.fixture
def sim_phone(tmp_path):
    """A simulated desk phone on a real pty, reachable through a udev-like symlink."""
    from hardware.phone.sim import SimulatedPhone

    with SimulatedPhone(link=tmp_path / "deskphone", registration_delay_s=0.05) as phone:
        yield phone


@pytest.fixture
def desk_phone(sim_phone):
    """The driver, opened on `sim_phone`'s link."""
    from hardware.phone import DeskPhone

    with DeskPhone(sim_phone.port) as phone:
        yield phone


def wait_until(predicate, timeout=60.0, interval=0.01):
    """Poll `predicate` until it is true or `timeout` passes; returns its last value. The
    timeout is a hang guard, not a claim about speed: a loaded machine may take its time, and a
    predicate that holds returns at once."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


class Unit:
    """A whole kiosk unit on real parts: the simulated Call Center (HTTP on loopback), the
    simulated phone (pty), gpiozero's MockFactory pins, a real SQLite session log, and the
    engine over them. `clock` is a FakeClock unless `real_clock`."""

    def __init__(self, sim, phone, tmp_path, *, real_clock=False, host=None,
                 host_timeout=(1, 1.5), **overrides):
        from gpiozero.pins.mock import MockFactory

        from hardware.panel import DeskPanel
        from hardware.phone import DeskPhone
        from kiosk.callcenter import XsiClient
        from kiosk.config import from_dict
        from kiosk.session import DeskEngine, FakeClock
        from kiosk.sessionlog import SessionLog

        self.sim, self.sim_phone = sim, phone
        overrides.setdefault("callcenter__read_timeout_s", 1.5)
        self.config = from_dict(unit_settings(tmp_path, url=sim.url, host=host, **overrides))
        self.clock = None if real_clock else FakeClock()
        self.factory = MockFactory()
        gpio = self.config.gpio  # the pins as configured (`gpio__relay=False`: no relay)
        self.panel = DeskPanel(hook=24, hold_s=0.5, relay=gpio.relay, pin_factory=self.factory)
        self.log_path = tmp_path / "sessions.db"
        import time

        self.session_log = SessionLog(
            self.log_path, desk="desk12", clock=self.clock.time if self.clock else time.time,
            monotonic=self.clock.monotonic if self.clock else time.monotonic)
        self.host = XsiClient(sim.url, *(host or DESK12), timeout=host_timeout)
        self.phones = []

        def open_phone():
            driver = DeskPhone(phone.port)
            self.phones.append(driver)
            return driver

        self.engine = DeskEngine(
            self.config, host_client=self.host, session_log=self.session_log,
            phone_factory=open_phone if self.config.phone.port else None, panel=self.panel,
            clock=self.clock,
            agent_client_factory=lambda user_id, password: XsiClient(
                sim.url, user_id, password, timeout=(1, 1.5), retry_deadline_s=3))
        self.snapshots = []
        self.engine.observe(self.snapshots.append)

    def start(self):
        self.engine.start()
        self.engine.settle()
        # the first heartbeat (the host's view of the desk) has come back: quiet from here on
        assert wait_until(lambda: self.engine.snapshot.connection != "unknown")
        return self

    def close(self):
        self.engine.close()
        self.panel.close()
        self.session_log.close()
        self.host.session.close()
        self.factory.reset()

    # what the world looks like
    def seat(self, user_id):
        return self.sim.inspect()["users"][user_id].get("host")

    def acd(self, user_id):
        return self.sim.inspect()["users"][user_id].get("acd_state")

    def desk_guest(self):
        return self.sim.inspect()["seating"][DESK12[0]]

    def phone_line(self):
        return self.sim_phone.snapshot()["line"]

    def query(self, sql, params=()):
        import sqlite3

        conn = sqlite3.connect(self.log_path)
        conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in conn.execute(sql, params)]
        finally:
            conn.close()

    def owed(self):
        return self.query("SELECT * FROM outbox WHERE done IS NULL")

    def drain_outbox(self, timeout=15.0):
        """Let time pass until the outbox has done everything it owes (True), or give up."""
        import time

        deadline = time.monotonic() + timeout
        while self.owed():
            if time.monotonic() > deadline:
                return False
            self.advance(310)  # beyond the longest outbox back-off
            time.sleep(0.1)
        return True

    def sign_out(self, **kwargs):
        """Sign out and wait until the server's share (in the background) has come back."""
        outcome = self.engine.sign_out(**kwargs).result(10)
        self.engine.settle()
        return outcome

    def advance(self, seconds):
        """Move the fake clock and let the engine act on it."""
        self.clock.advance(seconds)
        self.engine.settle()


@pytest.fixture
def make_unit(sim, sim_phone, tmp_path):
    units = []

    def make(**kwargs):
        unit = Unit(sim, sim_phone, tmp_path, **kwargs).start()
        units.append(unit)
        return unit

    yield make
    for unit in units:
        unit.close()


@pytest.fixture
def connect_proxy():
    """A site proxy on loopback that tunnels HTTPS by CONNECT (and refuses anything else);
    `connect_proxy.tunnels` lists the host:port of every tunnel it opened."""
    import select
    import socket
    import socketserver
    import threading

    tunnels: list[str] = []

    class Tunnel(socketserver.BaseRequestHandler):
        def handle(self):
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = self.request.recv(4096)
                if not chunk:
                    return
                head += chunk
            method, target = head.split(b" ", 2)[:2]
            if method != b"CONNECT":
                self.request.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                return
            host, _, port = target.decode().rpartition(":")
            tunnels.append(f"{host}:{port}")
            with socket.create_connection((host, int(port)), timeout=10) as upstream:
                self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                ends = [self.request, upstream]
                while True:
                    readable, _, _ = select.select(ends, [], [], 30)
                    if not readable:
                        return
                    for end in readable:
                        data = end.recv(65536)
                        if not data:
                            return
                        (upstream if end is self.request else self.request).sendall(data)

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server(("127.0.0.1", 0), Tunnel)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    server.tunnels = tunnels
    yield server
    server.shutdown()
    server.server_close()
