"""What the desk session engine tells its observers: states, snapshots and error codes.

The engine maps errors to codes here; the UI maps codes to translated sentences. A code is a
short stable string (`invalid_credentials`, `phone_busy`, `user_id.needs_domain`, …).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    IDLE = "idle"
    SIGNING_IN = "signing_in"
    ACTIVE = "active"
    RECONNECTING = "reconnecting"
    SIGNING_OUT = "signing_out"
    OUT_OF_ORDER = "out_of_order"


class PhoneStatus(StrEnum):
    UNKNOWN = "unknown"
    OK = "ok"
    NONE = "none"  # no HD-AT/1 phone configured (`phone.port` empty): any BroadWorks phone
    MISSING = "missing"  # unplugged, or never there: calls still ring, no name on the phone
    SILENT = "silent"  # there, but not answering
    REBOOTING = "rebooting"  # power-cycled through the relay, waiting for +HDBOOT

    @property
    def out_of_order(self) -> bool:
        """A phone that is there and stopped answering: the desk cannot take calls. A desk
        without an HD-AT/1 phone (none, or not plugged in) still works: BroadWorks routes the
        agent's calls to the desk host's own phone, which shows the desk's name."""
        return self in (PhoneStatus.SILENT, PhoneStatus.REBOOTING)

    @property
    def provisions(self) -> bool:
        """The kiosk puts the agent's name and language on the phone."""
        return self is PhoneStatus.OK


class Connection(StrEnum):
    """The Call Center as the kiosk last found it."""

    UNKNOWN = "unknown"
    OK = "ok"
    LOST = "lost"


class Light(StrEnum):
    """The desk's status light (`hardware.panel.DeskPanel` patterns)."""

    FREE = "free"
    BUSY = "busy"
    WORKING = "working"
    ATTENTION = "attention"
    FAULT = "fault"


#: The sign-in saga's steps, in order (the order of undo is the reverse).
STEPS = ("normalise", "authenticate", "associate", "queues", "phone", "commit")


@dataclass(frozen=True)
class StepProgress:
    name: str
    status: str = "pending"  # pending, running, done, failed, undone, skipped (not applicable)
    seconds: float | None = None


@dataclass(frozen=True)
class Agent:
    user_id: str
    first_name: str
    last_name: str
    number: str
    extension: str
    language: str
    stay_signed_in: bool
    since: str  # UTC ISO 8601
    acd_state: str | None = None
    unavailable_code: str | None = None
    role: str = "agent"  # or "supervisor": no Call Center agent service, no queues, no ACD

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or self.user_id


@dataclass(frozen=True)
class PolicyWarning:
    """A policy sign-out is coming: `kind` is limit, end_of_day or idle."""

    kind: str
    seconds_left: float
    can_extend: bool
    waiting_for_hangup: bool = False


@dataclass(frozen=True)
class Snapshot:
    """Everything a screen needs, as of one moment. Immutable; a new one on every change."""

    state: State = State.IDLE
    agent: Agent | None = None
    steps: tuple[StepProgress, ...] = ()
    warning: PolicyWarning | None = None
    auto_sign_out_in_s: float | None = None
    connection: Connection = Connection.UNKNOWN
    push: bool = False  # the server pushes changes (Xsi-Events); False: the kiosk polls
    resync_corrections: int = 0  # reads that found the kiosk's view wrong, since start
    phone: PhoneStatus = PhoneStatus.UNKNOWN
    off_hook: bool = False
    error: str | None = None  # the last error, as a code
    throttle_wait_s: float | None = None
    notice: str | None = None  # evicted, moved, released, connection_lost, signed_out_<reason>
    confirm: str | None = None  # off_hook: the agent must confirm a sign-out that drops a call
    out_of_order: str | None = None  # the reason, as a code
    unavailable_codes: tuple[tuple[str, str], ...] = ()
    log_problem: str | None = None  # the session log cannot be written (shown to facilities)
    badge: BadgeTap | None = None  # the last badge tap, until it is dealt with
    language: str = "en"
    stay_signed_in_default: bool = True


def light_for(snapshot: Snapshot) -> Light:
    """The status light for a snapshot: a pure function of the state."""
    state = snapshot.state
    if state is State.OUT_OF_ORDER:
        return Light.FAULT
    if state in (State.SIGNING_IN, State.SIGNING_OUT):
        return Light.WORKING
    if snapshot.warning is not None or state is State.RECONNECTING:
        return Light.ATTENTION
    if state is State.ACTIVE:
        return Light.BUSY
    return Light.FREE


@dataclass(frozen=True)
class BadgeTap:
    """A badge tapped at the reader, as the screen shows it. `kind`: `fill` (the sign-in form
    gets `user_id`), `sign_out` (the signed-in agent's own badge: offer to sign out), `taken`
    (another agent's: the desk is `name`'s), `unknown`, `unreadable`, `busy` (a sign-in or
    sign-out is under way). `seq` tells two taps apart."""

    kind: str
    user_id: str | None = None
    name: str | None = None
    seq: int = 0


@dataclass(frozen=True)
class Outcome:
    """What a command came to: `ok`, or the error code (the snapshot says the same)."""

    ok: bool
    error: str | None = None
    detail: str = ""


def error_code(exc: BaseException) -> str:
    """The code for an error the engine met."""
    from hardware.phone import (
        PhoneBusy,
        PhoneDisconnected,
        PhoneError,
        PhoneRejected,
        PhoneTimeout,
    )
    from kiosk import errors

    if isinstance(exc, errors.IdentityError):
        return f"user_id.{exc.code}"
    if isinstance(exc, errors.Unreachable) and exc.cause == "proxy":
        return "proxy_unreachable"  # the site's proxy failed, not the Call Center
    mapping = (
        (errors.InvalidCredentials, "invalid_credentials"),
        (errors.NotPermitted, "not_permitted"),
        (errors.NotFound, "not_found"),
        (errors.Rejected, "rejected"),
        (errors.ServerBusy, "server_busy"),
        (errors.Unreachable, "unreachable"),
        (errors.ProtocolError, "protocol"),
        (PhoneBusy, "phone_busy"),
        (PhoneDisconnected, "phone_missing"),
        (PhoneTimeout, "phone_silent"),
        (PhoneRejected, "phone_rejected"),
        (PhoneError, "phone_error"),
        (errors.SessionLogError, "log_failed"),
    )
    for kind, code in mapping:
        if isinstance(exc, kind):
            return code
    return "internal"

