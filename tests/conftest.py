"""Shared fixtures. Real parts over mocks: real files, real servers on loopback, real ptys."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

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


def wait_until(predicate, timeout=3.0, interval=0.01):
    """Poll `predicate` until it is true or `timeout` passes; returns its last value."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)
