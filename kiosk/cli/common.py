"""What the command modules share: exit codes, `--config`, and turning errors into sentences."""

from __future__ import annotations

import argparse
from pathlib import Path

from kiosk import config as configuration

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CREDENTIALS = 3
EXIT_UNREACHABLE = 4
EXIT_PHONE_BUSY = 5
EXIT_PHONE_SILENT = 6


class CommandError(Exception):
    """A failure already phrased for a person, with the exit code to leave with."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED):
        self.exit_code = exit_code
        super().__init__(message)


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="PATH",
        type=Path,
        default=None,
        help=f"configuration file (default: ${configuration.ENV_VAR}, "
        f"then {configuration.DEFAULT_PATH})",
    )


def load_config(args: argparse.Namespace) -> configuration.Config:
    """The configuration named by `--config`, `$HOTDESK_CONFIG` or the default path."""
    return configuration.load(args.config or configuration.default_path())


_TLS_ADVICE = "check the server certificate, or set callcenter.ca_bundle to the CA that signed it"


def callcenter_failure(exc) -> CommandError:
    """One sentence and an exit code for a Call Center error."""
    from kiosk import errors

    if isinstance(exc, errors.InvalidCredentials):
        return CommandError(f"{exc}: wrong user ID or password (or the account is locked)",
                            EXIT_CREDENTIALS)
    if isinstance(exc, errors.Unreachable):
        advice = f"; {_TLS_ADVICE}" if exc.cause == "tls" else ""
        return CommandError(f"{exc}{advice}", EXIT_UNREACHABLE)
    if isinstance(exc, errors.NotPermitted):
        return CommandError(f"the Call Center says this is outside your rights: {exc}")
    return CommandError(str(exc))
