"""The engine's pure core, without a server, a phone or a database: flows on the loop, scopes,
the policies, the light, and the server view's reconciliation (fed events and reads by hand).
Part of the fast tier (`make test-fast`)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from kiosk.callcenter import codec
from kiosk.errors import InvalidCredentials
from kiosk.session import policies
from kiosk.session.clock import FakeClock
from kiosk.session.machine import Evicted
from kiosk.session.model import Light, PolicyWarning, Snapshot, State, light_for
from kiosk.session.scope import Scope, ServerView
from kiosk.session.sync import ServerSync
from kiosk.session.worker import Worker, together


@pytest.fixture
def worker():
    clock = FakeClock()
    loop = Worker(clock).start()
    yield loop
    loop.stop()


# --- flows ------------------------------------------------------------------------------------


def test_a_flow_resumes_with_each_answer_and_returns_its_value(worker):
    def flow():
        first = yield lambda: 2
        second, third = yield together(lambda: first * 10, lambda: first * 100)
        return first + second.value + third.value

    assert worker.submit(flow).result(60) == 222


def test_a_flow_gets_the_io_error_at_its_yield_and_may_handle_it(worker):
    def flow():
        try:
            yield lambda: (_ for _ in ()).throw(InvalidCredentials("no"))
        except InvalidCredentials:
            return "handled"
        return "not raised"

    assert worker.submit(flow).result(60) == "handled"


def test_the_loop_serves_commands_while_a_flow_waits_for_its_io(worker):
    gate = threading.Event()

    def flow():
        yield gate.wait
        return "done"

    waiting = worker.submit(flow)
    assert worker.submit(lambda: "answered").result(60) == "answered"
    assert not waiting.done()
    gate.set()
    assert waiting.result(60) == "done"


def test_a_flow_may_wait_for_another_flows_end(worker):
    gate = threading.Event()

    def first():
        yield gate.wait
        return 1

    def second(other):
        value = yield other
        return value + 1

    first_done = worker.run(first())
    second_done = worker.submit(lambda: second(first_done))
    gate.set()
    assert second_done.result(60) == 2


# --- scopes -----------------------------------------------------------------------------------


def test_a_closed_scope_drops_answers_timers_and_flows(worker):
    scope = Scope(worker, "session")
    gate, seen, closed = threading.Event(), [], []
    clock = worker.clock

    def flow():
        try:
            yield gate.wait
            seen.append("flow resumed")
        finally:
            closed.append("flow closed")

    worker.submit(lambda: scope.offload(gate.wait, lambda r: seen.append("answer"))).result(60)
    worker.submit(lambda: scope.call_at(clock.monotonic() + 5,
                                        lambda: seen.append("timer"))).result(60)
    worker.submit(lambda: scope.call_every(1, lambda: seen.append("tick"),
                                           first=clock.monotonic() + 1)).result(60)
    worker.submit(lambda: scope.run(flow())).result(60)
    worker.submit(lambda: scope.on_close(lambda: seen.append("on_close")))
    worker.submit(scope.close).result(60)
    gate.set()
    clock.advance(10)
    worker.settle(60)
    scope.post(lambda: seen.append("posted"))
    worker.settle(60)
    assert seen == ["on_close"]
    assert closed == ["flow closed"]  # abandoned at its yield: its finally ran
    assert scope.call_at(clock.monotonic(), lambda: None) is None  # nothing new starts


def test_an_open_scope_delivers(worker):
    scope = Scope(worker)
    seen = []
    worker.submit(lambda: scope.offload(lambda: 7, lambda r: seen.append(r.value))).result(60)
    worker.submit(lambda: scope.call_at(worker.clock.monotonic() + 1,
                                        lambda: seen.append("t"))).result(60)
    worker.clock.advance(1)
    worker.settle(60)
    assert sorted(seen, key=str) == [7, "t"]


# --- policies and the light -------------------------------------------------------------------


@pytest.mark.parametrize(("now", "off_hook", "action", "kind"), [
    (0, False, "none", "idle"),
    (600 - 60, False, "warn", "idle"),  # the idle deadline comes first
    (600, False, "sign_out", "idle"),
    (600, True, "warn", "limit"),  # off hook: never idle; the limit's warning is next
    (3600, True, "wait", "limit"),  # due, but a call is on
    (3600 + 7200, True, "sign_out", "limit"),  # waited the longest it may
])
def test_what_the_policies_decide(now, off_hook, action, kind):
    idle = policies.Idle(10, 0)
    limit = [policies.Deadline("limit", 3600, True)]
    decision = policies.decide(now=now if not off_hook or now != 600 else 3600 - 30,
                               deadlines=limit, idle=idle, off_hook=off_hook,
                               warn_before_s=60, hangup_wait_max_s=7200)
    assert (decision.action, decision.deadline.kind) == (action, kind)


def test_the_association_limit_follows_the_desk_that_enforces_a_lower_one():
    limit = policies.AssociationLimit(10)
    assert limit.hours() == 10
    limit.host_says(SimpleNamespace(enforce_association_limit=True, association_limit_hours=4))
    assert limit.hours() == 4
    limit.host_says(SimpleNamespace(enforce_association_limit=False, association_limit_hours=4))
    assert limit.hours() == 10


@pytest.mark.parametrize(("snapshot", "light"), [
    (Snapshot(), Light.FREE),
    (Snapshot(state=State.SIGNING_IN), Light.WORKING),
    (Snapshot(state=State.ACTIVE), Light.BUSY),
    (Snapshot(state=State.ACTIVE, warning=PolicyWarning("idle", 30, True)), Light.ATTENTION),
    (Snapshot(state=State.RECONNECTING), Light.ATTENTION),
    (Snapshot(state=State.OUT_OF_ORDER), Light.FAULT),
])
def test_the_light_is_a_function_of_the_snapshot(snapshot, light):
    assert light_for(snapshot) is light


# --- the server's view ------------------------------------------------------------------------


@dataclass
class FakeSession:
    """What the server sync reads of a session."""

    online: Scope
    scope: Scope
    role: str = "agent"
    log_id: int = 1
    view: ServerView = field(default_factory=ServerView)
    live: object | None = None
    client: object | None = None


@pytest.fixture
def sync_rig(worker):
    config = SimpleNamespace(desk=SimpleNamespace(host_user_id="desk12@demo.example"),
                             session=SimpleNamespace(resync_s=300),
                             callcenter=SimpleNamespace(initial_acd_state="Available"))
    records, reports = [], []
    cleanup = SimpleNamespace(late_until=lambda: float("-inf"), late_landed=lambda: None)
    sync = ServerSync(config, worker.clock, cleanup=cleanup,
                      limit=policies.AssociationLimit(10),
                      record=lambda kind, session=None, **d: records.append((kind, d)),
                      report=reports.append)
    session = FakeSession(online=Scope(worker), scope=Scope(worker))
    session.view.acd_state = "Available"
    return sync, session, records, reports


def acd_event(state, *, sequence, stamp=None, subscription="sub-1"):
    return codec.Event(kind="AgentStateEvent", subscription_id=subscription,
                       sequence_number=sequence, acd_state=state, state_timestamp=stamp)


def test_an_event_older_than_one_applied_is_skipped(sync_rig):
    sync, session, records, _ = sync_rig
    sync.apply(session, acd_event("Wrap-Up", sequence=5))
    sync.apply(session, acd_event("Available", sequence=4))
    assert session.view.acd_state == "Wrap-Up"
    assert [r[0] for r in records] == ["acd_state_seen"]


def test_an_acd_state_older_by_its_own_timestamp_is_skipped(sync_rig):
    sync, session, _, _ = sync_rig
    sync.apply(session, acd_event("Unavailable", sequence=1, stamp=2000))
    sync.apply(session, acd_event("Available", sequence=1, stamp=1000, subscription="sub-2"))
    assert session.view.acd_state == "Unavailable"


def test_a_seat_elsewhere_is_an_eviction_recorded_with_where(sync_rig):
    sync, session, records, reports = sync_rig
    guest = codec.HotelingGuest(host_user_id="desk14@demo.example")
    assert not sync.observed(session, guest, None, why="poll")
    assert reports[-1] == Evicted("moved")
    assert records[-1] == ("evicted", {"why": "moved", "elsewhere": "desk14@demo.example"})


def test_a_read_that_finds_a_lost_event_is_a_correction(sync_rig):
    sync, session, records, _ = sync_rig
    guest = codec.HotelingGuest(host_user_id="desk12@demo.example")
    call_center = codec.CallCenter(agent_acd_state="Wrap-Up")
    assert sync.observed(session, guest, call_center, why="resync")
    assert session.view.acd_state == "Wrap-Up" and sync.corrections == 1
    assert records[-1][0] == "resync_corrected"


def test_the_kiosks_own_acd_change_goes_through_the_view(worker, sync_rig):
    """Written through the one reconciliation: the view changes once the server took it, and
    a read that was out meanwhile is read again rather than flipping the screen back."""
    sync, session, records, reports = sync_rig
    reports.clear()
    gate = threading.Event()
    session.client = SimpleNamespace(
        set_acd_state=lambda state, unavailable_code=None: gate.wait(60))
    epoch = session.view.epoch
    changing = worker.submit(lambda: sync.set_acd_state(session, "Unavailable", "LUNCH"))
    worker.submit(lambda: None).result(60)
    assert session.view.epoch > epoch  # a read overlapping the PUT will be read again
    assert session.view.acd_state == "Available"
    gate.set()
    assert changing.result(60).ok
    assert (session.view.acd_state, session.view.unavailable_code) == ("Unavailable", "LUNCH")
    assert records[-1] == ("acd_state", {"state": "Unavailable", "unavailable_code": "LUNCH"})
    assert reports == [None]  # changed: publish (once)


# --- the sign-in saga, driven by hand -----------------------------------------------------------


class FakeAgentClient:
    """An agent's client that records what the saga asked for."""

    def __init__(self, user_id):
        self.user_id = user_id
        self.asked = []
        self.session = SimpleNamespace(close=lambda: None)

    def associate(self, host, *, limit_hours):
        self.asked.append(("PUT HotelingGuest", host, limit_hours))

    def profile(self):
        self.asked.append(("GET profile",))
        return codec.Profile(user_id=self.user_id, first_name="Zoë", last_name="Müller",
                             number="0391234567", extension="4567")

    def set_acd_state(self, state, unavailable_code=None):
        self.asked.append(("PUT CallCenter", state))

    def clear_association(self):
        self.asked.append(("clear",))


@pytest.fixture
def saga_rig(tmp_path):
    from kiosk.session.recorder import Recorder
    from kiosk.session.saga import SignInSaga

    config = SimpleNamespace(
        desk=SimpleNamespace(host_user_id="desk12@demo.example"),
        callcenter=SimpleNamespace(default_domain="demo.example", initial_acd_state="Available"),
        signin=SimpleNamespace(append_domain=True, max_failures=3, cooldown_s=30),
        log=SimpleNamespace(database=tmp_path / "sessions.db"))
    rows = []
    log = SimpleNamespace(
        begin_session=lambda agent, **d: rows.append(("begin", agent)) or 1,
        journal_step=lambda session, step, phase, **d: rows.append((step, phase)),
        update_session=lambda session, **d: rows.append(("update", d)),
        activate=lambda session: rows.append(("activate",)),
        known_agent=lambda agent: False,
        fail_sign_in=lambda session, agent, reason, **d: rows.append(("failed", reason)),
        record=lambda kind, session=None, **d: rows.append((kind,)))
    phone = SimpleNamespace(serial="VX4-1", provisions=False, status="none",
                            show=lambda line, language="": None)
    clients = []

    def factory(user_id, password):
        clients.append(FakeAgentClient(user_id))
        return clients[-1]

    saga = SignInSaga(config, phone=phone, recorder=Recorder(log, lambda: None),
                      host_client=None, cleanup=SimpleNamespace(owe=lambda *a: None),
                      limit=policies.AssociationLimit(10), clock=FakeClock(),
                      agent_client_factory=factory)
    return saga, clients, rows


def drive(flow, answer=lambda asked: asked()):
    """Run a flow by hand: each yielded call answered by `answer` (a Together by each call)."""
    from kiosk.session.worker import Result, Together

    sent, rounds = None, []
    while True:
        try:
            asked = flow.send(sent)
        except StopIteration as stop:
            return stop.value, rounds
        rounds.append(asked)
        if isinstance(asked, Together):
            sent = tuple(Result(value=answer(call)) for call in asked.calls)
        else:
            sent = answer(asked)


def test_the_saga_is_two_round_trips_the_first_one_request(saga_rig):
    from kiosk.secret import Secret
    from kiosk.session.worker import Together

    saga, clients, rows = saga_rig
    seat, rounds = drive(saga.run("zoe", Secret("zoe-demo-1"), "", "en", True))
    assert len(rounds) == 2 and not isinstance(rounds[0], Together)
    assert len(rounds[1].calls) == 2
    assert clients[0].asked == [("PUT HotelingGuest", "desk12@demo.example", 10),
                                ("GET profile",), ("PUT CallCenter", "Available")]
    assert seat.user_id == "zoe@demo.example" and seat.role == "agent"
    assert seat.line.display_name == "Zoë Müller"
    assert rows[0][0] == "begin" and rows[0][1].startswith("unrecognised#")  # before it is known
    assert ("update", {"agent": "zoe@demo.example"}) in rows  # named once the server took it
    assert [s.status for s in saga.steps] == ["done", "done", "done", "done", "skipped", "done"]


def test_a_wrong_password_fails_at_the_first_request_and_counts_once(saga_rig):
    from kiosk.secret import Secret
    from kiosk.session.saga import SagaFailed

    saga, clients, rows = saga_rig
    flow = saga.run("zoe", Secret("wrong"), "", "en", True)
    next(flow)  # the association goes out ...
    with pytest.raises(SagaFailed) as failed:
        flow.throw(InvalidCredentials("401"))  # ... and the server says 401
    assert failed.value.code == "invalid_credentials"
    assert saga.throttle.failures("zoe@demo.example") == 1
    assert [r for r in rows if r[0] == "failed"] == [("failed", "invalid_credentials")]
    assert clients[0].asked == []  # nothing more was sent
