"""`kiosk sessions / events / stats / purge`: administrators read the session log.

Reads open the database read-only, so they never block or change a running kiosk's writes;
only `purge` writes. Nothing here imports Kivy: these commands start in a fraction of a second.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from kiosk.cli.common import EXIT_FAILED, EXIT_USAGE, CommandError, add_config_option, load_config
from kiosk.errors import SessionLogError

FORMATS = ("table", "csv", "json")


def register(sub: argparse._SubParsersAction) -> None:
    source = argparse.ArgumentParser(add_help=False)
    add_config_option(source)
    source.add_argument("--db", metavar="PATH", type=Path, default=None,
                        help="the session log file (default: log.database of the configuration)")
    source.add_argument("--utc", action="store_true",
                        help="times in UTC (default: local time, to the second)")

    sessions = sub.add_parser(
        "sessions", parents=[source], help="list sessions, newest first",
        description="List sessions, newest first. Times: ISO dates/times (local) or relative "
        "(7d, 12h, 30m, 2w).")
    sessions.add_argument("--agent", metavar="ID",
                          help="only this agent: a user ID in any case, or just the user part")
    sessions.add_argument("--desk", metavar="ID", help="only this desk")
    sessions.add_argument("--since", metavar="T", help="started at or after T")
    sessions.add_argument("--until", metavar="T", help="started before T")
    sessions.add_argument("--reason", metavar="R", type=_end_reason,
                          help="only sessions that ended for reason R (agent, button, limit, "
                          "idle, end_of_day, evicted, connection_lost, recovered, admin)")
    sessions.add_argument("--open", action="store_true", help="only sessions still open")
    sessions.add_argument("--all", action="store_true",
                          help="include sign-ins that failed after their first server step")
    sessions.add_argument("--limit", type=_count, default=50, metavar="N",
                          help="at most N rows (default 50; 0 = all)")
    sessions.add_argument("--format", choices=FORMATS, default="table")
    sessions.set_defaults(func=run_sessions)
    show_parent = sessions.add_subparsers(dest="sessions_command", metavar="show ID")
    # `kiosk sessions --db X show ID` and `kiosk sessions show ID --db X` both: the options
    # after `show` default to what came before it (argparse's subparser would reset them)
    after = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    after.add_argument("--config", metavar="PATH", type=Path, help="as above")
    after.add_argument("--db", metavar="PATH", type=Path, help="as above")
    after.add_argument("--utc", action="store_true", help="as above")
    show = show_parent.add_parser("show", parents=[after],
                                  help="one session with its events in order")
    show.add_argument("session_id", type=int, metavar="ID")
    show.add_argument("--format", choices=("table", "json"), default="table")
    show.set_defaults(func=run_show)

    events = sub.add_parser("events", parents=[source], help="list events, newest first")
    events.add_argument("--session", type=int, metavar="ID", help="only this session's events")
    events.add_argument("--kind", metavar="K", type=_event_kind,
                        help="only this kind (signin_failed, step, throttled, admin, …; "
                        "--kinds lists them)")
    events.add_argument("--kinds", action="store_true",
                        help="list every kind of event with what it means, and stop")
    events.add_argument("--wide", action="store_true",
                        help="(default) DETAIL is never cut; kept for scripts that pass it")
    events.add_argument("--since", metavar="T", help="at or after T")
    events.add_argument("--limit", type=_count, default=100, metavar="N",
                        help="at most N rows (default 100; 0 = all)")
    events.add_argument("--format", choices=FORMATS, default="table")
    events.set_defaults(func=run_events)

    stats = sub.add_parser("stats", parents=[source],
                           help="sessions, durations, failed sign-ins, end reasons")
    stats.add_argument("--since", metavar="T", help="sessions started at or after T")
    stats.add_argument("--until", metavar="T", help="sessions started before T")
    stats.add_argument("--desk", metavar="ID", help="only this desk")
    stats.add_argument("--agent", metavar="ID",
                       help="only this agent: a user ID in any case, or just the user part")
    stats.add_argument("--by", choices=("agent", "day", "reason"), help="one row per group")
    stats.add_argument("--format", choices=FORMATS, default="table")
    stats.set_defaults(func=run_stats)

    purge = sub.add_parser("purge", parents=[source],
                           help="remove sessions older than the retention (keeps open ones)")
    purge.add_argument("--older-than", type=_count, metavar="DAYS", default=None,
                       help="default: log.retention_days of the configuration")
    purge.add_argument("--dry-run", action="store_true", help="say what would go; remove nothing")
    purge.set_defaults(func=run_purge)


def _one_of(what: str, known, hint: str):
    """An argparse type: `text` must be one of `known` (a typo would silently match nothing);
    the refusal names the closest."""
    import difflib

    def check(text: str) -> str:
        if text in known:
            return text
        close = difflib.get_close_matches(text, list(known), n=1)
        suggestion = f"; did you mean {close[0]}?" if close else f"; {hint}"
        raise argparse.ArgumentTypeError(f"no {what} {text!r}{suggestion}")
    return check


def _end_reason(text: str) -> str:
    from kiosk.sessionlog.store import END_REASONS

    return _one_of("end reason", END_REASONS, "one of " + ", ".join(END_REASONS))(text)


def _event_kind(text: str) -> str:
    from kiosk.sessionlog.query import EVENT_KINDS

    return _one_of("event kind", EVENT_KINDS, "kiosk events --kinds lists them")(text)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _database(args: argparse.Namespace) -> Path:
    if args.db is not None:
        return args.db
    from kiosk.errors import ConfigError

    try:
        return load_config(args).log.database
    except ConfigError as exc:  # off a unit: there is no configuration, and --db is the way
        where = f" ({exc.path})" if exc.path else ""
        raise CommandError(f"no usable configuration{where}: {exc.problems[0]}; off a unit, "
                           "name the session log with --db PATH", EXIT_USAGE) from None


def _when(text: str | None) -> str | None:
    from kiosk.sessionlog.query import parse_when

    if text is None:
        return None
    try:
        return parse_when(text)
    except ValueError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None


def _open(args: argparse.Namespace):
    from kiosk.sessionlog.query import open_readonly

    try:
        return open_readonly(_database(args))
    except SessionLogError as exc:
        raise CommandError(str(exc), EXIT_FAILED) from None


def _cut(text, width: int) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def _print_table(rows: list[list], widths: list[int | None], header: list[str]) -> None:
    """Columns cut to their width (None: never cut: the last, DETAIL); empty values as -."""
    def cell(value, width):
        text = "-" if value is None or value == "" else str(value)
        return text if width is None else _cut(text, width).ljust(width)

    print("  ".join(h if w is None else h.ljust(w)
                    for h, w in zip(header, widths, strict=True)).rstrip())
    for row in rows:
        print("  ".join(cell(v, w) for v, w in zip(row, widths, strict=True)).rstrip())


def _detail(detail) -> str:
    """An event's detail as `key=value` pairs, leaving out what is empty."""
    if not isinstance(detail, dict):
        return str(detail)
    return " ".join(f"{k}={v}" for k, v in detail.items() if v is not None and v != "")


def _time(iso, args) -> str:
    from kiosk.sessionlog.query import local_time

    return local_time(iso, seconds=True, utc=args.utc)


def _write_csv(rows, columns) -> None:
    """CSV safe to open in a spreadsheet: no cell starts a formula (`spreadsheet_cell`)."""
    from kiosk.cli.common import spreadsheet_cell

    writer = csv.DictWriter(sys.stdout, fieldnames=list(columns), extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for row in rows:
        if isinstance(row.get("detail"), dict):
            row = {**row, "detail": json.dumps(row["detail"], ensure_ascii=False)}
        writer.writerow({k: spreadsheet_cell(v) for k, v in row.items()})


def _write_json(rows, columns) -> None:
    out = sys.stdout
    out.write("[")
    for i, row in enumerate(rows):
        item = {c: row.get(c) for c in columns}
        if "stay_signed_in" in item and item["stay_signed_in"] is not None:
            item["stay_signed_in"] = bool(item["stay_signed_in"])
        out.write(("," if i else "") + "\n " + json.dumps(item, ensure_ascii=False))
    out.write("\n]\n")


def run_sessions(args: argparse.Namespace) -> int:
    from kiosk.sessionlog import query

    filters = {"agent": args.agent, "desk": args.desk, "since": _when(args.since),
               "until": _when(args.until), "reason": args.reason, "open_only": args.open,
               "include_failed": args.all, "limit": args.limit or None}
    conn = _open(args)
    rows = query.iter_sessions(conn, **filters)
    if args.format == "csv":
        _write_csv(rows, query.SESSION_COLUMNS)
    elif args.format == "json":
        _write_json(rows, query.SESSION_COLUMNS)
    else:
        table = [[r["id"], _time(r["started"], args), query.human_duration(r["duration_s"]),
                  r["desk"], r["agent"], r["end_reason"] or f"({r['status']})"] for r in rows]
        if not table:
            print(_no_match(conn, args))
            return 0
        _print_table(table, [7, 20 if args.utc else 19, 8, 14, 30, 16],
                     ["ID", "STARTED", "LENGTH", "DESK", "AGENT", "END REASON"])
    return 0


def _no_match(conn, args) -> str:
    """"no sessions match", and what the log does hold, so that a typo shows."""
    from kiosk.sessionlog import query

    held = query.summary(conn)
    if not held["sessions"]:
        return "no sessions match: the log is empty"
    return (f"no sessions match; the log has {held['sessions']:,} session(s) from "
            f"{_time(held['first'], args)} to {_time(held['last'], args)}, the latest of "
            f"{', '.join(held['agents'])}")


def run_show(args: argparse.Namespace) -> int:
    from kiosk.sessionlog import query

    conn = _open(args)
    session = query.get_session(conn, args.session_id)
    if session is None:
        raise CommandError(f"no session {args.session_id} in the log")
    events = query.list_events(conn, session=args.session_id, limit=None, oldest_first=True)
    if args.format == "json":
        if session.get("stay_signed_in") is not None:  # the same types as `kiosk sessions`
            session["stay_signed_in"] = bool(session["stay_signed_in"])
        print(json.dumps({"session": session, "events": events}, ensure_ascii=False, indent=1))
        return 0
    print(f"session {session['id']}: {session['agent_name'] or ''} ({session['agent']}) "
          f"at {session['desk']}" + (f", {session['role']}" if session.get("role") else ""))
    print(f"  started  {_time(session['started'], args)}   status {session['status']}")
    if session["ended"]:
        print(f"  ended    {_time(session['ended'], args)}   after "
              f"{query.human_duration(session['duration_s'])}, reason {session['end_reason']}")
    print(f"  language {session['language'] or '-'}, stay signed in "
          f"{'yes' if session['stay_signed_in'] else 'no'}, phone {session['phone_serial'] or '-'}"
          + (f", moved from {session['moved_from']}" if session["moved_from"] else ""))
    print("  events:")
    for event in events:
        print(f"    {_time(event['time'], args)}  {event['kind']:<16} "
              f"{_detail(event['detail'])}".rstrip())
    return 0


def run_events(args: argparse.Namespace) -> int:
    from kiosk.sessionlog import query

    if args.kinds:
        width = max(map(len, query.EVENT_KINDS))
        for kind, meaning in query.EVENT_KINDS.items():
            print(f"{kind:<{width}}  {meaning}")
        return 0
    conn = _open(args)
    rows = query.list_events(conn, session=args.session, kind=args.kind,
                             since=_when(args.since), limit=args.limit or None)
    if args.format == "csv":
        _write_csv(rows, query.EVENT_COLUMNS)
    elif args.format == "json":
        _write_json(rows, query.EVENT_COLUMNS)
    elif not rows:
        print("no events match")
    else:
        table = [[r["id"], _time(r["time"], args), r["session"], r["kind"],
                  _detail(r["detail"])] for r in rows]
        _print_table(table, [8, 20 if args.utc else 19, 7, 20, None],
                     ["ID", "TIME", "SESSION", "KIND", "DETAIL"])
    return 0


def run_stats(args: argparse.Namespace) -> int:
    from kiosk.sessionlog import query

    conn = _open(args)
    result = query.stats(conn, since=_when(args.since), until=_when(args.until),
                         desk=args.desk, agent=args.agent, by=args.by)
    if args.format == "json":
        print(json.dumps({"sessions": result.sessions, "total_s": result.total_s,
                          "median_s": result.median_s, "failed_sign_ins": result.failed_sign_ins,
                          "end_reasons": result.end_reasons, "groups": result.groups},
                         ensure_ascii=False, indent=1))
        return 0
    if args.format == "csv":  # one row per group (or the whole, without --by)
        columns = ([args.by] if args.by else []) + ["sessions", "total_s", "median_s"] + (
            ["failed_sign_ins"] if args.by in (None, "agent") else [])
        whole = {"sessions": result.sessions, "total_s": result.total_s,
                 "median_s": result.median_s, "failed_sign_ins": result.failed_sign_ins}
        _write_csv(result.groups if args.by else [whole], columns)
        return 0
    print(f"sessions         {result.sessions}")
    print(f"total time       {query.human_duration(result.total_s) or '-'}")
    print(f"median length    {query.human_duration(result.median_s) or '-'}")
    print(f"failed sign-ins  {result.failed_sign_ins}")
    if result.end_reasons:
        print("end reasons      " + ", ".join(f"{k} {v}" for k, v in result.end_reasons.items()))
    if result.groups:
        print()
        agent = args.by == "agent"
        table = [[g[args.by], g["sessions"], query.human_duration(g["total_s"]),
                  query.human_duration(g.get("median_s"))]
                 + ([g.get("failed_sign_ins", 0)] if agent else []) for g in result.groups]
        _print_table(table, [34, 9, 12, 12] + ([7] if agent else []),
                     [args.by.upper(), "SESSIONS", "TOTAL", "MEDIAN"]
                     + (["FAILED"] if agent else []))
    return 0


def run_purge(args: argparse.Namespace) -> int:
    from kiosk.sessionlog import query

    days = args.older_than
    if days is None and args.db is not None:
        from kiosk.config import KEYS_BY_NAME

        days = KEYS_BY_NAME["log.retention_days"].default  # with --db: no configuration
    elif days is None:
        days = load_config(args).log.retention_days
    if days < 1:
        raise CommandError("--older-than must be at least 1 day", EXIT_USAGE)
    try:
        conn = query.open_writable(_database(args))
        result = query.purge(conn, older_than_days=days, dry_run=args.dry_run)
    except SessionLogError as exc:
        raise CommandError(str(exc)) from None
    verb = "would remove" if args.dry_run else "removed"
    print(f"{verb} {result.sessions} sessions, {result.events} events and {result.outbox} "
          f"finished clean-ups from before {query.local_time(result.before)} "
          f"({days} days); open sessions are kept")
    return 0
