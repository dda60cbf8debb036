"""Logging to stderr, in a form that reads well both in a terminal and in journald.

Under systemd (`JOURNAL_STREAM` names our stderr) each line starts with a syslog priority
prefix (``<4>``) that journald turns into the entry's priority, and carries no timestamp
(journald adds its own). In a terminal, lines carry a local timestamp and the level.

Every line goes through `kiosk.secret.scrub`, so no live password ever reaches a log, even
inside an exception's text or a traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

from kiosk.secret import scrub

_SYSLOG_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


class RedactingFormatter(logging.Formatter):
    """A formatter that scrubs live secrets from the finished line, traceback included."""

    def __init__(self, fmt: str, *, journald: bool = False, datefmt: str | None = None):
        super().__init__(fmt, datefmt=datefmt)
        self.journald = journald

    def format(self, record: logging.LogRecord) -> str:
        line = scrub(super().format(record))
        if self.journald:
            priority = _SYSLOG_PRIORITY.get(record.levelno, 6)
            # journald reads the prefix of every line, so prefix the continuation lines too.
            line = "\n".join(f"<{priority}>{part}" for part in line.split("\n"))
        return line


def _stderr_is_journal(stream: TextIO, environ: os._Environ | dict) -> bool:
    value = environ.get("JOURNAL_STREAM", "")
    if ":" not in value:
        return False
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return value == f"{st.st_dev}:{st.st_ino}"


def setup_logging(
    level: int = logging.INFO, *, stream: TextIO | None = None, environ=os.environ
) -> logging.Handler:
    """Send the kiosk's log to `stream` (stderr by default); returns the handler it installed.

    Safe to call more than once: the previous handler installed here is replaced.
    """
    stream = stream if stream is not None else sys.stderr
    journald = _stderr_is_journal(stream, environ)
    if journald:
        formatter = RedactingFormatter("%(name)s: %(message)s", journald=True)
    else:
        formatter = RedactingFormatter(
            "%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%Y-%m-%d %H:%M:%S"
        )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.set_name("kiosk")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "kiosk"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # urllib3 logs every URL at DEBUG; keep it out unless asked for.
    logging.getLogger("urllib3").setLevel(max(level, logging.INFO))
    return handler
