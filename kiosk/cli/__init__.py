"""The `kiosk` command: one entry point, a subcommand per job.

The library never imports this package. Here, and only here, errors become one line for a person
and an exit code:

| code | meaning |
| --- | --- |
| 0 | done |
| 1 | failed (the line says why) |
| 2 | bad arguments or configuration |
| 3 | credentials refused by the Call Center |
| 4 | Call Center unreachable |
| 5 | phone busy (handset off hook) |
| 6 | phone not answering, or no port |
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from kiosk import __version__
from kiosk.cli import (
    badges_cmd,
    callcenter_cmd,
    config_cmd,
    doctor_cmd,
    log_cmd,
    panel_cmd,
    phone_cmd,
    sim_cmd,
    status_cmd,
    ui_cmd,
)
from kiosk.cli.common import EXIT_FAILED, EXIT_USAGE, CommandError, TerminalSafe
from kiosk.errors import ConfigError, KioskError
from kiosk.logs import setup_logging
from kiosk.paths import UntrustedPath

log = logging.getLogger("kiosk")

#: Each module adds its commands with `register(subparsers)`.
COMMAND_MODULES = [ui_cmd, status_cmd, doctor_cmd, config_cmd, callcenter_cmd, phone_cmd,
                   panel_cmd, badges_cmd, log_cmd, sim_cmd]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kiosk",
        description="The hot-desk kiosk: makes the desk phone the signed-in agent's phone.",
    )
    parser.add_argument("--version", action="version", version=f"kiosk {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(sub)
    _verbose_everywhere(parser)
    return parser


def _verbose_everywhere(parser: argparse.ArgumentParser) -> None:
    """`-v` after a command's name too (`kiosk doctor -v`), not only before it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in set(action.choices.values()):
                if not any("-v" in a.option_strings for a in command._actions):
                    command.add_argument("-v", "--verbose", action="store_true",
                                         default=argparse.SUPPRESS, help="log debug detail")
                _verbose_everywhere(command)


def main(argv: list[str] | None = None) -> int:
    """Run the `kiosk` command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(logging.DEBUG if args.verbose else logging.INFO)
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = TerminalSafe(stdout), TerminalSafe(stderr)
    try:
        return args.func(args) or 0
    except BrokenPipeError:  # `kiosk sessions | head`: the reader has all it wants
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes at exit
        return 0
    except CommandError as exc:
        print(f"kiosk: {exc}", file=sys.stderr)
        return exc.exit_code
    except ConfigError as exc:
        where = f" in {exc.path}" if exc.path else ""
        print(f"kiosk: configuration problem{where}:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_USAGE
    except KioskError as exc:
        print(f"kiosk: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except PermissionError as exc:
        what = exc.filename or exc
        print(f"kiosk: permission denied: {what}: this takes root or the hotdesk group "
              "(run it with sudo)", file=sys.stderr)
        return EXIT_FAILED
    except UntrustedPath as exc:
        print(f"kiosk: refusing an unsafe folder: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    finally:
        sys.stdout, sys.stderr = stdout, stderr
