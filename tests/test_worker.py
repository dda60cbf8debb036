"""The engine's worker: `settle()` is the barrier the tests and benchmarks stand on; it returns
only once every offloaded call has come back *and* its result has been handled on the worker."""

from __future__ import annotations

import threading

from kiosk.session.clock import SystemClock
from kiosk.session.worker import Worker
from tests.conftest import wait_until


def test_settle_waits_until_an_offloaded_result_is_handled():
    """Found when sign-out became asynchronous: settle's own no-op went ahead of a result that
    came back meanwhile, saw the I/O done, and returned before the result was handled."""
    worker = Worker(SystemClock()).start()
    try:
        io_gate, busy_gate, settled = threading.Event(), threading.Event(), threading.Event()
        order = []

        def handle(result):  # gives a settle that did not wait for it a second to return
            settled.wait(1)
            order.append("handled")

        def settle():
            worker.settle()
            order.append("settled")
            settled.set()

        worker.submit(lambda: busy_gate.wait(10))  # the worker is busy with a command
        worker.offload(lambda: io_gate.wait(10), handle)
        settling = threading.Thread(target=settle)
        settling.start()
        assert wait_until(lambda: worker._queue.qsize() >= 1)  # settle's no-op is queued
        io_gate.set()  # the I/O comes back now: its result queues behind settle's no-op
        assert wait_until(lambda: worker._queue.qsize() >= 2)
        busy_gate.set()
        settling.join(10)
        assert order == ["handled", "settled"]
    finally:
        worker.stop()


def test_stop_does_not_wait_for_results_nobody_will_handle():
    worker = Worker(SystemClock()).start()
    done = threading.Event()
    worker.offload(lambda: done.wait(0), lambda result: None)
    worker.stop(timeout=5)
    assert not worker._io
