"""The desk session engine on real parts: simulated Call Center over HTTP, simulated phone on a
pty, MockFactory pins, a real SQLite session log; policies under a fake clock."""

from __future__ import annotations

import json

import pytest

from kiosk.callcenter import XsiClient
from kiosk.callcenter.sim.server import sequential_round_trips
from kiosk.session import State
from tests.conftest import DESK12, DESK14, MAI, ZOE, wait_until

RED, GREEN, BLUE = 17, 27, 22


def light(unit):
    return tuple(unit.factory.pin(n).state for n in (RED, GREEN, BLUE))


def assert_desk_clean(unit, agent=ZOE[0]):
    """The desk is exactly as before a sign-in: no association, agent signed out of queues,
    the phone on the desk default, no open session in the log. (A request that timed out may
    still land late on the server, so the server's view is given a few seconds to settle.)"""
    wait_until(lambda: unit.desk_guest() is None and unit.acd(agent) == "Sign-Out")
    assert unit.desk_guest() is None
    assert unit.seat(agent) is None
    assert unit.acd(agent) == "Sign-Out"
    assert unit.phone_line() is None
    assert unit.query("SELECT id FROM sessions WHERE ended IS NULL") == []


def test_clean_sign_in_and_sign_out(make_unit):
    unit = make_unit()
    assert unit.engine.snapshot.state is State.IDLE
    assert light(unit) == (False, True, False)  # free: green
    outcome = unit.engine.sign_in("zoe", ZOE[1], language="fr").result(10)
    assert outcome.ok, outcome
    snap = unit.engine.snapshot
    assert snap.state is State.ACTIVE
    assert snap.agent.display_name == "Zoë Müller" and snap.agent.acd_state == "Available"
    assert [s.status for s in snap.steps] == ["done"] * 6
    assert all(s.seconds is not None for s in snap.steps)
    assert unit.desk_guest() == ZOE[0] and unit.acd(ZOE[0]) == "Available"
    assert unit.phone_line() == {"user_id": ZOE[0], "display_name": "Zoë Müller",
                                 "number": "0391234567", "extension": "4567"}
    assert unit.sim_phone.snapshot()["language"] == "fr"
    assert light(unit) == (True, False, False)  # busy: red
    (row,) = unit.query("SELECT * FROM sessions")
    assert (row["status"], row["agent"], row["language"], row["phone_serial"]) == (
        "active", ZOE[0], "fr", "VX4-000123")
    steps = [r["detail"] for r in unit.query(
        "SELECT detail FROM events WHERE kind='step' ORDER BY id")]
    # one request authenticates and associates: both journaled before it ran
    assert [(json.loads(d)["step"], json.loads(d)["phase"]) for d in steps[:2]] == [
        ("authenticate", "trying"), ("associate", "trying")]

    assert unit.sign_out().ok
    assert unit.engine.snapshot.state is State.IDLE
    assert unit.engine.snapshot.language == "en"  # back to the desk default
    assert_desk_clean(unit)
    (row,) = unit.query("SELECT * FROM sessions")
    assert (row["status"], row["end_reason"], row["acd_state_at_end"]) == (
        "ended", "agent", "Sign-Out")
    assert light(unit) == (False, True, False)


def test_one_agent_per_desk(make_unit):
    unit = make_unit()
    assert unit.engine.sign_in("zoe", ZOE[1]).result(10).ok
    outcome = unit.engine.sign_in("mai", MAI[1]).result(10)
    assert (outcome.ok, outcome.error) == (False, "one_agent_per_desk")
    assert unit.desk_guest() == ZOE[0] and unit.seat(MAI[0]) is None


def test_two_sign_ins_at_once_are_serialised(make_unit):
    unit = make_unit()
    first = unit.engine.sign_in("zoe", ZOE[1])
    second = unit.engine.sign_in("mai", MAI[1])
    results = {first.result(10).ok, second.result(10).ok}
    assert results == {True, False}
    assert unit.desk_guest() == ZOE[0]


def test_second_kiosk_process_refuses_to_start(tmp_path):
    from kiosk.errors import AlreadyRunning
    from kiosk.session.lock import RuntimeLock

    first = RuntimeLock(tmp_path / "kiosk.lock")
    with pytest.raises(AlreadyRunning):
        RuntimeLock(tmp_path / "kiosk.lock")
    first.release()
    RuntimeLock(tmp_path / "kiosk.lock").release()


def test_user_id_problems_are_codes_and_cost_no_request(make_unit):
    unit = make_unit()
    unit.sim.model.reset_counts()
    outcome = unit.engine.sign_in("zo e", "x").result(10)
    assert outcome.error == "user_id.bad_character"
    assert unit.sim.inspect()["requests_total"] == 0


# --- failure at each step leaves the desk exactly as before ---------------------------------

FAULTS = {
    "authenticate-401": ("bad", {}, "invalid_credentials"),
    "authenticate-503": (None, {"fail_next": 5, "match": "GET .*/profile"}, "server_busy"),
    "authenticate-timeout": (None, {"latency_s": 2.5, "match": "GET .*/profile"},
                             "unreachable"),
    "associate-403": (None, {"fail_next": 1, "fail_status": 403,
                             "match": "PUT .*/HotelingGuest"}, "not_permitted"),
    "associate-400": (None, {"fail_next": 1, "fail_status": 400,
                             "match": "PUT .*/HotelingGuest"}, "rejected"),
    "associate-503": (None, {"fail_next": 3, "match": "PUT .*/HotelingGuest"}, "server_busy"),
    "associate-timeout": (None, {"latency_s": 2.5, "match": "PUT .*/HotelingGuest"},
                          "unreachable"),
    "queues-400": (None, {"fail_next": 1, "fail_status": 400, "match": "PUT .*/CallCenter"},
                   "rejected"),
    "queues-503": (None, {"fail_next": 3, "match": "PUT .*/CallCenter"}, "server_busy"),
    "queues-timeout": (None, {"fail_next": 0, "latency_s": 2.5, "match": "PUT .*/CallCenter"},
                       "unreachable"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_server_failure_at_a_step_leaves_the_desk_as_before(make_unit, fault):
    unit = make_unit()
    password, faults, code = FAULTS[fault]
    unit.sim.faults.update(**faults)
    outcome = unit.engine.sign_in("zoe", password or ZOE[1]).result(30)
    assert (outcome.ok, outcome.error) == (False, code)
    unit.sim.reset()  # the server is well again, so the check itself can pass
    assert unit.drain_outbox()  # what could not be undone at once is owed, then done
    assert_desk_clean(unit)
    (failure,) = unit.query("SELECT * FROM events WHERE kind='signin_failed'")
    assert code in failure["detail"]
    snap = unit.engine.snapshot
    assert snap.state is State.IDLE and snap.error == code
    assert light(unit) == (False, True, False)


def test_phone_busy_at_sign_in_leaves_the_desk_as_before(make_unit):
    unit = make_unit()
    unit.sim_phone.lift()
    outcome = unit.engine.sign_in("zoe", ZOE[1]).result(10)
    assert outcome.error == "phone_busy"
    assert unit.desk_guest() is None and unit.acd(ZOE[0]) == "Sign-Out"
    assert unit.phone_line() is None
    assert unit.query("SELECT status FROM sessions") == [{"status": "failed"}]
    undone = [r["detail"] for r in unit.query(
        "SELECT detail FROM events WHERE kind='step' AND detail LIKE '%undone%'")]
    assert any('"associate"' in d for d in undone) and any('"queues"' in d for d in undone)


def test_phone_silent_at_sign_in_leaves_the_desk_as_before(make_unit):
    unit = make_unit()
    unit.sim_phone.set_silent(True)
    outcome = unit.engine.sign_in("zoe", ZOE[1]).result(30)
    assert outcome.error == "phone_silent"
    assert unit.desk_guest() is None and unit.acd(ZOE[0]) == "Sign-Out"
    assert unit.sim_phone.snapshot()["line"] is None
    assert unit.query("SELECT id FROM sessions WHERE ended IS NULL") == []


def test_wrong_password_counts_toward_the_throttle(make_unit):
    unit = make_unit()
    for expected_wait in (None, None, 30.0):
        outcome = unit.engine.sign_in("zoe", "wrong").result(10)
        assert outcome.error == "invalid_credentials"
        assert unit.engine.snapshot.throttle_wait_s == expected_wait
    unit.sim.model.reset_counts()
    outcome = unit.engine.sign_in("zoe", ZOE[1]).result(10)
    assert outcome.error == "throttled"
    assert unit.engine.snapshot.throttle_wait_s == pytest.approx(30)
    assert unit.sim.inspect()["requests_total"] == 0  # nothing sent while throttled
    unit.advance(31)
    assert unit.engine.sign_in("zoe", "wrong").result(10).error == "invalid_credentials"
    assert unit.engine.snapshot.throttle_wait_s == pytest.approx(60)  # doubled
    assert unit.sim.inspect()["users"][ZOE[0]]["failed_logins"] == 4
    kinds = [r["kind"] for r in unit.query("SELECT kind FROM events")]
    assert kinds.count("signin_failed") == 4 and kinds.count("throttled") == 1


def test_throttle_per_kiosk_across_user_ids(make_unit):
    unit = make_unit()
    for user in ("zoe", "mai", "wei", "layla", "francois", "zoe"):
        unit.engine.sign_in(user, "wrong").result(10)
    assert unit.engine.sign_in("mai", MAI[1]).result(10).error == "throttled"


def test_success_clears_the_failures(make_unit):
    unit = make_unit()
    unit.engine.sign_in("zoe", "wrong").result(10)
    unit.engine.sign_in("zoe", "wrong").result(10)
    assert unit.engine.sign_in("zoe", ZOE[1]).result(10).ok
    unit.sign_out()
    unit.engine.sign_in("zoe", "wrong").result(10)
    assert unit.engine.snapshot.throttle_wait_s is None


# --- moving, eviction, other desks ----------------------------------------------------------


def test_agent_at_another_desk_is_moved_here_and_the_log_says_from_where(make_unit, sim):
    XsiClient(sim.url, *ZOE).associate(DESK14[0], limit_hours=8)
    unit = make_unit()
    assert unit.engine.sign_in("zoe", ZOE[1]).result(10).ok
    assert unit.desk_guest() == ZOE[0]
    assert sim.inspect()["seating"][DESK14[0]] is None
    (row,) = unit.query("SELECT moved_from FROM sessions")
    assert row["moved_from"] == DESK14[0]


def test_stale_guest_at_this_desk_is_released_for_the_agent_here(make_unit, sim):
    XsiClient(sim.url, *MAI).associate(DESK12[0], limit_hours=8)  # left over
    unit = make_unit()
    assert unit.engine.sign_in("zoe", ZOE[1]).result(10).ok
    assert unit.desk_guest() == ZOE[0] and unit.seat(MAI[0]) is None
    assert unit.query("SELECT kind FROM events WHERE kind='stale_guest_released'")


def test_eviction_by_a_sign_in_at_another_desk(make_unit, sim):
    unit = make_unit()
    unit.engine.sign_in("zoe", ZOE[1]).result(10)
    sim.model.set_modes(moved="move")
    XsiClient(sim.url, *ZOE).associate(DESK14[0], limit_hours=8)
    unit.advance(15)
    assert wait_until(lambda: unit.engine.snapshot.state is State.IDLE)
    snap = unit.engine.snapshot
    assert snap.notice == "evicted_moved"
    assert unit.phone_line() is None
    assert unit.acd(ZOE[0]) == "Available"  # working at desk 14 now: queues left alone
    (row,) = unit.query("SELECT end_reason FROM sessions")
    assert row["end_reason"] == "evicted"


def test_eviction_by_force_release(make_unit, sim):
    unit = make_unit()
    unit.engine.sign_in("zoe", ZOE[1]).result(10)
    XsiClient(sim.url, *DESK12).force_release()
    unit.advance(15)
    assert wait_until(lambda: unit.engine.snapshot.state is State.IDLE)
    assert unit.engine.snapshot.notice == "evicted_released"
    assert unit.acd(ZOE[0]) == "Sign-Out"
    assert unit.phone_line() is None


# --- Stay signed in -------------------------------------------------------------------------


def test_stay_signed_in_rides_out_an_outage(make_unit, sim):
    unit = make_unit()
    unit.engine.sign_in("zoe", ZOE[1], stay_signed_in=True).result(10)
    sim.faults.update(fail_next=10_000)
    unit.advance(15)
    assert wait_until(lambda: unit.engine.snapshot.state is State.RECONNECTING)
    snap = unit.engine.snapshot
    assert snap.connection == "lost" and snap.notice == "reconnecting"
    assert unit.phone_line()["user_id"] == ZOE[0]  # the phone stays the agent's
    assert light(unit) == (True, True, False) or light(unit) == (True, False, False)
    unit.advance(2)  # a retry: still down, the wait doubles
    requests_before = sim.inspect()["requests_total"]
    unit.advance(3)
    assert sim.inspect()["requests_total"] == requests_before  # backing off: not yet
    sim.faults.update(fail_next=0)
    unit.advance(2)
    assert wait_until(lambda: unit.engine.snapshot.state is State.ACTIVE)
    assert unit.engine.snapshot.connection == "ok"
    kinds = [r["kind"] for r in unit.query("SELECT kind FROM events")]
    assert "connection_lost" in kinds and "reconnected" in kinds


def test_without_stay_signed_in_a_lost_connection_signs_out_at_once(make_unit, sim):
    unit = make_unit()
    unit.engine.sign_in("zoe", ZOE[1], stay_signed_in=False).result(10)
    sim.faults.update(fail_next=10_000)
    unit.advance(15)
    assert wait_until(lambda: unit.engine.snapshot.state is State.IDLE)
    assert unit.engine.snapshot.notice == "signed_out_connection_lost"
    assert unit.phone_line() is None  # freed at once
    (row,) = unit.query("SELECT end_reason FROM sessions")
    assert row["end_reason"] == "connection_lost"
    owed = [r["action"] for r in unit.query("SELECT action FROM outbox WHERE done IS NULL")]
    assert owed == ["acd_sign_out", "force_release"]
    assert unit.desk_guest() == ZOE[0]  # the server does not know yet
    sim.faults.update(fail_next=0)
    assert unit.drain_outbox()
    assert_desk_clean(unit)


# --- phone events ---------------------------------------------------------------------------


def test_phone_reboot_mid_session_reapplies_line_and_language(make_unit):
    unit = make_unit()
    unit.engine.sign_in("zoe", ZOE[1], language="fr").result(10)
    unit.sim_phone.reboot()
    assert wait_until(lambda: unit.phone_line() is not None and
                      unit.sim_phone.snapshot()["language"] == "fr")
    assert unit.phone_line()["user_id"] == ZOE[0]


def test_phone_unplugged_mid_session_keeps_the_desk_working_then_gets_the_line_back(make_unit):
    """Calls follow the association, not the phone's display: a phone that is unplugged puts
    nothing out of order; when it is back, the agent's line is applied again."""
    unit = make_unit()
    unit.engine.sign_in("zoe", ZOE[1]).result(10)
    unit.sim_phone.unplug()
    assert wait_until(lambda: unit.engine.snapshot.phone == "missing")
    assert unit.engine.snapshot.state is State.ACTIVE and unit.panel.pattern != "fault"
    unit.sim_phone.replug()  # the phone comes back on the same link, rebooted
    assert wait_until(lambda: unit.engine.snapshot.phone == "ok")
    assert wait_until(lambda: unit.phone_line() is not None)
    assert unit.phone_line()["user_id"] == ZOE[0]
    assert unit.desk_guest() == ZOE[0]  # the session rode it out


def test_a_desk_whose_phone_is_not_plugged_in_signs_agents_in_and_out(sim, tmp_path):
    """No HD-AT/1 phone on the port: the agent is associated (the calls ring on the desk host's
    phone, which shows the desk's name), the phone step is not applicable, nothing goes out of
    order; when the phone appears, the signed-in agent's line goes onto it."""
    from hardware.phone.sim import SimulatedPhone
    from tests.conftest import Unit

    link = tmp_path / "deskphone"
    phone = SimulatedPhone(link=link)  # not started: no port yet
    unit = Unit(sim, phone, tmp_path).start()
    try:
        assert unit.engine.snapshot.state is State.IDLE
        assert unit.engine.snapshot.phone == "missing"
        assert unit.engine.sign_in("zoe", ZOE[1]).result(10).ok
        assert unit.desk_guest() == ZOE[0] and unit.acd(ZOE[0]) == "Available"
        assert {s.name: s.status for s in unit.engine.snapshot.steps}["phone"] == "skipped"
        phone.start()
        unit.advance(3)
        assert wait_until(lambda: phone.snapshot()["line"] is not None)
        assert phone.snapshot()["line"]["user_id"] == ZOE[0]
        assert unit.sign_out().ok
        assert unit.desk_guest() is None and phone.snapshot()["line"] is None
    finally:
        unit.close()
        phone.close()


def test_a_desk_without_an_hd_at_phone_configured(sim, sim_phone, tmp_path):
    """`phone.port` empty: any BroadWorks phone registered to the desk host."""
    from tests.conftest import Unit

    unit = Unit(sim, sim_phone, tmp_path, phone__port="").start()
    try:
        assert unit.engine.snapshot.phone == "none" and unit.engine.phone is None
        assert unit.engine.sign_in("mai", MAI[1]).result(10).ok
        assert unit.engine.snapshot.state is State.ACTIVE and unit.desk_guest() == MAI[0]
        assert sim_phone.snapshot()["line"] is None  # never touched
        (row,) = unit.query("SELECT phone_serial FROM sessions")
        assert row["phone_serial"] is None
        assert unit.sign_out().ok
        assert unit.desk_guest() is None and unit.owed() == []
    finally:
        unit.close()


def test_silent_phone_gets_a_power_cycle_then_out_of_order(make_unit):
    unit = make_unit()
    unit.engine.sign_in("zoe", ZOE[1]).result(10)
    unit.sim_phone.set_silent(True)
    relay = unit.factory.pin(23)
    relay.clear_states()
    unit.advance(15)  # the heartbeat pings the phone: no answer, even after a resync
    assert wait_until(lambda: unit.engine.snapshot.out_of_order == "phone_rebooting")
    assert wait_until(lambda: [s.state for s in relay.states] == [False, True, False])
    unit.advance(31)  # no +HDBOOT came
    assert unit.engine.snapshot.out_of_order == "phone_silent"
    unit.sim_phone.set_silent(False)
    unit.sim_phone.reboot()
    assert wait_until(lambda: unit.engine.snapshot.state is State.ACTIVE)
    assert unit.phone_line()["user_id"] == ZOE[0]


def test_a_desk_without_a_relay_notices_when_its_silent_phone_answers_again(make_unit):
    """Found by a newcomer: with `gpio.relay = false` (PoE phones) a phone that went silent and
    then answered again was never asked again: out of order (phone_silent) until a restart."""
    unit = make_unit(gpio__relay=False)
    assert unit.engine.sign_in("zoe", ZOE[1]).result(10).ok
    unit.sim_phone.set_silent(True)
    unit.advance(15)  # the heartbeat's ping gets no answer
    assert wait_until(lambda: unit.engine.snapshot.out_of_order == "phone_silent")
    unit.sim_phone.set_silent(False)  # it answers again, without a reboot to announce it
    unit.advance(15)  # the next heartbeat asks it again
    assert wait_until(lambda: unit.engine.snapshot.state is State.ACTIVE)
    assert unit.engine.snapshot.out_of_order is None
    assert wait_until(lambda: (unit.phone_line() or {}).get("user_id") == ZOE[0])


def test_button_held_signs_out(make_unit):
    unit = make_unit()
    unit.engine.sign_in("zoe", ZOE[1]).result(10)
    button = unit.factory.pin(25)
    button.drive_low()
    assert wait_until(lambda: unit.engine.snapshot.state is State.IDLE)
    button.drive_high()
    unit.engine.settle()  # the server's share of the sign-out has come back
    (row,) = unit.query("SELECT end_reason FROM sessions")
    assert row["end_reason"] == "button"


def test_agent_sign_out_while_off_hook_asks_first(make_unit):
    unit = make_unit()
    unit.engine.sign_in("zoe", ZOE[1]).result(10)
    unit.sim_phone.lift()
    assert wait_until(lambda: unit.engine.snapshot.off_hook)
    outcome = unit.engine.sign_out().result(10)
    assert outcome.error == "confirm_needed"
    assert unit.engine.snapshot.confirm == "off_hook"
    assert unit.engine.snapshot.state is State.ACTIVE
    assert unit.sign_out(confirmed=True).ok
    assert unit.phone_line() is None  # forced: the call was dropped, as the agent agreed


# --- policies under a fake clock ------------------------------------------------------------


def test_association_limit_warns_then_extends(make_unit, sim):
    unit = make_unit(session__association_limit_hours=1, session__warn_before_s=60)
    unit.engine.sign_in("zoe", ZOE[1]).result(10)
    unit.advance(3600 - 61)
    assert unit.engine.snapshot.warning is None
    assert unit.engine.snapshot.auto_sign_out_in_s == pytest.approx(61, abs=1)
    unit.advance(2)
    warning = unit.engine.snapshot.warning
    assert warning.kind == "limit" and warning.can_extend
    assert warning.seconds_left == pytest.approx(59, abs=1)
    assert unit.panel.pattern == "attention"
    unit.advance(10)
    assert unit.engine.snapshot.warning.seconds_left == pytest.approx(49, abs=1)
    since_before = sim.inspect()["users"][ZOE[0]]["host"]
    assert unit.engine.extend().result(10).ok
    assert unit.engine.snapshot.warning is None
    assert since_before == DESK12[0] and unit.desk_guest() == ZOE[0]
    unit.advance(3600 - 120)
    assert unit.engine.snapshot.state is State.ACTIVE


def test_association_limit_signs_out(make_unit):
    unit = make_unit(session__association_limit_hours=1)
    unit.engine.sign_in("zoe", ZOE[1]).result(10)
    unit.advance(3600)
    assert unit.engine.snapshot.state is State.IDLE
    assert unit.engine.snapshot.notice == "signed_out_limit"
    assert_desk_clean(unit)
    (row,) = unit.query("SELECT end_reason FROM sessions")
    assert row["end_reason"] == "limit"


def test_end_of_day(make_unit):
    # the fake clock starts at 09:00 local
    unit = make_unit(session__end_of_day="09:30", session__warn_before_s=20,
                     session__allow_extend=False)
    unit.engine.sign_in("zoe", ZOE[1]).result(10)
    unit.advance(30 * 60 - 20)
    warning = unit.engine.snapshot.warning
    assert warning.kind == "end_of_day" and not warning.can_extend
    assert unit.engine.extend().result(10).error == "not_allowed"
    unit.advance(20)
    assert unit.engine.snapshot.state is State.IDLE
    assert unit.query("SELECT end_reason FROM sessions")[0]["end_reason"] == "end_of_day"


def test_idle_sign_out_and_touch(make_unit):
    unit = make_unit(session__idle_sign_out_min=5, session__warn_before_s=30)
    unit.engine.sign_in("zoe", ZOE[1]).result(10)
    unit.advance(300 - 30)
    assert unit.engine.snapshot.warning.kind == "idle"
    unit.engine.touch()
    unit.engine.settle()
    assert unit.engine.snapshot.warning is None
    unit.advance(299)
    assert unit.engine.snapshot.state is State.ACTIVE
    unit.advance(2)
    assert unit.engine.snapshot.state is State.IDLE
    assert unit.query("SELECT end_reason FROM sessions")[0]["end_reason"] == "idle"


def test_never_idle_while_off_hook(make_unit):
    unit = make_unit(session__idle_sign_out_min=5)
    unit.engine.sign_in("zoe", ZOE[1]).result(10)
    unit.sim_phone.lift()
    assert wait_until(lambda: unit.engine.snapshot.off_hook)
    unit.advance(3600)
    assert unit.engine.snapshot.state is State.ACTIVE


def test_policy_sign_out_waits_for_the_hang_up(make_unit):
    unit = make_unit(session__association_limit_hours=1)
    unit.engine.sign_in("zoe", ZOE[1]).result(10)
    unit.sim_phone.lift()
    assert wait_until(lambda: unit.engine.snapshot.off_hook)
    unit.advance(3601)
    snap = unit.engine.snapshot
    assert snap.state is State.ACTIVE and snap.warning.waiting_for_hangup
    assert unit.phone_line() is not None
    unit.sim_phone.hang_up()
    assert wait_until(lambda: unit.engine.snapshot.state is State.IDLE)
    unit.engine.settle()  # the server's share of the sign-out has come back
    assert unit.query("SELECT end_reason FROM sessions")[0]["end_reason"] == "limit"
    kinds = [r["kind"] for r in unit.query("SELECT kind FROM events")]
    assert "policy_deferred" in kinds


def test_acd_state_change(make_unit, sim):
    unit = make_unit()
    unit.engine.sign_in("zoe", ZOE[1]).result(10)
    assert unit.engine.set_acd_state("Unavailable", "10").result(10).ok
    assert unit.acd(ZOE[0]) == "Unavailable"
    assert sim.inspect()["users"][ZOE[0]]["unavailable_code"] == "10"
    assert unit.engine.snapshot.agent.unavailable_code == "10"
    assert unit.engine.set_acd_state("Unavailable", "99").result(10).error == "rejected"


# --- recovery after a crash -----------------------------------------------------------------

CRASH_POINTS = ["associate-trying", "associate-done", "queues-done", "phone-done", "committed"]


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_restart_after_a_crash_recovers_a_clean_desk(sim, sim_phone, tmp_path, point):
    """The power goes at `point` of a sign-in: the server and phone hold what was done, the
    log holds the journal. The next start frees everything, with the host's credentials only."""
    from hardware.phone import DeskPhone, GuestLine
    from kiosk.sessionlog import SessionLog
    from tests.conftest import Unit

    log = SessionLog(tmp_path / "sessions.db", desk="desk12")
    sid = log.begin_session(ZOE[0], agent_name="Zoë Müller")
    agent = XsiClient(sim.url, *ZOE)
    order = ["associate", "queues", "phone"]  # the saga's order
    reached = point.split("-")[0]
    for step in order:
        log.journal_step(sid, step, "trying")
        if step == reached and point.endswith("trying"):
            agent.associate(DESK12[0], limit_hours=8)  # it landed; the answer never came back
            break
        if step == "associate":
            agent.associate(DESK12[0], limit_hours=8)
        elif step == "phone":
            with DeskPhone(sim_phone.port) as phone:
                phone.assign(GuestLine(ZOE[0], "Zoë Müller"))
        else:
            agent.set_acd_state("Available")
        log.journal_step(sid, step, "done")
        if step == reached:
            break
    if point == "committed":
        log.activate(sid)
    log.close()

    unit = Unit(sim, sim_phone, tmp_path).start()  # the restart
    try:
        assert_desk_clean(unit)
        (row,) = unit.query("SELECT status, end_reason FROM sessions")
        assert row == {"status": "ended", "end_reason": "recovered"}
        assert unit.engine.snapshot.state is State.IDLE
    finally:
        unit.close()


def test_recovery_without_network_owes_the_server(sim, sim_phone, tmp_path):
    from kiosk.sessionlog import SessionLog
    from tests.conftest import Unit

    log = SessionLog(tmp_path / "sessions.db", desk="desk12")
    sid = log.begin_session(ZOE[0])
    log.journal_step(sid, "associate", "trying")
    XsiClient(sim.url, *ZOE).associate(DESK12[0], limit_hours=8)
    log.close()
    sim.faults.update(fail_next=10_000)
    unit = Unit(sim, sim_phone, tmp_path).start()
    try:
        assert unit.query("SELECT end_reason FROM sessions")[0]["end_reason"] == "recovered"
        assert {r["action"] for r in unit.query("SELECT action FROM outbox")} == {
            "acd_sign_out", "force_release"}
        sim.faults.update(fail_next=0)
        assert unit.drain_outbox()
        assert unit.desk_guest() is None
        assert unit.acd(ZOE[0]) == "Sign-Out"
    finally:
        unit.close()


# --- never let the log stop a sign-in, never store a password -------------------------------


def test_a_broken_session_log_does_not_stop_sign_in(make_unit):
    unit = make_unit()
    unit.session_log.db.execute("PRAGMA query_only = ON")
    assert unit.engine.sign_in("zoe", ZOE[1]).result(10).ok
    assert "read-only" in unit.engine.snapshot.log_problem
    assert unit.sign_out().ok
    assert unit.desk_guest() is None


def test_the_agents_password_is_in_no_file_the_kiosk_wrote(make_unit, tmp_path, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    password = "Unique-Pa55word-4-grep"
    unit = make_unit()
    unit.sim.model.directory.users[ZOE[0]].password = password
    unit.engine.sign_in("zoe", "Unique-Pa55word-4-grip").result(10)  # a typo first
    unit.engine.sign_in("zoe", password).result(10)
    unit.engine.set_acd_state("Unavailable", "10").result(10)
    unit.sign_out()
    unit.session_log.close()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert password.encode() not in data, path
            assert b"Unique-Pa55word" not in data, path
    assert "Unique-Pa55word" not in caplog.text


# --- round trips ----------------------------------------------------------------------------


def test_sign_in_is_two_round_trips(make_unit):
    """The association authenticates (one request), then the profile alongside the ACD state's
    PUT. Shown without timing: the profile is held in flight until the ACD PUT has arrived."""
    unit = make_unit()
    traffic = unit.sim.traffic
    traffic.clear()
    profile = traffic.hold(r"^GET .*/zoe@demo\.example/profile$")
    queues = traffic.hold(r"^PUT .*/zoe@demo\.example/services/CallCenter$")
    signing_in = unit.engine.sign_in("zoe", ZOE[1])
    try:  # the ACD state goes out while the profile is still held
        assert profile.reached.wait(10) and queues.reached.wait(10)
    finally:
        traffic.release_all()
    assert signing_in.result(10).ok
    sign_in = [r for r in traffic.snapshot() if "UnavailableCodes" not in r["request"]
               and "xsi-actions" in r["request"]]  # (the event channel opens afterwards)
    names = [r["request"].split()[0] + " " + r["request"].rsplit("/", 1)[-1] for r in sign_in]
    assert names[0] == "PUT HotelingGuest"
    assert sorted(names[1:3]) == ["GET profile", "PUT CallCenter"]
    assert len(names) == 3
    assert sequential_round_trips(sign_in) == 2
    assert unit.engine.snapshot.agent.display_name == "Zoë Müller"
    (row,) = unit.query("SELECT agent_name FROM sessions")
    assert row["agent_name"] == "Zoë Müller"


def test_a_wrong_password_costs_the_server_one_failed_login(make_unit):
    unit = make_unit()
    unit.sim.traffic.clear()
    outcome = unit.engine.sign_in("zoe", "wrong").result(10)
    assert (outcome.ok, outcome.error) == (False, "invalid_credentials")
    assert unit.sim.inspect()["users"][ZOE[0]]["failed_logins"] == 1
    assert len(unit.sim.traffic.snapshot()) == 1


# --- owed clean-ups and the next agent ------------------------------------------------------


def test_an_owed_release_is_moot_once_the_desk_is_taken_again(make_unit, sim):
    unit = make_unit()
    assert unit.engine.sign_in("zoe", ZOE[1], stay_signed_in=False).result(10).ok
    sim.faults.update(fail_next=10_000)
    unit.advance(15)
    sim.faults.update(fail_next=0)
    # before the outbox runs, the next agent sits down (the stale guest is released for them)
    assert unit.engine.sign_in("mai", MAI[1]).result(10).ok
    assert unit.drain_outbox()
    assert unit.desk_guest() == MAI[0] and unit.engine.snapshot.state is State.ACTIVE
    notes = [r["detail"] for r in unit.query(
        "SELECT detail FROM events WHERE kind = 'outbox_done' ORDER BY id")]
    assert any("moot" in note and "force_release" in note for note in notes)


# --- nothing waits for the network on the worker --------------------------------------------


def test_sign_out_during_an_outage_is_not_held_up_by_a_reconnect_attempt(make_unit, sim):
    """A reconnect attempt held in flight (the network hangs): a Sign out tap is answered
    while it is still out; the server's share is owed."""
    unit = make_unit()
    assert unit.engine.sign_in("zoe", ZOE[1], stay_signed_in=True).result(10).ok
    sim.faults.update(fail_next=10_000)
    unit.advance(15)
    assert unit.engine.snapshot.state is State.RECONNECTING
    sim.faults.update(fail_next=0)
    attempt = sim.traffic.hold(r"^GET .*/zoe@demo\.example/profile$")
    try:
        unit.clock.advance(2)  # the reconnect attempt goes out, and hangs
        assert attempt.reached.wait(10)
        outcome = unit.engine.sign_out().result(10)
        assert outcome.ok and unit.engine.snapshot.state is State.IDLE
        assert attempt.reached.is_set() and not unit.phone_line()  # while still held
    finally:
        attempt.release()
    unit.engine.settle()  # the log's end waits for the channel's work, then owes the server
    owed = [r["action"] for r in unit.owed()]
    assert owed == ["acd_sign_out", "force_release"]


# --- supervisors, and the state the server has ----------------------------------------------

SAM = ("sam@demo.example", "sam-demo-1")


def test_a_supervisor_hot_desks_without_queues(make_unit, sim):
    """No Call Center agent service: the ACD PUT says 'Service not assigned' (found by the
    queues step at no extra round trip); the step is not applicable, not failed."""
    unit = make_unit()
    outcome = unit.engine.sign_in("sam", SAM[1]).result(10)
    assert outcome.ok, outcome
    snap = unit.engine.snapshot
    assert snap.state is State.ACTIVE and snap.agent.role == "supervisor"
    assert snap.agent.acd_state is None
    assert {s.name: s.status for s in snap.steps}["queues"] == "skipped"
    assert unit.desk_guest() == SAM[0] and unit.phone_line()["user_id"] == SAM[0]
    assert unit.engine.set_acd_state("Available").result(10).error == "not_an_agent"
    (row,) = unit.query("SELECT role, status FROM sessions")
    assert row == {"role": "supervisor", "status": "active"}
    unit.advance(15)  # the heartbeat does not ask for an ACD state a supervisor has not got
    assert unit.engine.snapshot.state is State.ACTIVE
    assert unit.sign_out().ok
    assert unit.desk_guest() is None and unit.phone_line() is None and unit.owed() == []
    (row,) = unit.query("SELECT role, end_reason, acd_state_at_end FROM sessions")
    assert row == {"role": "supervisor", "end_reason": "agent", "acd_state_at_end": None}


def test_an_agent_is_recorded_as_an_agent(make_unit):
    unit = make_unit()
    assert unit.engine.sign_in("zoe", ZOE[1]).result(10).ok
    assert unit.engine.snapshot.agent.role == "agent"
    (row,) = unit.query("SELECT role FROM sessions")
    assert row["role"] == "agent"


def test_a_state_set_by_a_supervisor_shows_within_a_heartbeat(make_unit, sim):
    unit = make_unit()
    assert unit.engine.sign_in("zoe", ZOE[1]).result(10).ok
    assert unit.engine.snapshot.agent.acd_state == "Available"
    sim.supervisor_sets(ZOE[0], "Unavailable", "20")
    unit.advance(15)
    agent = unit.engine.snapshot.agent
    assert (agent.acd_state, agent.unavailable_code) == ("Unavailable", "20")
    kinds = [r["kind"] for r in unit.query("SELECT kind FROM events")]
    assert "acd_state_seen" in kinds



# --- live state pushed by the server (Xsi-Events) -------------------------------------------


def test_a_supervisors_change_is_pushed_at_once(make_unit, sim):
    unit = make_unit()
    assert unit.engine.sign_in("zoe", ZOE[1]).result(10).ok
    assert wait_until(lambda: unit.engine.snapshot.push)
    sim.supervisor_sets(ZOE[0], "Unavailable", "20")  # no clock moves: no heartbeat runs
    assert wait_until(lambda: unit.engine.snapshot.agent.unavailable_code == "20")
    assert unit.engine.snapshot.agent.acd_state == "Unavailable"
    events = sim.inspect()["events"]
    assert {s["event"] for s in events["subscriptions"]} == {"Hoteling Guest",
                                                              "Call Center Agent"}
    assert wait_until(lambda: sim.inspect()["events"]["unacknowledged"] == 0)
    assert unit.sign_out().ok
    unit.engine.settle()
    events = sim.inspect()["events"]
    assert events["channels"] == [] and events["subscriptions"] == []  # deleted at sign-out
    sim.supervisor_sets(ZOE[0], "Available")  # about a session that has ended: nothing
    assert unit.engine.snapshot.state is State.IDLE and unit.engine.snapshot.agent is None


def test_an_agent_taken_to_another_desk_is_signed_out_here_at_once(make_unit, sim):
    unit = make_unit()
    assert unit.engine.sign_in("zoe", ZOE[1]).result(10).ok
    assert wait_until(lambda: unit.engine.snapshot.push)
    sim.model.set_modes(moved="move")
    XsiClient(sim.url, *ZOE).associate(DESK14[0], limit_hours=8)
    assert wait_until(lambda: unit.engine.snapshot.state is State.IDLE)
    assert unit.engine.snapshot.notice == "evicted_moved"
    assert unit.phone_line() is None


def test_a_dead_channel_falls_back_to_polling_and_comes_back(make_unit, sim):
    unit = make_unit()
    assert unit.engine.sign_in("zoe", ZOE[1]).result(10).ok
    assert wait_until(lambda: unit.engine.snapshot.push)
    sim.events.cut_all()  # a server restart
    assert wait_until(lambda: not unit.engine.snapshot.push)
    sim.supervisor_sets(ZOE[0], "Wrap-Up")
    unit.advance(15)  # polled at the heartbeat while the channel is down
    assert unit.engine.snapshot.agent.acd_state == "Wrap-Up"
    unit.advance(10)  # the back-off (5 s, then 10 s) passed: a new channel
    assert wait_until(lambda: unit.engine.snapshot.push)
    assert len(sim.inspect()["events"]["channels"]) == 1
    kinds = [r["kind"] for r in unit.query("SELECT kind FROM events")]
    assert kinds.count("events_up") == 2 and "events_down" in kinds


def test_a_supervisor_subscribes_to_the_desk_only(make_unit, sim):
    unit = make_unit()
    assert unit.engine.sign_in("sam", SAM[1]).result(10).ok
    assert wait_until(lambda: unit.engine.snapshot.push)
    assert [s["event"] for s in sim.inspect()["events"]["subscriptions"]] == ["Hoteling Guest"]


def test_events_off_keeps_the_kiosk_on_polling(make_unit, sim):
    unit = make_unit(callcenter__events=False)
    assert unit.engine.sign_in("zoe", ZOE[1]).result(10).ok
    unit.engine.settle()
    assert sim.inspect()["events"]["channels"] == [] and not unit.engine.snapshot.push
    sim.supervisor_sets(ZOE[0], "Unavailable", "10")
    unit.advance(15)
    assert unit.engine.snapshot.agent.unavailable_code == "10"


# --- the loop never waits on the network ----------------------------------------------------


def test_the_loop_answers_the_desk_while_the_server_holds_the_sign_in(make_unit):
    """The sign-in's one request is held by the server: meanwhile the handset, a second
    sign-in, a badge, a sign-out tap and a language change are all answered, and the request is
    still held when they are (no timing: the order of events is the proof)."""
    unit = make_unit(callcenter__read_timeout_s=120)  # held for as long as the test needs
    held = unit.sim.traffic.hold(r"^PUT .*/zoe@demo\.example/services/HotelingGuest$")
    try:
        signing_in = unit.engine.sign_in("zoe", ZOE[1])
        assert held.reached.wait(60)
        assert unit.engine.snapshot.state is State.SIGNING_IN
        unit.sim_phone.lift()
        assert wait_until(lambda: unit.engine.snapshot.off_hook)
        assert unit.engine.sign_in("mai", MAI[1]).result(60).error == "one_agent_per_desk"
        assert unit.engine.sign_out("button").result(60).error == "not_signed_in"
        assert unit.engine.set_language("en").result(60).ok
        assert unit.engine.badge_tapped("0004521788").result(60).error == "busy"
        assert unit.engine.snapshot.badge.kind == "busy"  # said at once, not after the sign-in
        unit.sim_phone.hang_up()  # (a phone off hook refuses a new line)
        assert wait_until(lambda: not unit.engine.snapshot.off_hook)
        assert not signing_in.done()  # all of that while the server still holds the request
    finally:
        held.release()
    assert signing_in.result(60).ok
    assert unit.engine.snapshot.agent.user_id == ZOE[0]
    assert unit.sign_out().ok


def test_the_loop_answers_the_desk_while_the_server_holds_an_acd_change(make_unit):
    """Setting the ACD state hangs at the server: the hook and the off-hook question are
    answered meanwhile, a policy's timer runs, and the screen shows the new state only once the
    server took it."""
    unit = make_unit(callcenter__read_timeout_s=120, session__idle_sign_out_min=1,
                     session__warn_before_s=20)
    assert unit.engine.sign_in("zoe", ZOE[1]).result(60).ok
    held = unit.sim.traffic.hold(r"^PUT .*/zoe@demo\.example/services/CallCenter$")
    try:
        changing = unit.engine.set_acd_state("Unavailable")
        assert held.reached.wait(60)
        unit.clock.advance(45)  # (not unit.advance: that waits for the held request)
        assert wait_until(lambda: unit.engine.snapshot.warning is not None)
        assert unit.engine.snapshot.warning.kind == "idle"
        unit.sim_phone.lift()
        assert wait_until(lambda: unit.engine.snapshot.off_hook)
        assert unit.engine.sign_out().result(60).error == "confirm_needed"
        assert unit.engine.cancel_sign_out().result(60).ok
        assert unit.engine.snapshot.agent.acd_state == "Available"  # not before the server
        assert not changing.done()
    finally:
        held.release()
    assert changing.result(60).ok
    assert unit.engine.snapshot.agent.acd_state == "Unavailable"
    unit.sim_phone.hang_up()
    assert unit.sign_out().ok


def test_an_acd_change_during_an_outage_is_refused_at_once(make_unit, sim):
    unit = make_unit()
    assert unit.engine.sign_in("zoe", ZOE[1], stay_signed_in=True).result(60).ok
    sim.faults.update(fail_next=10_000)
    unit.advance(15)
    assert unit.engine.snapshot.state is State.RECONNECTING
    assert unit.engine.set_acd_state("Unavailable").result(60).error == "unreachable"
    sim.faults.update(fail_next=0)
    assert unit.sign_out().ok


def test_the_event_channel_is_deleted_before_the_password_goes(make_unit, sim):
    """The channel's DELETEs and the j_logout need the agent's password too: held at the server
    while the sign-out's other requests finish, they still go out with it (found as a failed
    login on the server after sign-out: the password was wiped before the channel was deleted,
    and raced the j_logout)."""
    unit = make_unit(callcenter__read_timeout_s=60)  # the held DELETE must not time out
    assert unit.engine.sign_in("zoe", ZOE[1]).result(60).ok
    assert wait_until(lambda: unit.engine.snapshot.push)
    held = sim.traffic.hold(r"^DELETE .*/subscription/")
    try:
        assert unit.engine.sign_out().result(60).ok  # (the desk is free; not settled)
        assert held.reached.wait(60)
        assert wait_until(lambda: unit.desk_guest() is None and unit.acd(ZOE[0]) == "Sign-Out")
        # (the old engine ended the session, wiping the password, here; the kiosk now waits)
        # (no claim on time: a slow machine only makes this reproduction weaker, never red)
        wait_until(lambda: unit.query("SELECT ended FROM sessions")[0]["ended"], timeout=3)
    finally:
        held.release()
    unit.engine.settle()
    assert sim.inspect()["users"][ZOE[0]]["failed_logins"] == 0
    events = sim.inspect()["events"]
    assert events["channels"] == [] and events["subscriptions"] == []
    assert unit.query("SELECT ended FROM sessions")[0]["ended"]


def test_a_channel_still_opening_at_sign_out_is_deleted_before_the_password_goes(make_unit,
                                                                                  sim):
    """Signed out while the event channel is still subscribing (its POST held): the channel
    is the session's to delete, with the password, before the password is wiped."""
    unit = make_unit(callcenter__read_timeout_s=60)
    held = sim.traffic.hold(r"^POST .*/user/zoe@demo\.example$")  # a subscription
    try:
        assert unit.engine.sign_in("zoe", ZOE[1]).result(60).ok
        assert held.reached.wait(60)
        assert unit.engine.sign_out().result(60).ok  # (the desk is free; not settled)
        wait_until(lambda: unit.query("SELECT ended FROM sessions")[0]["ended"], timeout=3)
    finally:
        held.release()
    unit.engine.settle()
    assert wait_until(lambda: sim.inspect()["events"]["channels"] == [])
    assert sim.inspect()["users"][ZOE[0]]["failed_logins"] == 0
    assert unit.query("SELECT ended FROM sessions")[0]["ended"]
