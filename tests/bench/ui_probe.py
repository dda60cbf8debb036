"""One measurement of the UI in a fresh process (run by bench_ui.py): `bare`, `kiosk` or
`signin`. Prints one JSON line."""

from __future__ import annotations

import itertools
import json
import sys
import time

STARTED = float(sys.argv[2])


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main(mode: str) -> None:
    from kiosk.ui import boot

    boot.configure(offscreen=True)
    from kivy.app import App
    from kivy.clock import Clock

    result: dict = {}

    def first_frame(app):
        def measure(dt):
            result["startup_s"] = time.time() - STARTED
            result["rss_mb"] = round(rss_mb(), 1)
            if mode == "signin":
                sign_in(app)
            elif mode == "bare":
                app.stop()
            else:  # memory once the whole unit runs behind the screen
                def running(dt):
                    if app.unit is None or app.snapshot.connection == "unknown":
                        return True
                    result["rss_mb"] = round(rss_mb(), 1)
                    app.stop()
                    return False
                Clock.schedule_interval(running, 0.1)
        Clock.schedule_once(measure, 0)  # runs after the first frame is drawn

    if mode == "bare":
        from kivy.uix.button import Button

        class Bare(App):
            def build(self):
                return Button(text="Tap to sign in")

        app = Bare()
        app.bind(on_start=lambda a: first_frame(a))
        app.run()
    else:
        import tempfile
        from pathlib import Path

        from kiosk.ui.app import KioskApp
        from kiosk.wiring import build_demo, demo_config

        workdir = Path(tempfile.mkdtemp())
        if mode == "kiosk":  # as `kiosk run` starts: the screen first, the unit behind it
            config = demo_config(workdir, "http://127.0.0.1:1", str(workdir / "phone"))
            app = KioskApp(None, config, unit_factory=lambda: build_demo(workdir))
            unit = None
        else:
            unit = build_demo(workdir, latency_s=1.5)
            unit.engine.start()
            app = KioskApp(unit.engine, unit.config)
        stamps: list[float] = []

        def sign_in(app):
            app.open_sign_in()  # the agent types for a while; then Sign In is pressed:
            Clock.schedule_once(lambda dt: press_sign_in(app), 1.0)

        def press_sign_in(app):
            Clock.schedule_interval(lambda dt: stamps.append(time.perf_counter()), 0)
            future = unit.engine.sign_in("zoe", "zoe-demo-1")

            def done(dt):
                if not future.done():
                    return
                gaps = [b - a for a, b in itertools.pairwise(stamps)]
                result["max_gap_ms"] = round(max(gaps) * 1000, 1)
                worst = sorted(((g, a - stamps[0]) for g, a in zip(gaps, stamps, strict=False)),
                               reverse=True)[:4]
                result["worst"] = [(round(g * 1000), round(at, 2)) for g, at in worst]
                result["frames"] = len(stamps)
                result["ok"] = future.result().ok
                app.stop()
                return False
            Clock.schedule_interval(done, 0.1)

        globals()["sign_in"] = sign_in
        app.bind(on_start=lambda a: first_frame(a))
        app.run()
        for built in (unit, app.unit):
            if built is not None:
                built.close()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
