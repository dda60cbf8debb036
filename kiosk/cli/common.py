"""What the command modules share: exit codes, `--config`, and turning errors into sentences."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk.paths import CONFIG_DEFAULT_PATH, CONFIG_ENV_VAR

if TYPE_CHECKING:
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
        help=f"configuration file (default: ${CONFIG_ENV_VAR}, then {CONFIG_DEFAULT_PATH})",
    )


def load_config(args: argparse.Namespace) -> configuration.Config:
    """The configuration named by `--config`, `$HOTDESK_CONFIG` or the default path."""
    from kiosk import config as configuration

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


# --- argument types: bad input is exit 2 with the argument named, before anything is sent ----
# (argparse prints "kiosk …: error: argument --port: <the message>")

STANDARD_BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800,
                      921600)
PORT_SCHEMES = ("socket", "rfc2217", "loop", "spy", "alt", "hwgrep", "cp2110")


def tcp_port(text: str) -> int:
    """A TCP port, 0 (any free port) to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0 to 65535 (got {value})")
    return value


def seconds(text: str) -> float:
    """A duration in seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds (got {text})")
    return value


def baudrate(text: str) -> int:
    """One of the standard serial rates."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value not in STANDARD_BAUDRATES:
        raise argparse.ArgumentTypeError(
            f"must be a standard rate ({', '.join(map(str, STANDARD_BAUDRATES))}); got {text!r}")
    return value


def serial_port(text: str) -> str:
    """A device path or a pyserial URL with a scheme pyserial knows."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        if scheme not in PORT_SCHEMES:
            raise argparse.ArgumentTypeError(
                f"unknown URL scheme {scheme!r}: use a device path such as /dev/deskphone or "
                f"a pyserial URL ({', '.join(s + '://' for s in PORT_SCHEMES)})")
    return text


# --- what reaches a terminal or a spreadsheet ---------------------------------------------------

#: Characters a terminal acts on (escape sequences, carriage returns, C1 controls) or that
#: reorder what it shows (bidi overrides): shown as \uXXXX, never sent as they are.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e"
                     "\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` with every control character escaped (newlines and tabs kept)."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class TerminalSafe:
    """A stream for `sys.stdout` that escapes what `printable` escapes: a value from the
    server, the directory or a typed user ID can never move a cursor, clear the screen or
    rewrite what an administrator reads."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(printable(text))

    def __getattr__(self, name):
        return getattr(self.stream, name)


#: What makes a spreadsheet read a cell as a formula (and =HYPERLINK, DDE and friends run).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def spreadsheet_cell(value):
    """A CSV cell that a spreadsheet shows as text: a string that would start a formula gets
    a leading `'` (OWASP's advice); numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
