"""`kiosk config check FILE`: validate a configuration file."""

from __future__ import annotations

import argparse

from kiosk.cli.common import EXIT_OK, EXIT_USAGE
from kiosk.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("config", help="work with the configuration file")
    commands = parser.add_subparsers(dest="config_command", metavar="SUBCOMMAND", required=True)
    check = commands.add_parser(
        "check",
        help="validate a configuration file",
        description="Validate FILE. Prints OK and a summary, or every problem as "
        "'KEY: what is wrong' (exit 2).",
    )
    check.add_argument("file", metavar="FILE", help="the TOML file to check")
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    from kiosk import config as configuration

    try:
        config = configuration.load(args.file)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem)
        return EXIT_USAGE
    problems = configuration.check_files(config)
    if problems:
        for problem in problems:
            print(problem)
        return EXIT_USAGE
    print(f"OK: {config.summary()}")
    return EXIT_OK
