"""The kiosk's exception tree.

Every error the kiosk raises on purpose is a `KioskError`. Each leaf also inherits the builtin
it resembles, so callers that know nothing of the kiosk can still catch it sensibly
(`InvalidCredentials` is a `PermissionError`, `Unreachable` a `ConnectionError`).

How an error looks to a person is decided at the edge: the engine maps errors to states, the UI
maps states to translated sentences, the command line maps errors to one line and an exit code.
No message built here may contain a password.
"""

from __future__ import annotations

from dataclasses import dataclass


class KioskError(Exception):
    """Base of every error the kiosk raises on purpose."""


# --- configuration -------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a configuration: the dotted key and what is wrong with it."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class ConfigError(KioskError, ValueError):
    """A configuration that cannot be used. `problems` lists every fault found, by key."""

    def __init__(self, problems: list[Problem] | Problem, *, path: str | None = None):
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        self.path = path
        super().__init__("; ".join(str(p) for p in self.problems))


# --- user IDs ------------------------------------------------------------------------------


class IdentityError(KioskError, ValueError):
    """What an agent typed is not a usable user ID. `code` names the rule (see identity.py)."""

    def __init__(self, code: str):
        self.code = code
        super().__init__(code)


# --- the Call Center -----------------------------------------------------------------------


class CallCenterError(KioskError):
    """Anything that went wrong talking to the hosted Call Center (Xsi-Actions)."""

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None):
        self.status = status
        self.url = url
        super().__init__(message)


class InvalidCredentials(CallCenterError, PermissionError):
    """401: the user ID or password was refused. Never retried: BroadWorks locks accounts."""


class NotPermitted(CallCenterError, PermissionError):
    """403: the caller may not act on that user's data."""


class NotFound(CallCenterError, LookupError):
    """404: unknown user or path."""


class Rejected(CallCenterError, ValueError):
    """The server refused the request (usually 400) and said why in an ErrorInfo body."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        summary_english: str = "",
        summary: str = "",
        status: int | None = None,
        url: str | None = None,
    ):
        self.code = code
        self.summary_english = summary_english
        self.summary = summary or summary_english
        super().__init__(message, status=status, url=url)


class ServerBusy(CallCenterError, ConnectionError):
    """503 (or 502/504) still, after the bounded retries."""


class Unreachable(CallCenterError, ConnectionError):
    """No answer: DNS, connection refused or reset, timeout, or TLS failure. `cause` says which."""

    def __init__(self, message: str, *, cause: str, url: str | None = None):
        self.cause = cause  # "dns", "refused", "timeout", "tls", "reset", "proxy", "other"
        super().__init__(message, url=url)


class ProtocolError(CallCenterError, ValueError):
    """The server answered something the contract does not allow: bad XML, a redirect, …"""


# --- the session log -----------------------------------------------------------------------


class SessionLogError(KioskError, OSError):
    """The session log could not be read or written (full disk, read-only file, …)."""


class SecretRefused(KioskError, ValueError):
    """Something tried to store a secret (a field named like a password) where it must not go."""


# --- the kiosk process ---------------------------------------------------------------------


class AlreadyRunning(KioskError, RuntimeError):
    """Another kiosk process holds this unit's lock."""


#: The Call Center cannot be reached now (as opposed to: it said no).
NETWORK_ERRORS = (Unreachable, ServerBusy)
