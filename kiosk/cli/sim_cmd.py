"""`kiosk sim callcenter`: run a simulator in the foreground, for developers and facilities."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from kiosk.cli.common import EXIT_USAGE, CommandError
from kiosk.paths import asset


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("sim", help="run a simulator (Call Center or desk phone)")
    commands = parser.add_subparsers(dest="sim_command", metavar="SUBCOMMAND", required=True)

    cc = commands.add_parser(
        "callcenter", help="run the simulated Call Center (Xsi-Actions over HTTP or HTTPS)",
        description="Serves until SIGINT/SIGTERM. The first line on stdout is one JSON object: "
        '{"url": Xsi-Actions base URL, "ca": CA file or null, "inspect": inspection URL}.')
    cc.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    cc.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    cc.add_argument("--directory", metavar="FILE", default=None,
                    help="users and services, TOML (default: the demo directory)")
    cc.add_argument("--tls", action="store_true", help="HTTPS with a throwaway CA")
    cc.add_argument("--occupied", choices=("reject", "replace"), default="reject",
                    help="a desk that already has a guest: reject the newcomer or replace")
    cc.add_argument("--moved", choices=("reject", "move"), default="reject",
                    help="a guest already at another desk: reject or move them")
    cc.add_argument("--lock-after", type=int, default=None, metavar="N",
                    help="lock an account after N failed logins")
    cc.add_argument("--latency", type=float, default=0.0, metavar="S",
                    help="seconds added to every answer")
    cc.set_defaults(func=run_callcenter)


def wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass


def run_callcenter(args: argparse.Namespace) -> int:
    from kiosk.callcenter.sim import DirectoryError, SimulatedCallCenter, load_directory

    path = args.directory or asset("demo", "directory.toml")
    try:
        directory = load_directory(path)
    except (DirectoryError, OSError) as exc:
        raise CommandError(f"cannot use the directory {path}: {exc}", EXIT_USAGE) from None
    try:
        sim = SimulatedCallCenter(directory, host=args.host, port=args.port, tls=args.tls,
                                  occupied=args.occupied, moved=args.moved,
                                  lock_after=args.lock_after)
    except OSError as exc:
        raise CommandError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    except RuntimeError as exc:
        raise CommandError(str(exc)) from None
    with sim:
        sim.faults.update(latency_s=args.latency)
        print(json.dumps({"url": sim.url, "origin": sim.origin,
                          "ca": str(sim.ca_path) if sim.ca_path else None,
                          "inspect": sim.inspect_url}), flush=True)
        print(f"simulated Call Center on {sim.url} ({len(directory.users)} users); "
              "Ctrl-C stops it", file=sys.stderr, flush=True)
        wait_for_signal()
    return 0
