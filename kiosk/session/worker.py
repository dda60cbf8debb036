"""The engine's one worker thread: commands, timers and I/O results, handled one at a time.

```python
worker = Worker(clock).start()
future = worker.submit(lambda: decide_something())        # from any thread
timer = worker.call_at(clock.monotonic() + 5, on_deadline)  # on the worker, at that time
worker.call_every(15, heartbeat)                           # again and again
worker.offload(lambda: client.hoteling_guest(),            # I/O on the pool ...
               lambda result: use(result))                 # ... its Result back on the worker
worker.run(flow())                                         # a flow: sequential code, never
                                                           # holding the worker up (below)
worker.settle()                                            # wait for everything due to run
```

**Flows.** A step-by-step job that waits for the network or the phone on the way (the sign-in
saga, its undo, setting the ACD state, extend, recovery at start-up) is a generator: every
callable it yields runs on the pool, and the generator resumes on the worker with its value
(or its exception raised at the `yield`); `yield together(a, b)` runs both at once and resumes
with a `Result` each; `yield future` waits for a Future (another flow's end). Between two
steps the worker handles everything else: a hook, a button, a badge or a timer is never queued
behind a request the server is holding.

```python
def sign_in():
    guest = yield client.hoteling_guest          # on the pool; the worker is free meanwhile
    profile, acd = yield together(client.profile, set_state)
    return Outcome(True)

future = worker.run(sign_in())                   # the Future of what the flow returns
```

The loop sleeps until the next command or the next timer's deadline, never polling. Every
callback runs on the worker, so the code it calls needs no locks; `offload` is the only way to
wait for the network or the serial line without holding the worker up: the pool thread does
the I/O and nothing else (it reads no engine state), and the result (`Result.value` or
`Result.error`) comes back to the worker through the queue.

With a `FakeClock`, timers fire when the clock is advanced (`clock.when_advanced`).
"""

from __future__ import annotations

import heapq
import inspect
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from kiosk.session.clock import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Result:
    """What an offloaded call came to: its value, or the exception it raised."""

    value: Any = None
    error: BaseException | None = None


@dataclass(frozen=True)
class Together:
    """Calls a flow waits for at once (`yield together(a, b)`): it resumes with a `Result`
    for each, in order."""

    calls: tuple[Callable[[], object], ...]


def together(*calls: Callable[[], object]) -> Together:
    return Together(calls)


class Timer:
    """A scheduled callback; `cancel()` stops it (and every later run of a repeating one)."""

    def __init__(self, at: float, fn: Callable[[], object], every: float | None):
        self.at = at
        self.fn = fn
        self.every = every
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


_STOP = object()


class Worker:
    def __init__(self, clock: Clock, *, io_threads: int = 8, name: str = "desk-engine"):
        self.clock = clock
        self.name = name
        self._queue: queue.Queue = queue.Queue()
        self._timers: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()
        self._pool = ThreadPoolExecutor(max_workers=io_threads,
                                        thread_name_prefix=f"{name}-io")
        self._thread: threading.Thread | None = None
        self._pending: set[Future] = set()  # work not yet handled on the worker
        self._io: set[Future] = set()  # the pool's own futures (stop waits for them)
        self._stopped = False
        clock.when_advanced.append(self.wake)

    # --- any thread -------------------------------------------------------------------------

    def start(self) -> Worker:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        return self

    def submit(self, fn: Callable[[], object]) -> Future:
        """Run `fn` on the worker; its return value (or exception) arrives in the Future."""
        future: Future = Future()
        self._queue.put((fn, future))
        return future

    def wake(self) -> None:
        """Look at the timers again now (the clock moved)."""
        self._queue.put(None)

    def settle(self, timeout: float = 30, *, io: bool = True) -> None:
        """Block until the worker has handled every command queued before this call and run
        every timer already due; with `io`, also until every offloaded call has come back
        and its result has been handled (the engine is quiet)."""
        deadline = time.monotonic() + timeout
        while True:
            self.submit(lambda: None).result(max(0.0, deadline - time.monotonic()))
            pending = [f for f in list(self._pending) if not f.done()] if io else []
            if not pending:
                return
            done, _ = futures.wait(pending, timeout=max(0.0, deadline - time.monotonic()))
            if not done:
                raise TimeoutError("the engine's I/O did not come back in time")

    def on_worker(self) -> bool:
        return threading.current_thread() is self._thread

    def stop(self, timeout: float = 10) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._queue.put(_STOP)
        if self._thread is not None and not self.on_worker():
            self._thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
        # what is already on the network finishes (each call has its own timeouts)
        futures.wait(list(self._io), timeout=timeout)
        if self.wake in self.clock.when_advanced:
            self.clock.when_advanced.remove(self.wake)

    # --- on the worker ----------------------------------------------------------------------

    def call_at(self, at: float, fn: Callable[[], object]) -> Timer:
        """Run `fn` on the worker once the monotonic clock reaches `at`."""
        return self._add(Timer(at, fn, None))

    def call_every(self, interval: float, fn: Callable[[], object], *,
                   first: float | None = None) -> Timer:
        """Run `fn` every `interval` seconds (first at `first`, default: now)."""
        at = self.clock.monotonic() if first is None else first
        return self._add(Timer(at, fn, interval))

    def offload(self, io: Callable[[], object], then: Callable[[Result], object]) -> Future:
        """Run `io` on the I/O pool, then `then(Result)` on the worker. `io` must not touch
        engine state: it only talks to the network, the serial line or the disk. The Future
        returned is done once `then` has run (what `settle` waits for), not merely the I/O."""
        handled: Future = Future()

        def finish(result: Result) -> None:
            try:
                then(result)
            finally:
                handled.set_result(None)

        def run() -> None:
            try:
                result = Result(value=io())
            except BaseException as exc:  # handed to the worker, which decides
                result = Result(error=exc)
            if self._stopped:
                handled.set_result(None)  # nobody will handle it now
            else:
                self.submit(lambda: finish(result))

        self._on_pool(self._pool.submit(run))
        return self._track(handled)

    def run(self, flow, *, when_closed: Callable[[], bool] = lambda: False) -> Future:
        """Drive the generator `flow` on the worker (see *Flows* above); the Future returned
        holds what it returns. A flow is abandoned (closed at its `yield`: its `finally`
        blocks run) once `when_closed()` is true when a step comes back: a session scope
        that has ended does not resume its flows, and their Future holds None."""
        done: Future = Future()

        def step(value=None, error: BaseException | None = None) -> None:
            if when_closed():
                flow.close()
                if not done.done():  # (never cancel(): futures.wait would not hear of it)
                    done.set_result(None)
                return
            try:
                asked = flow.throw(error) if error is not None else flow.send(value)
            except StopIteration as stop:
                done.set_result(stop.value)
                return
            except BaseException as exc:
                log.exception("engine flow failed")
                done.set_exception(exc)
                return
            if isinstance(asked, Together):
                results: list[Result | None] = [None] * len(asked.calls)

                def one(index: int, result: Result) -> None:
                    results[index] = result
                    if all(r is not None for r in results):
                        step(tuple(results))

                for index, call in enumerate(asked.calls):
                    self.offload(call, lambda result, index=index: one(index, result))
                if not asked.calls:
                    step(())
            elif isinstance(asked, Future):  # another flow's end (or any Future)
                asked.add_done_callback(lambda done: self.submit(lambda: step(
                    None if done.cancelled() or done.exception() else done.result(),
                    None if done.cancelled() else done.exception())))
            else:
                self.offload(asked, lambda result: step(result.value, result.error))

        if self.on_worker():
            step()
        else:
            self.submit(step)
        return self._track(done)

    def in_background(self, io: Callable[[], object]) -> Future:
        """Run `io` on the I/O pool where nobody needs its result on the worker."""
        return self._track(self._on_pool(self._pool.submit(io)))

    def _on_pool(self, future: Future) -> Future:
        self._io.add(future)
        future.add_done_callback(self._io.discard)
        return future

    def _track(self, future: Future) -> Future:
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        return future

    def _add(self, timer: Timer) -> Timer:
        heapq.heappush(self._timers, (timer.at, next(self._order), timer))
        if not self.on_worker():
            self.wake()
        return timer

    def _run(self) -> None:
        while True:
            self._run_due_timers()
            try:
                job = self._queue.get(timeout=self._sleep_for())
            except queue.Empty:
                continue
            if job is _STOP:
                return
            if job is None:
                continue
            fn, future = job
            try:
                result = fn()
            except BaseException as exc:
                log.exception("engine command failed")
                future.set_exception(exc)
            else:
                if inspect.isgenerator(result):  # a flow: the Future waits for its end
                    _chain(self.run(result), future)
                else:
                    future.set_result(result)
            self._run_due_timers()

    def _sleep_for(self) -> float | None:
        """Until the next timer is due; None (until a command) with nothing scheduled or a
        clock that moves only when told to."""
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        if not self._timers or not self.clock.moves_by_itself:
            return None
        return max(0.0, self._timers[0][0] - self.clock.monotonic())

    def _run_due_timers(self) -> None:
        now = self.clock.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            if timer.every is not None:
                timer.at = max(timer.at + timer.every, now)
                heapq.heappush(self._timers, (timer.at, next(self._order), timer))
            try:
                timer.fn()
            except Exception:
                log.exception("engine timer failed")


def _chain(source: Future, target: Future) -> None:
    def copy(done: Future) -> None:
        if done.cancelled():
            target.cancel()
        elif done.exception() is not None:
            target.set_exception(done.exception())
        else:
            target.set_result(done.result())
    source.add_done_callback(copy)
