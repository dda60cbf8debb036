"""What the live-state benchmarks share (`bench_events`, `bench_truth`): a demo unit, waiting
for the kiosk to show something, and an hour of a signed-in desk counted in XSP requests."""

from __future__ import annotations

import time
from pathlib import Path

from kiosk.session import FakeClock
from kiosk.wiring import build_demo

AGENT = ("zoe", "zoe-demo-1")


def wait_for(predicate, timeout: float = 30) -> float:
    """Seconds until `predicate()` holds (raises TimeoutError past `timeout`)."""
    started = time.perf_counter()
    while not predicate():
        if time.perf_counter() - started > timeout:
            raise TimeoutError("the kiosk never got there")
        time.sleep(0.001)
    return time.perf_counter() - started


def demo_unit(tmp: Path, *, clock=None, latency_s: float = 0.0, **changes):
    """The demo unit, started and quiet; `changes`: configuration sections to change."""
    unit = build_demo(tmp, latency_s=latency_s, clock=clock, config_changes=changes or None)
    unit.engine.start()
    unit.engine.settle()
    return unit


def requests_per_hour(tmp: Path, *, events: bool, resync_s: int = 300) -> int:
    """An hour of a signed-in desk under a fake clock, heartbeat by heartbeat: the requests
    the XSP saw (the channel's and subscriptions' refreshes at half-life included)."""
    clock = FakeClock()
    unit = demo_unit(tmp, clock=clock, callcenter={"events": events},
                     session={"resync_s": resync_s})
    try:
        engine, sim = unit.engine, unit.callcenter_sim
        assert engine.sign_in(*AGENT).result(10).ok
        if events:
            wait_for(lambda: engine.snapshot.push)
        engine.settle()
        sim.traffic.clear()
        heartbeat = unit.config.session.heartbeat_s
        for _ in range(int(3600 / heartbeat)):
            clock.advance(heartbeat)
            engine.settle()
        count = len(sim.traffic.snapshot())
    finally:
        unit.close()
    # the refreshes (channel and both subscriptions, at half-life: twice an hour) run on the
    # real clock, not the fake one: counted here
    return count + (2 * 3 if events else 0)
