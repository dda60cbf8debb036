"""`kiosk sim callcenter`: run a simulator in the foreground, for developers and facilities."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from kiosk.callcenter.urls import is_loopback
from kiosk.cli.common import EXIT_USAGE, CommandError, baudrate, seconds, tcp_port
from kiosk.paths import asset


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("sim", help="run a simulator (Call Center or desk phone)")
    commands = parser.add_subparsers(dest="sim_command", metavar="SUBCOMMAND", required=True)

    cc = commands.add_parser(
        "callcenter", help="run the simulated Call Center (Xsi-Actions over HTTP or HTTPS)",
        description="Serves until SIGINT/SIGTERM. The first line on stdout is one JSON object: "
        '{"url": Xsi-Actions base URL, "ca": CA file or null, "inspect": inspection URL}.')
    cc.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (default loopback); another address needs "
                    "--tls, and 0.0.0.0 prints this machine's address in the url")
    cc.add_argument("--port", type=tcp_port, default=0, help="port (default: any free port)")
    cc.add_argument("--directory", metavar="FILE", default=None,
                    help="users and services, TOML (default: the demo directory)")
    cc.add_argument("--tls", action="store_true", help="HTTPS with a throwaway CA")
    cc.add_argument("--occupied", choices=("reject", "replace"), default="reject",
                    help="a desk that already has a guest: reject the newcomer or replace")
    cc.add_argument("--moved", choices=("reject", "move"), default="reject",
                    help="a guest already at another desk: reject or move them")
    cc.add_argument("--lock-after", type=int, default=None, metavar="N",
                    help="lock an account after N failed logins")
    cc.add_argument("--latency", type=seconds, default=0.0, metavar="S",
                    help="seconds added to every answer")
    cc.add_argument("--write-config", metavar="FILE", type=Path, default=None,
                    help="also write a kiosk configuration for this simulator to FILE (with the "
                    "desk host's password, the session log and, with --tls, the CA beside it), "
                    "so that every admin command can be tried without a unit")
    cc.add_argument("--pad", action="store_true",
                    help="break lines and indent inside every value, as Cisco's examples do")
    cc.add_argument("--heartbeat", choices=("declared", "bare"), default="declared",
                    help="the event stream's heartbeat: <ChannelHeartBeat/> after an XML "
                    "declaration (declared) or <ChannelHeartbeat/> alone (bare)")
    cc.set_defaults(func=run_callcenter)

    phone = commands.add_parser(
        "phone", help="run the simulated desk phone on a pty or a TCP port",
        description="The first line on stdout is one JSON object: {\"port\": PATH or URL}. "
        "Then it reads control commands on stdin, one per line: lift, hangup, reboot, "
        "silent on, silent off, garbage, slow SECONDS, unplug, replug, state (prints the "
        "state as one JSON line). Serves until SIGINT/SIGTERM.")
    where = phone.add_mutually_exclusive_group()
    where.add_argument("--pty", action="store_true", help="serve on a pseudo-terminal (default)")
    where.add_argument("--tcp", type=tcp_port, metavar="PORT", default=None,
                       help="serve on a TCP port on loopback (0 = any free port)")
    phone.add_argument("--link", metavar="PATH", default=None,
                       help="with --pty: keep a symlink PATH pointing at the pty (like udev's "
                       "/dev/deskphone)")
    phone.add_argument("--baudrate", type=baudrate, default=115200,
                       help="wire speed the simulator paces its bytes at")
    phone.set_defaults(func=run_phone)


def stop_on_signal() -> threading.Event:
    """An event set by SIGINT or SIGTERM (installed before anything is announced, so that a
    signal sent at once is never a traceback)."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def wait_for_signal(stop: threading.Event) -> None:
    """Block until `stop` is set."""
    while not stop.wait(0.5):
        pass


WILDCARDS = ("0.0.0.0", "::", "")  # noqa: S104 - recognised, not bound


def reachable_address() -> str:
    """This machine's first non-loopback IPv4 address (what other machines reach a server on
    0.0.0.0 by), or 127.0.0.1 when it has none. Looked up locally; nothing is sent."""
    import socket

    try:
        candidates = [info[4][0] for info in socket.getaddrinfo(
            socket.gethostname(), None, socket.AF_INET, socket.SOCK_STREAM)]
    except OSError:
        candidates = []
    candidates += _interface_addresses()
    return next((a for a in candidates if not is_loopback(a)), "127.0.0.1")


def _interface_addresses() -> list[str]:
    """The IPv4 address of each network interface (Linux: SIOCGIFADDR)."""
    import fcntl
    import socket
    import struct

    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in socket.if_nameindex():
            try:
                answer = fcntl.ioctl(probe.fileno(), 0x8915,  # SIOCGIFADDR
                                     struct.pack("256s", name.encode()[:15]))
            except OSError:
                continue  # no IPv4 address on it
            found.append(socket.inet_ntoa(answer[20:24]))
    return found


def write_config(path: Path, sim) -> None:
    """A configuration for desk 12 of the demo directory against `sim`: the host's password in
    `host-password` (mode 600), the session log `sessions.db`, the metrics file, the badge table
    and its key and the simulator's CA beside it (relative paths: they resolve against the
    configuration's folder; no copy to this machine's journal), and no HD-AT/1 phone."""
    import shutil

    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    secret = folder / "host-password"
    secret.write_text("desk12-host\n", encoding="utf-8")
    secret.chmod(0o600)
    lines = ["# written by kiosk sim callcenter --write-config: desk 12 of the demo directory",
             "[desk]", 'id = "desk12"', 'name = "Simulated desk 12"',
             'host_user_id = "desk12@demo.example"', 'host_password_file = "host-password"',
             "", "[callcenter]", f'url = "{sim.url}"', 'default_domain = "demo.example"']
    if sim.ca_path is not None:
        shutil.copyfile(sim.ca_path, folder / "sim-ca.pem")
        lines.append('ca_bundle = "sim-ca.pem"')
    lines += ["", "[phone]", 'port = ""  # no HD-AT/1 phone: kiosk sim phone gives one',
              "", "[log]", 'database = "sessions.db"',
              "# beside this file, not the unit's: another unit on this machine is left alone",
              'metrics_file = "hotdesk.prom"', 'journal_socket = ""',
              "", "[badge]", 'table = "badges.json"', 'key_file = "badge-key"', ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {path} (try: kiosk callcenter desk --config {path})", file=sys.stderr,
          flush=True)


def run_callcenter(args: argparse.Namespace) -> int:
    from kiosk.callcenter.sim import DirectoryError, SimulatedCallCenter, load_directory

    path = args.directory or asset("demo", "directory.toml")
    try:
        directory = load_directory(path)
    except (DirectoryError, OSError) as exc:
        raise CommandError(f"cannot use the directory {path}: {exc}", EXIT_USAGE) from None
    advertised = reachable_address() if args.host in WILDCARDS else None
    if not args.tls and not is_loopback(advertised or args.host):
        raise CommandError(
            f"--host {args.host} without --tls: a kiosk takes plain http:// only from a loopback "
            "address, so no kiosk could use this URL; add --tls (the CA file to trust is "
            "printed as \"ca\")", EXIT_USAGE)
    try:
        sim = SimulatedCallCenter(directory, host=args.host, port=args.port, tls=args.tls,
                                  occupied=args.occupied, moved=args.moved,
                                  lock_after=args.lock_after, advertised_host=advertised)
    except OSError as exc:
        raise CommandError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    except RuntimeError as exc:
        raise CommandError(str(exc)) from None
    stop = stop_on_signal()
    with sim:
        sim.faults.update(latency_s=args.latency)
        sim.set_shapes(pad=args.pad, heartbeat=args.heartbeat)
        if args.write_config is not None:
            write_config(args.write_config, sim)
        print(json.dumps({"url": sim.url, "origin": sim.origin,
                          "ca": str(sim.ca_path) if sim.ca_path else None,
                          "inspect": sim.inspect_url}), flush=True)
        print(f"simulated Call Center on {sim.url} ({len(directory.users)} users); "
              "Ctrl-C stops it", file=sys.stderr, flush=True)
        wait_for_signal(stop)
    return 0


PHONE_CONTROLS = ("lift", "hangup", "reboot", "silent on", "silent off", "garbage", "unplug",
                  "replug", "state", "slow SECONDS")


def control_phone(phone, command: str) -> str | None:
    """Apply one control command to a simulated phone; returns a JSON line for `state`."""
    words = command.split()
    if not words:
        return None
    if words == ["state"]:
        return json.dumps(phone.snapshot(), ensure_ascii=False)
    actions = {
        ("lift",): phone.lift, ("hangup",): phone.hang_up, ("reboot",): phone.reboot,
        ("silent", "on"): lambda: phone.set_silent(True),
        ("silent", "off"): lambda: phone.set_silent(False),
        ("garbage",): phone.send_garbage, ("unplug",): phone.unplug, ("replug",): phone.replug,
    }
    if words[0] == "slow" and len(words) == 2:
        try:
            phone.slow_down(float(words[1]))
        except ValueError:
            raise ValueError(f"slow takes seconds, not {words[1]!r}") from None
        return None
    action = actions.get(tuple(words))
    if action is None:
        raise ValueError(f"unknown control command {command!r}; known: "
                         + ", ".join(PHONE_CONTROLS))
    action()
    return None


def run_phone(args: argparse.Namespace) -> int:
    from hardware.phone.sim import SimulatedPhone

    try:
        phone = SimulatedPhone(tcp_port=args.tcp, link=args.link, baudrate=args.baudrate).start()
    except OSError as exc:
        raise CommandError(f"cannot start the simulated phone: {exc}") from None
    stop = stop_on_signal()
    with phone:
        print(json.dumps({"port": phone.port}), flush=True)
        print(f"simulated phone on {phone.port}; control commands on stdin, Ctrl-C stops it",
              file=sys.stderr, flush=True)

        def read_controls():
            for line in sys.stdin:
                try:
                    answer = control_phone(phone, line.strip())
                except ValueError as exc:
                    print(f"kiosk sim phone: {exc}", file=sys.stderr, flush=True)
                    continue
                if answer is not None:
                    print(answer, flush=True)

        threading.Thread(target=read_controls, name="sim-phone-controls", daemon=True).start()
        wait_for_signal(stop)
    return 0
