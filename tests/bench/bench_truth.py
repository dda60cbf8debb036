"""The screen never lies, and what it costs: a change made while the kiosk re-subscribes (after
a server restart) to the kiosk's snapshot, the resync's load in XSP requests per signed-in desk
per hour beside push without it and beside polling, and a sign-in while an owed release of the
desk is held in flight (against a plain sign-in in the same run; the kiosk used to wait for the
release, up to its read timeout).

Against the simulated Call Center with 50 ms per request (none for the request counts).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from kiosk.session import FakeClock
from tests.bench.live import demo_unit, requests_per_hour, wait_for

AGENT = ("zoe", "zoe-demo-1")
NEXT = ("mai", "mai-demo-1")
USER = "zoe@demo.example"
LATENCY_S = 0.05


def _unit(tmp: Path, clock=None, latency_s: float = LATENCY_S, **changes):
    return demo_unit(tmp, clock=clock, latency_s=latency_s, **changes)


def _change_while_resubscribing(tmp: Path, rounds: int = 5) -> list[float]:
    """Cut every channel, and change the agent's state while the kiosk subscribes again."""
    clock = FakeClock()
    unit = _unit(tmp, clock=clock)
    engine, sim = unit.engine, unit.callcenter_sim
    latencies = []
    try:
        assert engine.sign_in(*AGENT).result(10).ok
        wait_for(lambda: engine.snapshot.push)
        for i in range(rounds):
            sim.events.cut_all()
            wait_for(lambda: not engine.snapshot.push)
            engine.settle()
            hold = sim.traffic.hold(r"^POST .*xsi-events/v2\.0/user/", stage="answer")
            clock.advance(300)  # past any back-off: the channel is opened again
            hold.reached.wait(10)
            code = ("10", "20")[i % 2]
            sim.events.lose(5)  # and the change's own event is lost too
            started = time.perf_counter()
            sim.supervisor_sets(USER, "Unavailable", code)
            hold.release()
            wait_for(lambda code=code: engine.snapshot.agent.unavailable_code == code)
            latencies.append(time.perf_counter() - started)
            wait_for(lambda: engine.snapshot.push)
            engine.settle()
    finally:
        unit.close()
    return latencies


def _sign_ins(tmp: Path, *, release_in_flight: bool, rounds: int = 4) -> list[float]:
    """The next agent's sign-in: plain, or while the previous agent's owed release is held."""
    times = []
    for i in range(rounds):
        clock = FakeClock()
        unit = _unit(tmp / f"{release_in_flight}-{i}", clock=clock)
        engine, sim = unit.engine, unit.callcenter_sim
        try:
            if release_in_flight:
                sim.model.set_modes(occupied="replace")
                assert engine.sign_in(*AGENT, stay_signed_in=False).result(10).ok
                sim.faults.update(fail_next=10_000)
                clock.advance(unit.config.session.heartbeat_s)
                wait_for(lambda engine=engine: engine.snapshot.agent is None)
                engine.settle()
                sim.faults.update(fail_next=0)
                hold = sim.traffic.hold(r"^PUT .*/services/HotelingHost$")
                clock.advance(5)  # the outbox pays: the force release goes out, and hangs
                hold.reached.wait(10)
            started = time.perf_counter()
            assert engine.sign_in(*NEXT).result(30).ok
            times.append(time.perf_counter() - started)
            if release_in_flight:
                hold.release()
        finally:
            unit.close()
    return times


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        resubscribe = _change_while_resubscribing(tmp / "resub")
        polled = requests_per_hour(tmp / "poll", events=False)
        pushed = requests_per_hour(tmp / "push", events=True)
        hourly = requests_per_hour(tmp / "push-3600", events=True, resync_s=3600)
        plain = _sign_ins(tmp / "plain", release_in_flight=False)
        held = _sign_ins(tmp / "held", release_in_flight=True)
    ms = 1000
    print(f"   a change made while the kiosk re-subscribes after a restart (its event lost) -> "
          f"snapshot: median {statistics.median(resubscribe) * ms:.0f} ms, worst "
          f"{max(resubscribe) * ms:.0f} ms of {len(resubscribe)} (list, then watch)")
    resync_cost = pushed - hourly + 2  # an hourly resync still reads twice in the hour
    print(f"   XSP requests per signed-in desk per hour: push with the resync every 300 s "
          f"{pushed} (of which the resync {resync_cost}, {resync_cost / pushed:.0%}); "
          f"polling {polled} ({pushed / polled:.2f}x polling's load)")
    print(f"   the next agent's sign-in while an owed release is held in flight: median "
          f"{statistics.median(held) * ms:.0f} ms, against {statistics.median(plain) * ms:.0f}"
          f" ms plain (ratio {statistics.median(held) / statistics.median(plain):.2f}; "
          f"nothing waits for the release)")


if __name__ == "__main__":
    main()
