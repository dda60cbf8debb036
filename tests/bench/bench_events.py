"""Live state: from a change on the server to the kiosk's snapshot, by Xsi-Events push and by
the polling fallback; the XSP requests a signed-in desk costs per hour either way; and the
sign-in time with and without the event channel (it must not be on the critical path).

Against the simulated Call Center with 50 ms per request (none for the request counts).
Targets: push <= 1 s; polling <= one heartbeat + 1 s; sign-in unchanged.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from tests.bench.live import demo_unit, requests_per_hour, wait_for

AGENT = ("zoe", "zoe-demo-1")
USER = "zoe@demo.example"
LATENCY_S = 0.05
CHANGES = 10
POLL_HEARTBEAT_S = 5


def _change_latencies(unit, count: int) -> list[float]:
    engine, sim = unit.engine, unit.callcenter_sim
    latencies = []
    for i in range(count):
        code = ("10", "20")[i % 2]
        sim.supervisor_sets(USER, "Unavailable", code)
        latencies.append(wait_for(lambda code=code: engine.snapshot.agent.unavailable_code == code))
    return latencies


def _unit(tmp: Path, **changes):
    return demo_unit(tmp, latency_s=LATENCY_S, **changes)


def _push_and_poll(tmp: Path) -> tuple[list[float], list[float]]:
    unit = _unit(tmp / "push")
    try:
        assert unit.engine.sign_in(*AGENT).result(10).ok
        wait_for(lambda: unit.engine.snapshot.push)
        push = _change_latencies(unit, CHANGES)
    finally:
        unit.close()
    unit = _unit(tmp / "poll", callcenter={"events": False},
                 session={"heartbeat_s": POLL_HEARTBEAT_S})
    try:
        assert unit.engine.sign_in(*AGENT).result(10).ok
        poll = _change_latencies(unit, 3)
    finally:
        unit.close()
    return push, poll


def _sign_in_times(tmp: Path, events: bool) -> list[float]:
    unit = _unit(tmp, callcenter={"events": events})
    try:
        times = []
        for _ in range(8):
            started = time.perf_counter()
            assert unit.engine.sign_in(*AGENT).result(10).ok
            times.append(time.perf_counter() - started)
            assert unit.engine.sign_out().result(10).ok
            unit.engine.settle()
        return times[1:]
    finally:
        unit.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        push, poll = _push_and_poll(tmp)
        polled_hour = requests_per_hour(tmp / "h-poll", events=False)
        pushed_hour = requests_per_hour(tmp / "h-push", events=True)
        with_events = _sign_in_times(tmp / "s-push", events=True)
        without = _sign_in_times(tmp / "s-poll", events=False)
    ms = 1000
    print(f"   server change -> kiosk snapshot, push: median {statistics.median(push) * ms:.0f} "
          f"ms, worst {max(push) * ms:.0f} ms of {len(push)} (target <= 1000 ms)")
    print(f"   the same, polling every {POLL_HEARTBEAT_S} s: worst {max(poll):.1f} s of "
          f"{len(poll)} (target <= heartbeat + 1 s = {POLL_HEARTBEAT_S + 1} s)")
    print(f"   XSP requests per signed-in desk per hour (heartbeat 15 s, no changes): polling "
          f"{polled_hour}, push {pushed_hour} (heartbeats and refreshes; +1 acknowledgement "
          f"per change); 1,000 desks: {polled_hour * 1000 / 3600:.0f} vs "
          f"{pushed_hour * 1000 / 3600:.0f} requests/s")
    print(f"   sign-in with the event channel: {statistics.median(with_events) * ms:.0f} ms, "
          f"without: {statistics.median(without) * ms:.0f} ms (median of {len(without)}; "
          f"ratio {statistics.median(with_events) / statistics.median(without):.2f}, target "
          f"<= 1.05)")


if __name__ == "__main__":
    main()
