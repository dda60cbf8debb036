"""`kiosk run` (the kiosk on real hardware) and `kiosk demo` (the kiosk on simulators)."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from kiosk.cli.common import EXIT_FAILED, CommandError, add_config_option, load_config, seconds


def register(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run the kiosk on this unit's hardware (systemd runs this)",
                         description="Fullscreen, hardened kiosk on the real Call Center, "
                         "phone and GPIO of the configuration.")
    add_config_option(run)
    run.set_defaults(func=run_kiosk)

    demo = sub.add_parser(
        "demo", help="the kiosk on simulators, in a window (or a scripted tour)",
        description="Starts the simulated Call Center, a simulated phone on a pty, mock GPIO "
        "and a session log in a temporary folder, and opens the kiosk with a virtual desk "
        "beside it. Closing the window stops everything.")
    demo.add_argument("--tour", metavar="DIR", type=Path, default=None,
                      help="offscreen: walk through the screens with simulated touches, write "
                      "<screen>-<language>.png, tour.json and sessions.db into DIR")
    demo.add_argument("--latency", type=seconds, default=0.0, metavar="S",
                      help="seconds the simulated Call Center adds to every request")
    demo.set_defaults(func=run_demo)


def run_kiosk(args: argparse.Namespace) -> int:
    config = load_config(args)
    from kiosk.errors import AlreadyRunning
    from kiosk.session.lock import RuntimeLock

    try:  # first: a second kiosk touches neither the screen nor the pins
        lock = RuntimeLock()
    except AlreadyRunning as exc:
        raise CommandError(f"{exc}; to restart it: systemctl restart hotdesk-kiosk") from None
    from kiosk.ui import boot

    boot.configure(kiosk_mode=True)
    from kiosk.sdnotify import Notifier
    from kiosk.status import StatusServer, describe
    from kiosk.ui.app import KioskApp
    from kiosk.wiring import build_unit

    notifier = Notifier()
    notifier.status("starting")
    # The screen comes up first; the unit (network, phone, GPIO, log) starts behind it.
    app = KioskApp(None, config, kiosk_mode=True, notifier=notifier,
                   unit_factory=lambda: build_unit(config, lock=lock))
    _stop_on_sigterm(app)
    started = time.monotonic()
    status = StatusServer(lambda: describe(app.unit, started, time.monotonic()))
    try:
        status.start()
    except OSError as exc:  # the kiosk runs on without it
        print(f"kiosk: no status socket at {status.path}: {exc.strerror}", file=sys.stderr)
    try:
        app.run()
    finally:
        status.close()
        notifier.stopping()
        if app.unit is not None:
            app.unit.close()
    if app.start_error is not None:
        raise app.start_error
    return 0


def _has_display() -> bool:
    import os

    driver = os.environ.get("SDL_VIDEODRIVER", "")
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                or driver not in ("", "offscreen", "dummy"))


def _stop_on_sigterm(app) -> None:
    """systemd stops the kiosk with SIGTERM: close the window, the engine and the log cleanly."""
    import signal

    from kivy.clock import Clock

    signal.signal(signal.SIGTERM, lambda *_: Clock.schedule_once(lambda dt: app.stop(), 0))


def run_demo(args: argparse.Namespace) -> int:
    from kiosk.ui import boot

    if args.tour is None and not _has_display():
        args.tour = Path("demo-tour")
        print(f"No display here, so the demo walks itself through the screens instead; "
              f"the pictures go to {args.tour}/ (open {args.tour}/welcome-en.png). With a "
              "display, `kiosk demo` opens a window.", file=sys.stderr)
    if args.tour is not None:
        return _tour(args.tour)
    from kiosk.ui.demo_size import DEMO_SIZE

    boot.configure(size=DEMO_SIZE)
    from kiosk.ui.app import KioskApp
    from kiosk.wiring import build_demo

    with tempfile.TemporaryDirectory(prefix="hotdesk-demo-") as workdir:
        unit = build_demo(Path(workdir), latency_s=args.latency)
        status = None
        try:
            unit.engine.start()
            status = serve_status(lambda: unit)
            print("demo agents (type the user part; the domain is appended):", file=sys.stderr)
            for agent in unit.demo_agents:
                print(f"  {agent.user:10} {agent.password:18} {agent.name}", file=sys.stderr)
            KioskApp(unit.engine, unit.config, demo=unit).run()
        finally:
            if status is not None:
                status.close()
            unit.close()
    return 0


def serve_status(unit, *, quiet: bool = False):
    """Answer `kiosk status` for the demo, as a unit does, unless a kiosk runs on this machine
    (it owns the socket). Returns the server, or None."""
    import time

    from kiosk.session.lock import kiosk_running
    from kiosk.status import StatusServer, ask, describe, status_path

    try:
        answered = ask() is not None
    except PermissionError:  # a kiosk's socket this user may not use: one is there
        answered = True
    if kiosk_running() or answered:
        if not quiet:
            print(f"kiosk status: answered by the kiosk already running here ({status_path()}),"
                  " not by this demo", file=sys.stderr)
        return None
    started = time.monotonic()
    server = StatusServer(lambda: describe(unit(), started, time.monotonic()))
    try:
        server.start()
    except OSError as exc:
        print(f"kiosk: no status socket at {server.path}: {exc.strerror}", file=sys.stderr)
        return None
    if not quiet:
        print(f"kiosk status answers for this demo ({server.path})", file=sys.stderr)
    return server


def _tour(directory: Path) -> int:
    from datetime import datetime

    from kiosk.ui import boot
    from kiosk.ui.demo_size import DEMO_SIZE

    directory.mkdir(parents=True, exist_ok=True)
    boot.configure(size=DEMO_SIZE, offscreen=True)
    import time

    from kiosk.session import FakeClock
    from kiosk.ui import tour
    from kiosk.ui.app import KioskApp
    from kiosk.wiring import build_demo

    clock = FakeClock(start=datetime.now().astimezone(), monotonic=time.monotonic())
    with tempfile.TemporaryDirectory(prefix="hotdesk-tour-") as workdir:
        unit = build_demo(Path(workdir), clock=clock)
        try:
            unit.engine.start()
            app = KioskApp(unit.engine, unit.config, demo=unit)
            walk = None

            def begin(*_):
                nonlocal walk
                walk = tour.start(app, unit, directory)

            app.bind(on_start=begin)
            app.run()
            tour.keep_log(unit, directory)
        finally:
            unit.close()
    if walk is None or not walk.ok:
        failed = [s["name"] for s in (walk.steps if walk else []) if not s["ok"]]
        raise CommandError(f"the tour failed at: {', '.join(failed) or 'start'} "
                           f"(see {directory / 'tour.json'})", EXIT_FAILED)
    print(f"tour OK: {len(walk.steps)} steps, screenshots in {directory}")
    return 0
