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
    add = commands.add_parser("add", help="map one badge to a user ID")
    add_config_option(add)
    add.add_argument("badge", help="the number the reader types (digits or hex)")
    add.add_argument("user", metavar="USER_ID", help="the agent's user ID (the user part is "
                     "enough when an append domain applies)")
    add.set_defaults(func=run_add)
    remove = commands.add_parser("remove", help="forget one badge")
    add_config_option(remove)
    remove.add_argument("badge")
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
    from kiosk.errors import IdentityError
    from kiosk.identity import normalise_user_id

    def check(user_id: str) -> str:
        try:
            return normalise_user_id(user_id, default_domain=config.callcenter.default_domain,
                                     append_domain=config.signin.append_domain)
        except IdentityError as exc:
            raise ValueError(f"{user_id!r} is not a usable user ID ({exc.code})") from None
    return check


def _badge_error(exc) -> CommandError:
    return CommandError(str(exc), EXIT_USAGE)


def run_import(args: argparse.Namespace) -> int:
    from kiosk.badges import BadgeError

    config = load_config(args)
    try:
        count = _table(config).import_csv(args.file, check_user=_user_check(config),
                                          replace=args.replace)
    except (BadgeError, OSError) as exc:
        raise _badge_error(exc) from None
    print(f"imported {count} badge(s) into {config.badge.table}"
          + (" (the table is now exactly the file)" if args.replace else ""))
    return 0


def run_add(args: argparse.Namespace) -> int:
    from kiosk.badges import BadgeError, mask, normalise

    config = load_config(args)
    try:
        user = _user_check(config)(args.user)
        new = _table(config).add(args.badge, user)
        shown = mask(normalise(args.badge))
    except (BadgeError, ValueError, OSError) as exc:
        raise _badge_error(exc) from None
    print(f"{'added' if new else 'changed'} badge {shown} → {user}")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    from kiosk.badges import BadgeError, mask, normalise

    config = load_config(args)
    try:
        removed = _table(config).remove(args.badge)
        shown = mask(normalise(args.badge))
    except (BadgeError, OSError) as exc:
        raise _badge_error(exc) from None
    if not removed:
        raise CommandError(f"no badge {shown} in {config.badge.table}")
    print(f"removed badge {shown}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from kiosk.badges import BadgeError

    config = load_config(args)
    try:
        entries = sorted(_table(config).entries().values(),
                         key=lambda e: (e["user_id"], e["masked"]))
    except BadgeError as exc:
        raise _badge_error(exc) from None
    if args.json:
        print(json.dumps(entries, ensure_ascii=False))
        return 0
    if not entries:
        print(f"no badges in {config.badge.table} (kiosk badges import FILE.csv adds them)")
        return 0
    for entry in entries:
        print(f"{entry['masked']:12}  {entry['user_id']}")
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
    from kiosk.badges import resolver_for

    resolve = resolver_for(config)
    taps, done = [0], threading.Event()

    def tap(text: str) -> None:
        print(text, flush=True)
        taps[0] += 1
        if args.count and taps[0] >= args.count:
            done.set()

    def read(number: str) -> None:
        found = resolve(number)
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
