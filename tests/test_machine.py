"""The desk's state machine, read as a table: no server, no phone, no database, no clock.

Each row is (desk before, event, desk after, effects). A row that changes nothing says so."""

from __future__ import annotations

import pytest

from kiosk.callcenter.codec import same_user
from kiosk.session.machine import (
    Activity,
    AskConfirm,
    BeginSignIn,
    ConfirmDeclined,
    ConnectionLost,
    Desk,
    EndSession,
    Evicted,
    Extended,
    GoOffline,
    GoOnline,
    Hook,
    Phase,
    PhoneOutOfOrder,
    PolicyWaits,
    Reconnected,
    Refuse,
    ReleasePhone,
    SignedOut,
    SignInAsked,
    SignInEnded,
    SignOutAsked,
    StartSession,
    badge_kind,
    transition,
)
from kiosk.session.model import State

IDLE = Desk()
SIGNING_IN = Desk(Phase.SIGNING_IN)
ACTIVE = Desk(Phase.ACTIVE, agent="zoe@demo.example", stay=True)
ACTIVE_NO_STAY = Desk(Phase.ACTIVE, agent="zoe@demo.example", stay=False)
RECONNECTING = Desk(Phase.RECONNECTING, agent="zoe@demo.example", stay=True)
ON_A_CALL = Desk(Phase.ACTIVE, agent="zoe@demo.example", stay=True, off_hook=True)
SIGNING_OUT = Desk(Phase.SIGNING_OUT)
GONE = Desk(Phase.SIGNING_OUT)  # what every sign-out leaves: no agent, nothing pending

TABLE = [
    # signing in
    (IDLE, SignInAsked(), SIGNING_IN, (BeginSignIn(),)),
    (Desk(out_of_order=True), SignInAsked(), Desk(out_of_order=True),
     (Refuse("out_of_order"),)),
    (SIGNING_IN, SignInAsked(), SIGNING_IN, (Refuse("one_agent_per_desk"),)),
    (ACTIVE, SignInAsked(), ACTIVE, (Refuse("one_agent_per_desk"),)),
    (SIGNING_IN, SignInEnded("zoe@demo.example", True), ACTIVE, (StartSession(),)),
    (SIGNING_IN, SignInEnded("zoe@demo.example", False), ACTIVE_NO_STAY, (StartSession(),)),
    (SIGNING_IN, SignInEnded(None), IDLE, ()),
    (IDLE, SignInEnded("zoe@demo.example"), IDLE, ()),  # late: nothing
    # signing out
    (ACTIVE, SignOutAsked("agent"), GONE, (EndSession("agent"),)),
    (ACTIVE, SignOutAsked("button"), GONE,
     (EndSession("button", notice="signed_out_button"),)),
    (IDLE, SignOutAsked("agent"), IDLE, (Refuse("not_signed_in"),)),
    (SIGNING_IN, SignOutAsked("agent"), SIGNING_IN, (Refuse("not_signed_in"),)),
    (ON_A_CALL, SignOutAsked("agent"), Desk(Phase.ACTIVE, agent="zoe@demo.example",
                                            stay=True, off_hook=True, confirm=True),
     (AskConfirm(),)),
    (ON_A_CALL, SignOutAsked("agent", confirmed=True), Desk(Phase.SIGNING_OUT, off_hook=True),
     (EndSession("agent", force_phone=True),)),
    (Desk(Phase.ACTIVE, agent="a", off_hook=True, confirm=True), ConfirmDeclined(),
     Desk(Phase.ACTIVE, agent="a", off_hook=True), ()),
    (RECONNECTING, SignOutAsked("agent"), GONE, (EndSession("agent", "outbox"),)),
    (SIGNING_OUT, SignedOut("released"), IDLE, ()),
    (SIGNING_OUT, SignedOut("busy"), Desk(release_on_hangup=True), ()),
    (SIGNING_OUT, SignedOut("failed"), IDLE, ()),
    (SIGNING_OUT, SignOutAsked("agent"), SIGNING_OUT, (Refuse("not_signed_in"),)),
    # the hook
    (ACTIVE, Hook(True), ON_A_CALL, (Activity(),)),
    (Desk(Phase.ACTIVE, agent="a", off_hook=True, confirm=True), Hook(False),
     Desk(Phase.ACTIVE, agent="a"), (Activity(),)),
    (Desk(Phase.ACTIVE, agent="a", off_hook=True, due="limit"), Hook(False), GONE,
     (EndSession("limit", notice="signed_out_limit"),)),
    (Desk(off_hook=True, release_on_hangup=True), Hook(False), IDLE, (ReleasePhone(),)),
    (IDLE, Hook(True), Desk(off_hook=True), ()),
    (SIGNING_IN, Hook(True), Desk(Phase.SIGNING_IN, off_hook=True), ()),
    # policies
    (ACTIVE, SignOutAsked("idle", ask=False), GONE,
     (EndSession("idle", notice="signed_out_idle"),)),
    (ON_A_CALL, SignOutAsked("limit", ask=False), Desk(Phase.SIGNING_OUT, off_hook=True),
     (EndSession("limit", notice="signed_out_limit"),)),
    (ON_A_CALL, PolicyWaits("end_of_day"), Desk(Phase.ACTIVE, agent="zoe@demo.example",
                                                stay=True, off_hook=True, due="end_of_day"),
     ()),
    (Desk(Phase.ACTIVE, agent="a", off_hook=True, due="limit"), Extended(),
     Desk(Phase.ACTIVE, agent="a", off_hook=True), ()),
    (IDLE, PolicyWaits("limit"), IDLE, ()),
    # the server
    (ACTIVE, ConnectionLost(), RECONNECTING, (GoOffline(),)),
    (ACTIVE_NO_STAY, ConnectionLost(), GONE,
     (EndSession("connection_lost", "outbox", "signed_out_connection_lost"),)),
    (RECONNECTING, ConnectionLost(), RECONNECTING, ()),
    (RECONNECTING, Reconnected(), ACTIVE, (GoOnline(),)),
    (ACTIVE, Reconnected(), ACTIVE, ()),
    (ACTIVE, Evicted("moved"), GONE, (EndSession("evicted", "none", "evicted_moved"),)),
    (ACTIVE, Evicted("released"), GONE,
     (EndSession("evicted", "queues", "evicted_released"),)),
    (RECONNECTING, Evicted("released"), GONE,
     (EndSession("evicted", "outbox", "evicted_released"),)),
    (ACTIVE, Evicted("credentials_rejected"), GONE,
     (EndSession("evicted", "none", "evicted_credentials_rejected"),)),
    (IDLE, Evicted("moved"), IDLE, ()),  # late: the session is gone already
    # the phone
    (IDLE, PhoneOutOfOrder(True), Desk(out_of_order=True), ()),
    (Desk(out_of_order=True), PhoneOutOfOrder(False), IDLE, ()),
]


@pytest.mark.parametrize(("before", "event", "after", "effects"), TABLE,
                         ids=[f"{row[0].phase}-{type(row[1]).__name__}-{i}"
                              for i, row in enumerate(TABLE)])
def test_transition_table(before, event, after, effects):
    assert transition(before, event) == (after, effects)


def test_the_screen_state_puts_an_out_of_order_phone_above_all_but_work_under_way():
    assert Desk(out_of_order=True).state is State.OUT_OF_ORDER
    assert Desk(Phase.ACTIVE, agent="a", out_of_order=True).state is State.OUT_OF_ORDER
    assert Desk(Phase.SIGNING_IN, out_of_order=True).state is State.SIGNING_IN
    assert Desk(Phase.RECONNECTING, agent="a").state is State.RECONNECTING


@pytest.mark.parametrize(("desk", "user", "kind"), [
    (IDLE, "mai@demo.example", "fill"),
    (ACTIVE, "ZOE@demo.example", "sign_out"),
    (ACTIVE, "mai@demo.example", "taken"),
    (SIGNING_IN, "mai@demo.example", "busy"),
    (SIGNING_OUT, "zoe@demo.example", "busy"),
])
def test_what_a_known_badge_means_at_the_desk(desk, user, kind):
    assert badge_kind(desk, user, same_user)[0] == kind


def test_every_event_from_every_phase_gives_a_desk_and_effects():
    """No event raises in any phase, and only the events listed end a session."""
    events = [SignInAsked(), SignInEnded("a"), SignInEnded(None), SignOutAsked("agent"),
              ConfirmDeclined(), Hook(True), Hook(False), PolicyWaits("idle"), Extended(),
              ConnectionLost(), Reconnected(), Evicted("moved"), SignedOut("released"),
              PhoneOutOfOrder(True)]
    for phase in Phase:
        for event in events:
            desk, effects = transition(Desk(phase, agent="a" if phase in (
                Phase.ACTIVE, Phase.RECONNECTING) else None), event)
            assert isinstance(desk, Desk) and isinstance(effects, tuple)
            if any(isinstance(e, EndSession) for e in effects):
                assert phase in (Phase.ACTIVE, Phase.RECONNECTING)
                assert desk.phase is Phase.SIGNING_OUT and desk.agent is None
