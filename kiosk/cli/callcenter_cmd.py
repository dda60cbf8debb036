"""`kiosk callcenter whoami / desk / watch / release`: support staff's view of the Call
Center."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import logging
import os
import signal
import sys
import threading
from datetime import datetime
from typing import TYPE_CHECKING

from kiosk.cli.common import (
    EXIT_CREDENTIALS,
    EXIT_FAILED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    CommandError,
    add_config_option,
    callcenter_failure,
    load_config,
)
from kiosk.errors import CallCenterError, IdentityError, Rejected, SessionLogError
from kiosk.secret import Secret

if TYPE_CHECKING:
    from kiosk import config as configuration

log = logging.getLogger("kiosk.callcenter")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("callcenter", help="check credentials and this desk on the Call Center")
    commands = parser.add_subparsers(dest="callcenter_command", metavar="SUBCOMMAND",
                                     required=True)

    whoami = commands.add_parser("whoami", help="check an agent's credentials and show their state")
    _user_arguments(whoami)
    whoami.add_argument("--json", action="store_true", help="print one JSON object")
    whoami.set_defaults(func=run_whoami)

    desk = commands.add_parser("desk", help="who sits at this desk (with the desk host's login)")
    add_config_option(desk)
    desk.add_argument("--json", action="store_true", help="print one JSON object")
    desk.set_defaults(func=run_desk)

    watch = commands.add_parser(
        "watch", help="print a user's events as the Call Center pushes them (Xsi-Events)",
        description="Opens an event channel as that user, subscribes to Hoteling Guest and "
        "Call Center Agent, and prints each event until Ctrl-C: proof that push works through "
        "the site's firewall and proxy. Exit codes as whoami.")
    _user_arguments(watch)
    watch.add_argument("--json", action="store_true", help="one JSON object a line")
    watch.set_defaults(func=run_watch)

    release = commands.add_parser("release", help="force-release this desk (audited)")
    add_config_option(release)
    release.add_argument("--reason", required=True, help="why, for the record")
    release.add_argument("--operator", metavar="NAME", default=None,
                         help="who is doing it, for the record (default: the user who ran "
                         "sudo, else the current user)")
    release.set_defaults(func=run_release)


def _user_arguments(parser: argparse.ArgumentParser) -> None:
    """--config, --user and --password-stdin: a command that acts as an agent."""
    add_config_option(parser)
    parser.add_argument("--user", required=True, metavar="ID",
                        help="user ID; just the user part when an append domain applies")
    parser.add_argument("--password-stdin", action="store_true",
                        help="read the password as one line from stdin instead of a prompt")


def _read_password(from_stdin: bool) -> Secret:
    if not from_stdin and not sys.stdin.isatty():
        raise CommandError("no terminal to ask the password on: give it on standard input "
                           "with --password-stdin", EXIT_USAGE)
    try:
        line = sys.stdin.readline() if from_stdin else getpass.getpass("Password: ")
    except (EOFError, KeyboardInterrupt):
        raise CommandError("no password given", EXIT_USAGE) from None
    password = line.rstrip("\r\n")
    if not password:
        raise CommandError("no password given", EXIT_USAGE)
    return Secret(password)


def _optional(call):
    """The call's result, or None when the user does not have that service."""
    try:
        return call()
    except Rejected:
        return None


def _user_id(args: argparse.Namespace, config: configuration.Config) -> str:
    from kiosk.identity import normalise_user_id

    try:
        return normalise_user_id(args.user, default_domain=config.callcenter.default_domain,
                                 append_domain=config.signin.append_domain)
    except IdentityError as exc:
        reason = {"needs_domain": "enter the full user ID, user@domain"}.get(exc.code, exc.code)
        raise CommandError(f"not a usable user ID ({reason})", EXIT_USAGE) from None


def run_whoami(args: argparse.Namespace) -> int:
    config = load_config(args)
    user_id = _user_id(args, config)
    throttle = WhoamiThrottle(config)
    wait = throttle.wait_s(user_id)
    if wait > 0:
        raise CommandError(
            f"{throttle.failures(user_id)} wrong passwords for {user_id} here: wait "
            f"{wait:.0f} s before trying again (each wrong try also counts toward the Call "
            "Center's own lockout of the account)", EXIT_CREDENTIALS)
    print(f"note: a wrong password counts toward the Call Center's lockout of {user_id} "
          "(often after 5 tries, then an administrator must reset the account)",
          file=sys.stderr)
    password = _read_password(args.password_stdin)
    from kiosk.callcenter.client import XsiClient  # here: requests costs 0.1 s to import
    from kiosk.errors import InvalidCredentials

    try:
        with XsiClient.from_config(config.callcenter, user_id, password) as client:
            profile = client.profile()
            guest = _optional(client.hoteling_guest)
            call_center = _optional(client.call_center)
    except InvalidCredentials as exc:
        count = throttle.failed(user_id)
        failure = callcenter_failure(exc)
        raise CommandError(f"{failure}; {count} wrong password(s) for {user_id} in a row here, "
                           f"whoami waits after {config.signin.max_failures}",
                           failure.exit_code) from None
    except CallCenterError as exc:
        raise callcenter_failure(exc) from None
    finally:
        password.wipe()
    throttle.succeeded(user_id)
    result = {
        "user_id": profile.user_id or user_id,
        "first_name": profile.first_name, "last_name": profile.last_name,
        "number": profile.number, "extension": profile.extension,
        "host_user_id": guest.host_user_id if guest else None,
        "acd_state": call_center.agent_acd_state if call_center else None,
    }
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print(f"{profile.display_name} ({result['user_id']})")
    print(f"  number {profile.number or '-'}, extension {profile.extension or '-'}")
    print(f"  desk: {result['host_user_id'] or 'not at a desk'}")
    print(f"  ACD state: {result['acd_state'] or 'no Call Center service'}")
    return 0


class WhoamiThrottle:
    """Wrong passwords given to `whoami` on this unit, per user ID, kept in a small file beside
    the session log (or in the user's cache folder off a unit): after `signin.max_failures` in a
    row, `whoami` waits `signin.cooldown_s` (doubling) before it asks the server again, as the
    kiosk's own sign-in does."""

    def __init__(self, config: configuration.Config, *, clock=None):
        import time

        self.config = config
        self.clock = clock or time.time
        self.path = self._where(config)

    @staticmethod
    def _where(config: configuration.Config):
        from pathlib import Path

        beside_log = config.log.database.parent
        if beside_log.is_dir() and os.access(beside_log, os.W_OK):
            return beside_log / "whoami-failures.json"
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        return cache / "hotdesk-kiosk" / "whoami-failures.json"

    def _read(self) -> dict:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def _write(self, data: dict) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text(json.dumps(data), encoding="utf-8")
            temporary.replace(self.path)
        except OSError as exc:
            log.warning("could not keep count of wrong passwords in %s: %s", self.path, exc)

    def failures(self, user_id: str) -> int:
        return int(self._read().get(user_id.lower(), {}).get("count", 0))

    def wait_s(self, user_id: str) -> float:
        entry = self._read().get(user_id.lower())
        limit = self.config.signin.max_failures
        if not entry or entry.get("count", 0) < limit:
            return 0.0
        over = entry["count"] - limit
        cooldown = self.config.signin.cooldown_s * (2 ** min(over, 10))
        return max(0.0, entry["last"] + cooldown - self.clock())

    def failed(self, user_id: str) -> int:
        data = self._read()
        entry = data.get(user_id.lower(), {"count": 0})
        entry = {"count": entry.get("count", 0) + 1, "last": self.clock()}
        data[user_id.lower()] = entry
        self._write(data)
        return entry["count"]

    def succeeded(self, user_id: str) -> None:
        data = self._read()
        if data.pop(user_id.lower(), None) is not None:
            self._write(data)


def _event_line(event, as_json: bool) -> str:
    data = {"kind": event.kind, "target": event.target_id, "event_id": event.event_id,
            "sequence": event.sequence_number}
    if event.acd_state is not None:
        data.update(acd_state=event.acd_state, unavailable_code=event.unavailable_code)
    if event.guest is not None:
        data["desk"] = event.guest.host_user_id
    if event.unassigned:
        data["unassigned"] = True
    if event.reason:
        data["reason"] = event.reason
    if as_json:
        return json.dumps(data, ensure_ascii=False)
    when = datetime.now().strftime("%H:%M:%S")
    detail = ", ".join(f"{k} {v}" for k, v in data.items()
                       if k not in ("kind", "event_id", "sequence") and v is not None)
    return f"{when}  {event.kind}  {detail}"


def run_watch(args: argparse.Namespace) -> int:
    from kiosk.callcenter.events import APPLICATION_ID, EventChannel

    config = load_config(args)
    user_id = _user_id(args, config)
    password = _read_password(args.password_stdin)
    ended = threading.Event()
    reason: list[str] = []
    channel = EventChannel(config.callcenter, user_id, password,
                           channel_set_id=f"hotdesk-watch-{config.desk.id}",
                           application_id=f"{APPLICATION_ID}-watch")
    channel.when_event = lambda event: print(_event_line(event, args.json), flush=True)
    channel.when_closed = lambda why: (reason.append(why), ended.set())
    for sig in (signal.SIGINT, signal.SIGTERM):  # before the first event can be printed
        signal.signal(sig, lambda *_: ended.set())
    try:
        channel.open()
    except CallCenterError as exc:
        password.wipe()
        raise callcenter_failure(exc) from None
    if not args.json:
        route = (f"through the proxy {config.callcenter.proxy}" if config.callcenter.proxy
                 else "direct, no proxy")
        print(f"watching {user_id} (channel {channel.channel_id}; "
              f"{', '.join(channel.subscriptions) or 'no packages'}; {route}); Ctrl-C stops",
              file=sys.stderr, flush=True)
    try:
        while not ended.wait(0.5):
            pass
    finally:
        channel.close()
        password.wipe()
    if reason:
        raise CommandError(f"the event channel ended: {reason[0]}", EXIT_UNREACHABLE)
    return 0


def _host_client(config: configuration.Config):
    from kiosk import config as configuration
    from kiosk.callcenter.client import XsiClient

    password = configuration.host_password(config)
    return XsiClient.from_config(config.callcenter, config.desk.host_user_id, password)


def _seated_here(config: configuration.Config) -> str | None:
    """The user ID of the agent the local session log has at this desk now (the Call Center's
    host view has names only), or None."""
    from kiosk.errors import SessionLogError
    from kiosk.sessionlog import query

    try:
        conn = query.open_readonly(config.log.database)
    except SessionLogError:
        return None
    try:
        row = conn.execute("SELECT agent FROM sessions WHERE desk = ? AND ended IS NULL "
                           "AND status IN ('active', 'signing_in', 'signing_out') "
                           "ORDER BY id DESC LIMIT 1", [config.desk.id]).fetchone()
    except Exception:  # an older or damaged log: the name alone will do
        return None
    finally:
        conn.close()
    return row["agent"] if row else None


def _local(iso: str | None) -> str:
    from kiosk.sessionlog.query import local_time

    try:
        return local_time(iso) or "?"
    except ValueError:
        return iso or "?"


def run_desk(args: argparse.Namespace) -> int:
    config = load_config(args)
    try:
        with _host_client(config) as client:
            host = client.hoteling_host()
    except CallCenterError as exc:
        raise callcenter_failure(exc) from None
    guest = None
    if host.has_guest:
        guest = {"user_id": _seated_here(config),
                 "first_name": host.guest_first_name, "last_name": host.guest_last_name,
                 "number": host.guest_phone_number, "extension": host.guest_extension,
                 "since": host.guest_association_date_time}
    if args.json:
        print(json.dumps({"host_user_id": config.desk.host_user_id, "guest": guest},
                         ensure_ascii=False))
        return 0
    print(f"desk {config.desk.id} ({config.desk.host_user_id})"
          + ("" if host.active else " - Hoteling Host service is NOT active"))
    if guest is None:
        print("  free: no guest")
    else:
        name = " ".join(p for p in (guest["first_name"], guest["last_name"]) if p)
        who = f"{name} ({guest['user_id']})" if guest["user_id"] else name
        print(f"  guest: {who}, number {guest['number'] or '-'}, "
              f"extension {guest['extension'] or '-'}, since {_local(guest['since'])}")
    return 0


def run_release(args: argparse.Namespace) -> int:
    config = load_config(args)
    if not args.reason.strip():
        raise CommandError("--reason must say why", EXIT_USAGE)
    agent = _seated_here(config)
    operator = operator_name(args.operator)
    with _audit_log(config) as session_log:  # no audit trail, no release
        try:
            with _host_client(config) as client:
                before = client.hoteling_host()
                client.force_release()
        except CallCenterError as exc:
            raise callcenter_failure(exc) from None
        who = " ".join(p for p in (before.guest_first_name, before.guest_last_name) if p)
        log.warning("desk %s force-released by %s (guest: %s%s): %s", config.desk.id,
                    operator, who or "none", f", {agent}" if agent else "", args.reason)
        try:
            session_log.record("admin", action="force_release", reason=args.reason,
                               guest=who or None, agent=agent, operator=operator)
        except SessionLogError as exc:
            raise CommandError(f"released desk {config.desk.id}, but the record of it could "
                               f"not be written to the session log: {exc}. Note it by hand",
                               EXIT_FAILED) from None
    if not before.has_guest:
        print(f"released desk {config.desk.id} (it was free)")
        return 0
    print(f"released desk {config.desk.id} (was: {who}" + (f", {agent}" if agent else "") + ")")
    print("  their ACD state is left as it is: the desk's host cannot change it; the agent "
          "(or their supervisor) signs them out of their queues")
    return 0


@contextlib.contextmanager
def _audit_log(config: configuration.Config):
    """The session log, opened before anything is released (a log that cannot be opened
    stops the command first), with its events copied to the journal as the kiosk's are."""
    from kiosk.journal import JournalCopy
    from kiosk.sessionlog import SessionLog

    try:
        session_log = SessionLog(config.log.database, desk=config.desk.id)
    except SessionLogError as exc:
        raise CommandError(f"nothing released: the session log, which audits every release, "
                           f"cannot be written: {exc}", EXIT_FAILED) from None
    journal = None
    if config.log.journal_socket is not None:
        journal = JournalCopy(config.log.journal_socket)
        session_log.when_recorded.append(journal)
    try:
        yield session_log
    finally:
        session_log.close()
        if journal is not None:
            journal.close()


def operator_name(given: str | None, environ=os.environ) -> str:
    """Who acts: `--operator`, else the user who ran `sudo` (not `root`), else the current
    user."""
    if given and given.strip():
        return given.strip()
    return environ.get("SUDO_USER") or getpass.getuser()


