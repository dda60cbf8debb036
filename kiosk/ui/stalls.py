"""Frame stalls, measured where they happen: how late each frame was, what the garbage
collector cost, and what the Kivy thread was doing when a frame was late.

    watch = StallWatch(late_s=0.2).start()   # on the Kivy thread, once the app runs
    ...
    report = watch.report()                  # worst gap, collections, stacks of late frames

The frame clock is a `Clock.schedule_interval(…, 0)` callback (every frame); a watchdog thread
looks every 20 ms, and when the last frame is more than `late_s` ago it records the Kivy
thread's stack (`sys._current_frames()`), once per stall. Every collection is timed through
`gc.callbacks`. For tests, benchmarks and `kiosk demo --tour`; it costs a thread and a
callback, so `kiosk run` does not use it.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
import traceback


class StallWatch:
    def __init__(self, *, late_s: float = 0.2, keep: int = 50):
        self.late_s = late_s
        self.keep = keep
        self.worst_gap_s = 0.0
        self.frames = 0
        self.collections: list[dict] = []  # every collection over 5 ms, and the totals
        self.gc_total_s = 0.0
        self.gc_count = 0
        self.stalls: list[dict] = []  # a late frame: how late, and the Kivy thread's stack
        self._last = time.perf_counter()
        self._gc_started = 0.0
        self._stalled = False
        self._main = threading.get_ident()
        self._stop = threading.Event()
        self._event = None

    def start(self) -> StallWatch:
        from kivy.clock import Clock

        self._main = threading.get_ident()
        self._last = time.perf_counter()
        self._event = Clock.schedule_interval(self._frame, 0)
        gc.callbacks.append(self._gc)
        threading.Thread(target=self._watch, name="stall-watch", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._event is not None:
            self._event.cancel()
        if self._gc in gc.callbacks:
            gc.callbacks.remove(self._gc)

    def reset(self) -> None:
        """Forget what was measured so far (between phases of a run)."""
        self.worst_gap_s = 0.0
        self.frames = 0
        self.collections.clear()
        self.gc_total_s = 0.0
        self.gc_count = 0
        self.stalls.clear()
        self._last = time.perf_counter()

    def _frame(self, dt) -> None:
        now = time.perf_counter()
        gap = now - self._last
        self._last = now
        self.frames += 1
        if gap > self.worst_gap_s:
            self.worst_gap_s = gap
        if self._stalled:
            self._stalled = False
            if self.stalls:
                self.stalls[-1]["gap_ms"] = round(gap * 1000, 1)

    def _gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
            return
        took = time.perf_counter() - self._gc_started
        self.gc_total_s += took
        self.gc_count += 1
        if took > 0.005 and len(self.collections) < self.keep:
            self.collections.append({"generation": info.get("generation"),
                                     "collected": info.get("collected"),
                                     "ms": round(took * 1000, 1),
                                     "thread": threading.current_thread().name})

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            late = time.perf_counter() - self._last
            if late > self.late_s and not self._stalled:
                self._stalled = True
                frame = sys._current_frames().get(self._main)
                if frame is not None and len(self.stalls) < self.keep:
                    self.stalls.append({"late_ms": round(late * 1000, 1), "gap_ms": None,
                                        "stack": traceback.format_stack(frame)[-12:]})

    def report(self) -> dict:
        return {"worst_gap_ms": round(self.worst_gap_s * 1000, 1), "frames": self.frames,
                "gc_count": self.gc_count, "gc_total_ms": round(self.gc_total_s * 1000, 1),
                "slow_collections": list(self.collections), "stalls": list(self.stalls)}
