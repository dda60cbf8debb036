"""Xsi-Events against the simulator over real HTTP: the stream, heartbeats, subscriptions with
their first event, an event on every change whoever makes it, acknowledgements, and the
channel's end."""

from __future__ import annotations

import pytest

from kiosk.callcenter import codec
from kiosk.callcenter.events import DocumentSplitter, EventChannel
from kiosk.config import from_dict
from kiosk.errors import InvalidCredentials, Rejected
from kiosk.secret import Secret
from tests.conftest import DESK12, ZOE, unit_settings, wait_until

SAM = ("sam@demo.example", "sam-demo-1")


@pytest.fixture
def callcenter(sim, tmp_path):
    return from_dict(unit_settings(tmp_path, url=sim.url)).callcenter


class Recorder:
    def __init__(self):
        self.events: list[codec.Event] = []
        self.closed: list[str] = []


    def event(self, event):
        self.events.append(event)

    def kinds(self):
        return [e.kind for e in self.events]


def open_channel(callcenter, user=ZOE, **kwargs):
    recorder = Recorder()
    channel = EventChannel(callcenter, user[0], Secret(user[1]),
                           channel_set_id="hotdesk-desk12", application_id="hotdesk-kiosk",
                           **kwargs)
    channel.when_event = recorder.event
    channel.when_closed = recorder.closed.append
    channel.open()
    return channel, recorder


def test_first_events_then_a_change_made_elsewhere(sim, callcenter):
    channel, seen = open_channel(callcenter)
    try:
        assert wait_until(lambda: len(seen.events) == 2)
        assert sorted(seen.kinds()) == ["AgentSubscriptionEvent", "HotelingGuestEvent"]
        first = {e.kind: e for e in seen.events}
        assert first["AgentSubscriptionEvent"].acd_state == "Sign-Out"
        assert first["HotelingGuestEvent"].guest.host_user_id is None
        sim.supervisor_sets(ZOE[0], "Unavailable", "20")
        assert wait_until(lambda: "AgentStateEvent" in seen.kinds())
        change = seen.events[-1]
        assert (change.acd_state, change.unavailable_code) == ("Unavailable", "20")
        assert change.target_id == ZOE[0]
        state = sim.inspect()["events"]
        assert wait_until(lambda: sim.inspect()["events"]["unacknowledged"] == 0)
        assert state["pushed"] == 3 and len(state["subscriptions"]) == 2
    finally:
        channel.close()
    state = sim.inspect()["events"]
    assert state["channels"] == [] and state["subscriptions"] == []
    assert state["acknowledged"] == 3


def test_an_actions_change_is_pushed_too(sim, callcenter, xsi):
    channel, seen = open_channel(callcenter)
    try:
        assert wait_until(lambda: len(seen.events) == 2)
        xsi(ZOE).associate(DESK12[0], limit_hours=8)
        assert wait_until(lambda: seen.kinds().count("HotelingGuestEvent") == 2)
        assert seen.events[-1].guest.host_user_id == DESK12[0]
    finally:
        channel.close()


def test_a_supervisor_gets_hoteling_events_only(sim, callcenter):
    channel, seen = open_channel(callcenter, user=SAM)
    try:
        assert list(channel.subscriptions) == ["Hoteling Guest"]
        assert wait_until(lambda: seen.kinds() == ["HotelingGuestEvent"])
    finally:
        channel.close()


def test_a_required_package_the_user_lacks_fails_the_open(sim, callcenter):
    """The kiosk asks for every package it will rely on: one refused means polling, never a
    channel that silently watches half of it."""
    from kiosk.errors import Rejected

    with pytest.raises(Rejected):
        open_channel(callcenter, user=SAM, require_all=True)
    assert wait_until(lambda: sim.inspect()["events"]["channels"] == [])


def test_a_server_restart_closes_the_channel(sim, callcenter):
    channel, seen = open_channel(callcenter)
    try:
        sim.events.cut_all()
        assert wait_until(lambda: seen.closed != [])
        assert "cut" in seen.closed[0] or "ended" in seen.closed[0]
    finally:
        channel.close()


def test_a_terminated_channel_says_why(sim, callcenter):
    channel, seen = open_channel(callcenter)
    try:
        sim.events.delete_channel(channel.channel_id)
        assert wait_until(lambda: seen.closed == ["the channel was terminated"])
    finally:
        channel.close()


def _crashed_channel(callcenter) -> list[str]:
    """A channel whose process died after subscribing: nothing deleted. Returns the
    subscription IDs its journal kept."""
    journal: list[str] = []

    def journaled(channel):
        channel.when_subscribed = lambda package, sub: journal.append(sub)

    recorder = Recorder()
    crashed = EventChannel(callcenter, ZOE[0], Secret(ZOE[1]), channel_set_id="hotdesk-desk12",
                           application_id="hotdesk-kiosk")
    journaled(crashed)
    crashed.when_event = recorder.event
    crashed.open()
    crashed._stop.set()
    crashed._stream_session.close()
    return journal


def test_a_subscription_left_over_from_a_crash_is_deleted_by_its_journaled_id(sim, callcenter):
    """The Xsi interface documents no request that lists a user's subscriptions: the IDs
    journaled when they were made are what a real server lets us delete after a 409."""
    left = _crashed_channel(callcenter)
    assert len(left) == 2
    gone: list[str] = []
    channel = EventChannel(callcenter, ZOE[0], Secret(ZOE[1]), channel_set_id="hotdesk-desk12",
                           application_id="hotdesk-kiosk")
    channel.leftovers = lambda: list(left)
    channel.when_unsubscribed = gone.append
    try:
        channel.open()  # 409 on subscribe: the old ones are deleted by ID
        assert set(channel.subscriptions) == set(codec.EVENT_PACKAGES)
        subs = sim.inspect()["events"]["subscriptions"]
        assert len(subs) == 2 and {s["id"] for s in subs} == set(channel.subscriptions.values())
        assert sorted(gone) == sorted(left)
    finally:
        channel.close()


def test_a_leftover_without_a_journal_fails_the_open_and_the_kiosk_polls(sim, callcenter):
    _crashed_channel(callcenter)
    with pytest.raises(Rejected) as refused:
        open_channel(callcenter, require_all=True)
    assert refused.value.status == 409


def test_wrong_password_is_refused_once(sim, callcenter):
    with pytest.raises(InvalidCredentials):
        open_channel(callcenter, user=(ZOE[0], "wrong"))
    assert sim.inspect()["users"][ZOE[0]]["failed_logins"] == 1


def test_documents_are_split_and_a_malformed_one_skipped():
    splitter = DocumentSplitter()
    heartbeat = b'<?xml version="1.0"?><ChannelHeartBeat xmlns="http://schema.broadsoft.com/xsi"/>'
    broken = b'<?xml version="1.0"?><Event xmlns="http://schema.broadsoft.com/xsi"><oops'
    stream = heartbeat + broken + heartbeat
    documents = []
    for i in range(0, len(stream), 7):  # the network cuts anywhere
        documents += splitter.feed(stream[i:i + 7])
    assert documents == [heartbeat, broken, heartbeat]
    assert isinstance(codec.decode_stream_document(documents[0]), codec.ChannelHeartBeat)


def test_the_watch_command_prints_events_as_json_lines(sim, unit_config):
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT

    process = subprocess.Popen(
        [sys.executable, "-m", "kiosk", "callcenter", "watch", "--config", str(unit_config()),
         "--user", "zoe", "--password-stdin", "--json"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        process.stdin.write(ZOE[1] + "\n")
        process.stdin.close()
        first = [json.loads(process.stdout.readline()) for _ in range(2)]
        assert sorted(e["kind"] for e in first) == ["AgentSubscriptionEvent",
                                                     "HotelingGuestEvent"]
        sim.supervisor_sets(ZOE[0], "Unavailable", "20")
        change = json.loads(process.stdout.readline())
        assert change["kind"] == "AgentStateEvent" and change["unavailable_code"] == "20"
    finally:
        process.send_signal(2)
        assert process.wait(timeout=15) == 0, process.stderr.read()
    assert sim.inspect()["events"]["channels"] == []
    assert ZOE[1] not in process.stderr.read()


def test_the_watch_command_with_a_wrong_password_exits_3(unit_config):
    import subprocess
    import sys

    from tests.conftest import ROOT

    result = subprocess.run(
        [sys.executable, "-m", "kiosk", "callcenter", "watch", "--config", str(unit_config()),
         "--user", "zoe", "--password-stdin"], input="wrong\n", capture_output=True,
        text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 3 and "Traceback" not in result.stderr


def _event(kind: str, subscription: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?><xsi:Event '
            'xmlns:xsi="http://schema.broadsoft.com/xsi" '
            'xmlns:xsi1="http://www.w3.org/2001/XMLSchema-instance" '
            'xsi1:type="xsi:SubscriptionEvent"><xsi:eventID>e-1</xsi:eventID>'
            f'<xsi:subscriptionId>{subscription}</xsi:subscriptionId>'
            '<xsi:targetId>zoe@demo.example</xsi:targetId>'
            f'<xsi:eventData xsi1:type="xsi:{kind}"><xsi:whatever/></xsi:eventData>'
            '</xsi:Event>').encode()


def test_unknown_events_and_other_subscriptions_are_acknowledged_and_ignored(sim, callcenter):
    channel, seen = open_channel(callcenter)
    try:
        assert wait_until(lambda: len(seen.events) == 2)
        before = sim.inspect()["events"]["acknowledged"]
        ours = next(iter(channel.subscriptions.values()))
        assert channel._handle(_event("AgentStateEvent", "not-ours")) is False
        assert channel._handle(_event("AgentStateEvent", ours).replace(
            b"zoe@demo.example", b"other@demo.example")) is False
        assert channel._handle(_event("CallCenterAgentSomethingNewEvent", ours)) is False
        assert sim.inspect()["events"]["acknowledged"] == before + 3  # all acknowledged
        assert seen.kinds()[2:] == ["CallCenterAgentSomethingNewEvent"]  # only ours handed on
        assert seen.events[-1].acd_state is None
    finally:
        channel.close()
