"""Call Center client: overhead per operation against bare `requests`, and a sign-in's cost.

Both sides talk to the same simulated Call Center over loopback HTTP in this process and make
the same HTTP exchanges (Basic auth, cookie, XML bodies); the ratio is the client's own cost
(codec, error mapping, retry adapter) on top. Target: ratio <= 1.2; a sign-in costs 3 requests.
"""

from __future__ import annotations

import statistics
import time

import requests

from kiosk.callcenter import XsiClient, codec
from kiosk.callcenter.sim import SimulatedCallCenter, load_directory
from kiosk.paths import asset

AGENT = ("zoe@demo.example", "zoe-demo-1")
DESK = "desk12@demo.example"
ROUNDS = 7
PER_ROUND = 150


def _bare_cycle(session: requests.Session, base: str) -> None:
    user = f"{base}/user/{AGENT[0]}"
    r = session.get(f"{user}/profile", timeout=(3.05, 10))
    r.raise_for_status()
    r = session.put(f"{user}/services/HotelingGuest", timeout=(3.05, 10),
                    data=codec.associate_body(DESK, limit_hours=8),
                    headers={"Content-Type": "application/xml; charset=UTF-8"})
    r.raise_for_status()
    r = session.put(f"{user}/services/HotelingGuest", timeout=(3.05, 10),
                    data=codec.clear_association_body(),
                    headers={"Content-Type": "application/xml; charset=UTF-8"})
    r.raise_for_status()


def _client_cycle(client: XsiClient) -> None:
    client.profile()
    client.associate(DESK, limit_hours=8)
    client.clear_association()


def _time(fn) -> float:
    started = time.perf_counter()
    for _ in range(PER_ROUND):
        fn()
    return (time.perf_counter() - started) / (PER_ROUND * 3)


def main() -> None:
    with SimulatedCallCenter(load_directory(asset("demo", "directory.toml"))) as sim:
        bare = requests.Session()
        bare.auth = AGENT
        bare.trust_env = False  # as the client; else bare pays for proxy and netrc look-ups
        client = XsiClient(sim.url, *AGENT)
        _bare_cycle(bare, sim.url)  # warm both connections
        _client_cycle(client)
        bare_times, client_times = [], []
        for _ in range(ROUNDS):  # interleaved, so drift hits both alike
            bare_times.append(_time(lambda: _bare_cycle(bare, sim.url)))
            client_times.append(_time(lambda: _client_cycle(client)))
        bare_ms = statistics.median(bare_times) * 1000
        client_ms = statistics.median(client_times) * 1000
        print(f"   per operation: bare requests {bare_ms:.3f} ms, XsiClient {client_ms:.3f} ms")
        print(f"   client overhead ratio: {client_ms / bare_ms:.2f} (target <= 1.2)")

        client.close()
