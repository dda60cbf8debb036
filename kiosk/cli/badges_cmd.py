"""`kiosk badges import / add / remove / list / listen`: facilities manage which badge opens
which agent's sign-in, and set up a reader. Numbers are never stored or printed in clear."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading

from kiosk.cli.common import (
    EXIT_PHONE_BUSY,
    EXIT_USAGE,
    CommandError,
    add_config_option,
    load_config,
)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("badges", help="badge → user ID: the table, and the reader")
    commands = parser.add_subparsers(dest="badges_command", metavar="SUBCOMMAND", required=True)
    imported = commands.add_parser("import", help="add the badges of a CSV file (badge,user_id)")
    add_config_option(imported)
    imported.add_argument("file", metavar="FILE.csv", help="a header row badge,user_id, then a "
                          "badge number and a user ID a line")
    imported.add_argument("--replace", action="store_true",
                          help="the file is the whole table: badges not in it are removed")
    imported.set_defaults(func=run_import)
    add = commands.add_parser(
        "add", help="map one badge to a user ID (the number is asked for, never an argument)",
        description="Asks for the badge number (hidden, or one line on standard input: "
        "`kiosk badges add USER_ID < number.txt`), so that it never lands in shell history, "
        "`ps` or sudo's log.")
    add_config_option(add)
    add.add_argument("user", metavar="USER_ID", help="the agent's user ID (the user part is "
                     "enough when an append domain applies)")
    add.set_defaults(func=run_add)
    remove = commands.add_parser(
        "remove", help="forget one badge (its number asked for), or every badge of --user")
    add_config_option(remove)
    remove.add_argument("--user", metavar="USER_ID",
                        help="forget every badge of this agent instead (no number needed)")
    remove.set_defaults(func=run_remove)
    listed = commands.add_parser("list", help="the table: masked numbers and user IDs")
    add_config_option(listed)
    listed.add_argument("--json", action="store_true", help="one JSON array")
    listed.set_defaults(func=run_list)
    listen = commands.add_parser(
        "listen", help="print what each tap on the reader reads (to set a reader up)",
        description="Opens badge.device (refused while a kiosk runs: it holds the reader) and "
        "prints each read: the masked number and the user it maps to, or why it was "
        "rejected. Ctrl-C stops.")
    add_config_option(listen)
    listen.add_argument("--count", type=int, default=0, metavar="N",
                        help="stop after N taps (default: until Ctrl-C)")
    listen.set_defaults(func=run_listen)


def _table(config):
    from kiosk.badges import BadgeTable

    return BadgeTable(config.badge.table, key_file=config.badge.key_file)


def _user_check(config):
    from kiosk.badges import user_checker

    return user_checker(config)


def _ask_number(prompt: str = "badge number (hidden): ") -> str:
    """The badge number from the terminal (not echoed) or one line of standard input."""
    import getpass

    if sys.stdin.isatty():
        try:
            return getpass.getpass(prompt)
        except EOFError:
            return ""
    return sys.stdin.readline(256).strip()


def _badge_error(exc) -> CommandError:
    return CommandError(str(exc), EXIT_USAGE)


def run_import(args: argparse.Namespace) -> int:
    from kiosk.badges import BadgeError

    config = load_config(args)
    same = _same_user()

    def progress(done: int, total: int) -> None:
        if total >= 1000 and (done % 2000 == 0 or done == total):
            print(f"hashing badges: {done:,} of {total:,}", file=sys.stderr, flush=True)

    try:
        count = _table(config).import_csv(
            args.file, check_user=_user_check(config), replace=args.replace,
            min_length=config.badge.min_length, max_length=config.badge.max_length, same=same,
            progress=progress)
    except (BadgeError, OSError) as exc:
        raise _badge_error(exc) from None
    print(f"imported {count} badge(s) into {config.badge.table}"
          + (" (the table is now exactly the file)" if args.replace else ""))
    return 0


def _same_user():
    from kiosk.callcenter.codec import same_user

    return same_user


def run_add(args: argparse.Namespace) -> int:
    from kiosk.badges import BadgeError, normalise

    config = load_config(args)
    try:
        user = _user_check(config)(args.user)
        number = normalise(_ask_number())
        if not config.badge.min_length <= len(number) <= config.badge.max_length:
            raise BadgeError(f"{len(number)} digits: the reader takes {config.badge.min_length}"
                             f" to {config.badge.max_length} (badge.min_length, "
                             "badge.max_length), so no read could match it")
        table = _table(config)
        new = table.add(number, user)
        ref = table.reference(number)
    except (BadgeError, ValueError, OSError) as exc:
        raise _badge_error(exc) from None
    print(f"{'added' if new else 'changed'} badge {ref} → {user}")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    from kiosk.badges import BadgeError

    config = load_config(args)
    table = _table(config)
    try:
        if args.user:
            user = _user_check(config)(args.user)
            gone = table.remove_user(user, _same_user())
            if not gone:
                raise CommandError(f"no badge of {user} in {config.badge.table}")
            print(f"removed {gone} badge(s) of {user}")
            return 0
        number = _ask_number()
        ref = table.reference(number) if number else None
        removed = table.remove(number)
    except (BadgeError, ValueError, OSError) as exc:
        raise _badge_error(exc) from None
    if not removed:
        raise CommandError(f"no such badge in {config.badge.table}")
    print(f"removed badge {ref}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from kiosk.badges import BadgeError
    from kiosk.cli.common import printable

    config = load_config(args)
    try:
        entries = _table(config).listing()
    except BadgeError as exc:
        raise _badge_error(exc) from None
    if args.json:
        print(json.dumps(entries, ensure_ascii=False))
        return 0
    if not entries:
        print(f"no badges in {config.badge.table} (kiosk badges import FILE.csv adds them)")
        return 0
    for entry in entries:
        note = "  (old hash: re-import to strengthen)" if entry["old_hash"] else ""
        print(f"{entry['ref']:10}  {entry['added'] or '':10}  {printable(entry['user_id'])}"
              f"{note}")
    old = sum(1 for e in entries if e["old_hash"])
    if old:
        print(f"{old} badge(s) still have the hash of an earlier version: import the site's "
              "list again with --replace", file=sys.stderr)
    return 0


def run_listen(args: argparse.Namespace, *, open_device=None) -> int:
    from hardware.badge import BadgeReader
    from kiosk.badges import mask
    from kiosk.session.lock import kiosk_running

    config = load_config(args)
    if not config.badge.device:
        raise CommandError("no badge reader is configured (badge.device)", EXIT_USAGE)
    if kiosk_running():
        raise CommandError("a kiosk is running on this unit and holds the reader: stop it "
                           "first (systemctl stop hotdesk-kiosk)", EXIT_PHONE_BUSY)
    from kiosk.badges import BadgeError, DirectoryUnavailable, resolver_for

    resolve = resolver_for(config)
    if resolve.problem:
        print(f"the directory is not used: {resolve.problem}", file=sys.stderr)
    taps, done = [0], threading.Event()

    def tap(text: str) -> None:
        print(text, flush=True)
        taps[0] += 1
        if args.count and taps[0] >= args.count:
            done.set()

    def read(number: str) -> None:
        try:
            found = resolve(number)
        except DirectoryUnavailable as exc:
            tap(f"{mask(number)}  → the directory cannot be asked: {exc}")
            return
        except (BadgeError, OSError) as exc:
            tap(f"{mask(number)}  → cannot look it up: {exc}")
            return
        tap(f"{mask(number)}  " + (f"→ {found[0]} (from the {found[1]})" if found
                                   else "→ unknown badge"))

    reader = BadgeReader(config.badge.device, min_length=config.badge.min_length,
                         max_length=config.badge.max_length,
                         max_key_gap_s=config.badge.max_key_gap_ms / 1000,
                         open_device=open_device)
    reader.when_read = read
    reader.when_rejected = lambda reason: tap(f"rejected: {reason}")
    reader.when_plugged = lambda: print(f"listening on {config.badge.device}: tap a badge "
                                        "(Ctrl-C stops)", file=sys.stderr, flush=True)
    reader.when_unplugged = lambda: print("the reader went away: plug it back in",
                                          file=sys.stderr, flush=True)
    with reader, contextlib.suppress(KeyboardInterrupt):
        done.wait()
    return 0
