"""The desk as one state machine: what the desk is (`Desk`), what can happen to it (events),
and what it does about it (effects), as one pure function, `transition(desk, event)`.

Nothing here touches a server, a phone, a database or a clock: the engine feeds every event in,
keeps the `Desk` that comes out and carries out the effects (`engine.py`); the tests read the
table directly (`tests/test_machine.py`).

    IDLE ──SignInAsked──▶ SIGNING_IN ──SignInEnded(ok)──▶ ACTIVE ◀──Reconnected── RECONNECTING
      ▲                        │ (failed)                   │ ConnectionLost (stay) ──▲
      │◀───────────────────────┘                            │ SignOutAsked, PolicyDue,
      └───────────SignedOut──────── SIGNING_OUT ◀───────────┘ Evicted, ConnectionLost

The phone's hook, a policy waiting for the hang-up, the off-hook confirmation and a release
kept for the end of a call are part of the one `Desk` value, so no other object holds them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from kiosk.session.model import State


class Phase(StrEnum):
    IDLE = "idle"
    SIGNING_IN = "signing_in"
    ACTIVE = "active"
    RECONNECTING = "reconnecting"
    SIGNING_OUT = "signing_out"


SIGNED_IN = (Phase.ACTIVE, Phase.RECONNECTING)


@dataclass(frozen=True)
class Desk:
    phase: Phase = Phase.IDLE
    agent: str | None = None  # the signed-in user ID
    stay: bool = False  # the session's *Stay signed in*
    out_of_order: bool = False  # the phone is there and does not answer
    off_hook: bool = False
    confirm: bool = False  # a sign-out that would drop the call waits for the agent's yes
    due: str | None = None  # a policy's sign-out, waiting for the hang-up
    release_on_hangup: bool = False  # the call outlived the session: free the phone after it

    @property
    def state(self) -> State:
        """What the screen shows (a phone out of order overrides all but a sign-in or
        sign-out under way)."""
        if self.out_of_order and self.phase not in (Phase.SIGNING_IN, Phase.SIGNING_OUT):
            return State.OUT_OF_ORDER
        return State(self.phase.value)


# --- events -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SignInAsked:
    pass


@dataclass(frozen=True)
class SignInEnded:
    agent: str | None  # None: it failed, the desk is as before
    stay: bool = False


@dataclass(frozen=True)
class SignOutAsked:
    reason: str  # agent, button, badge, or a policy's kind
    confirmed: bool = False  # the agent said yes to dropping the call
    ask: bool = True  # False: a policy's due sign-out, which waits for the hang-up itself


@dataclass(frozen=True)
class ConfirmDeclined:
    pass


@dataclass(frozen=True)
class Hook:
    off_hook: bool


@dataclass(frozen=True)
class PolicyWaits:
    kind: str  # a sign-out is due, the handset is off hook


@dataclass(frozen=True)
class Extended:
    pass  # the agent took more time: a sign-out waiting for the hang-up is off


@dataclass(frozen=True)
class ConnectionLost:
    pass


@dataclass(frozen=True)
class Reconnected:
    pass


@dataclass(frozen=True)
class Evicted:
    why: str  # moved, released, credentials_rejected


@dataclass(frozen=True)
class SignedOut:
    phone: str  # released, busy (a call goes on: released at hang-up), failed


@dataclass(frozen=True)
class PhoneOutOfOrder:
    out_of_order: bool


# --- effects ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Refuse:
    code: str


@dataclass(frozen=True)
class BeginSignIn:
    pass


@dataclass(frozen=True)
class StartSession:
    pass


@dataclass(frozen=True)
class EndSession:
    """Free the screen and the phone now; the server's share goes on in the background:
    `server_side` is agent (ACD Sign-Out, free the desk), queues (ACD Sign-Out only), outbox
    (owe both: the network is down) or none."""

    reason: str
    server_side: str = "agent"
    notice: str | None = None
    force_phone: bool = False


@dataclass(frozen=True)
class AskConfirm:
    pass


@dataclass(frozen=True)
class Activity:
    """Hook activity of the signed-in agent (the idle policy)."""


@dataclass(frozen=True)
class ReleasePhone:
    pass


@dataclass(frozen=True)
class GoOffline:
    pass


@dataclass(frozen=True)
class GoOnline:
    pass


def transition(desk: Desk, event) -> tuple[Desk, tuple]:
    """The desk after `event`, and what to do about it."""
    phase = desk.phase
    match event:
        case SignInAsked():
            if phase is not Phase.IDLE or desk.out_of_order:
                return desk, (Refuse("out_of_order" if phase is Phase.IDLE
                                     else "one_agent_per_desk"),)
            return replace(desk, phase=Phase.SIGNING_IN, confirm=False), (BeginSignIn(),)
        case SignInEnded(agent=None) if phase is Phase.SIGNING_IN:
            return replace(desk, phase=Phase.IDLE), ()
        case SignInEnded(agent=agent, stay=stay) if phase is Phase.SIGNING_IN:
            return replace(desk, phase=Phase.ACTIVE, agent=agent, stay=stay), (StartSession(),)
        case SignOutAsked() if phase not in SIGNED_IN:
            return desk, (Refuse("not_signed_in"),)
        case SignOutAsked(confirmed=False, ask=True) if desk.off_hook:
            return replace(desk, confirm=True), (AskConfirm(),)
        case SignOutAsked(reason=reason, confirmed=confirmed):
            return _ending(desk, EndSession(reason, force_phone=confirmed))
        case ConfirmDeclined():
            return replace(desk, confirm=False), ()
        case Hook(off_hook=off):
            desk = replace(desk, off_hook=off)
            if phase in SIGNED_IN:
                if not off and desk.due is not None:
                    return _ending(desk, EndSession(desk.due))
                return replace(desk, confirm=desk.confirm and off), (Activity(),)
            if phase is Phase.IDLE and not off and desk.release_on_hangup:
                return replace(desk, release_on_hangup=False), (ReleasePhone(),)
            return desk, ()
        case PolicyWaits(kind=kind) if phase in SIGNED_IN:
            return replace(desk, due=kind), ()
        case Extended():
            return replace(desk, due=None), ()
        case ConnectionLost() if phase is Phase.ACTIVE:
            if desk.stay:
                return replace(desk, phase=Phase.RECONNECTING), (GoOffline(),)
            return _ending(desk, EndSession("connection_lost", "outbox",
                                            "signed_out_connection_lost"))
        case Reconnected() if phase is Phase.RECONNECTING:
            return replace(desk, phase=Phase.ACTIVE), (GoOnline(),)
        case Evicted(why=why) if phase in SIGNED_IN:
            side = "queues" if why == "released" else "none"
            return _ending(desk, EndSession("evicted", side, f"evicted_{why}"))
        case SignedOut(phone=phone) if phase is Phase.SIGNING_OUT:
            return replace(desk, phase=Phase.IDLE, release_on_hangup=phone == "busy"), ()
        case PhoneOutOfOrder(out_of_order=out):
            return replace(desk, out_of_order=out), ()
    return desk, ()  # anything else changes nothing (a late answer, a second click)


def _ending(desk: Desk, end: EndSession) -> tuple[Desk, tuple]:
    """Into SIGNING_OUT; the network's share is owed when the network is down."""
    if desk.phase is Phase.RECONNECTING and end.server_side in ("agent", "queues"):
        end = replace(end, server_side="outbox")
    if end.notice is None and end.reason != "agent":
        end = replace(end, notice=f"signed_out_{end.reason}")
    return replace(desk, phase=Phase.SIGNING_OUT, agent=None, stay=False, confirm=False,
                   due=None), (end,)


def badge_kind(desk: Desk, user_id: str, same_user) -> tuple[str, str]:
    """What a badge found in the directory means at this desk: (kind, outcome for the log)."""
    if desk.phase in (Phase.SIGNING_IN, Phase.SIGNING_OUT):
        return "busy", "ignored: a sign-in or sign-out is under way"
    if desk.agent is None:
        return "fill", "user ID filled in"
    if same_user(user_id, desk.agent):
        return "sign_out", "sign-out offered"
    return "taken", "the desk is taken"
