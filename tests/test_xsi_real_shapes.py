"""BroadWorks as real servers speak it: the shapes of the protocol page, compact and padded
(line breaks and indents inside values, as Cisco's examples print them), both heartbeat
spellings, two documents in one read, unavailable codes per group, and ended subscriptions.
The fixture documents are written here from the protocol page's shapes."""

from __future__ import annotations

import pytest

from kiosk.callcenter import codec
from kiosk.callcenter.events import DocumentSplitter
from kiosk.callcenter.sim.events import pad_values
from kiosk.session import State
from tests.conftest import ZOE, wait_until

NS = 'xmlns="http://schema.broadsoft.com/xsi"'
EVENT_NS = ('xmlns:xsi="http://schema.broadsoft.com/xsi" '
            'xmlns:xsi1="http://www.w3.org/2001/XMLSchema-instance"')
DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'


def both_forms(document: str) -> list[bytes]:
    """The document compact, and padded the way Cisco's examples are."""
    compact = document.encode()
    return [compact, pad_values(compact)]


def event(data_type: str, data: str, *, seq: int = 7, sub: str = "sub-1",
          target: str = "zoe@tipt.example") -> str:
    return (f'{DECLARATION}<xsi:Event {EVENT_NS} xsi1:type="xsi:SubscriptionEvent">'
            f"<xsi:eventID>ev-{seq}</xsi:eventID><xsi:sequenceNumber>{seq}</xsi:sequenceNumber>"
            f"<xsi:userId>{target}</xsi:userId>"
            "<xsi:externalApplicationId>hotdesk-kiosk</xsi:externalApplicationId>"
            f"<xsi:subscriptionId>{sub}</xsi:subscriptionId><xsi:channelId>ch-1</xsi:channelId>"
            f"<xsi:targetId>{target}</xsi:targetId>"
            f'<xsi:eventData xsi1:type="xsi:{data_type}">{data}</xsi:eventData></xsi:Event>')


# --- the codec, on every shape --------------------------------------------------------------


@pytest.mark.parametrize("padded", [0, 1], ids=["compact", "padded"])
def test_profile_keeps_the_service_provider_and_whether_it_is_an_enterprise(padded):
    body = both_forms(
        f'{DECLARATION}<Profile {NS}><details><userId>zoe@tipt.example</userId>'
        '<groupId>floor3</groupId><serviceProvider isEnterprise="true">ent1</serviceProvider>'
        "<number>0390001111</number><extension>1111</extension><firstName>Zoë</firstName>"
        "<lastName>Müller</lastName></details></Profile>")[padded]
    profile = codec.decode_profile(body)
    assert (profile.user_id, profile.group_id, profile.service_provider_id) == (
        "zoe@tipt.example", "floor3", "ent1")
    assert profile.is_enterprise is True and profile.first_name == "Zoë"


def test_a_service_provider_that_is_no_enterprise():
    body = (f'{DECLARATION}<Profile {NS}><details><groupId>g</groupId>'
            "<serviceProvider>sp9</serviceProvider></details></Profile>").encode()
    assert codec.decode_profile(body).is_enterprise is False


CODES = (f'{DECLARATION}<ACDAgentUnavailableCodes {NS}>'
         "<enableAgentUnavailableCodes>{enabled}</enableAgentUnavailableCodes>"
         "<defaultAgentUnavailableCodeOnDND>DND</defaultAgentUnavailableCodeOnDND>"
         "<defaultAgentUnavailableCodeOnPersonalCalls>PERS"
         "</defaultAgentUnavailableCodeOnPersonalCalls>"
         "<defaultAgentUnavailableCodeOnConsecutiveBounces>BNC"
         "</defaultAgentUnavailableCodeOnConsecutiveBounces>"
         "<forceUseOfAgentUnavailableCodes>{forced}</forceUseOfAgentUnavailableCodes>"
         "<unavailableCodes>"
         '<unavailableCodeDetail><active>true</active><code>LUNCH</code>'
         "<description>Lunch break</description></unavailableCodeDetail>"
         '<unavailableCodeDetail isDefault="true"><active>true</active><code>BRK</code>'
         "<description>Break</description></unavailableCodeDetail>"
         "<unavailableCodeDetail><active>false</active><code>GONE</code>"
         "<description>Retired</description></unavailableCodeDetail>"
         "</unavailableCodes></ACDAgentUnavailableCodes>")


@pytest.mark.parametrize("padded", [0, 1], ids=["compact", "padded"])
def test_unavailable_codes_offer_the_active_ones_with_the_default(padded):
    codes = codec.decode_unavailable_codes(
        both_forms(CODES.format(enabled="true", forced="false"))[padded])
    assert [c.code for c in codes.offered] == ["LUNCH", "BRK"]
    assert codes.default == "BRK" and codes.on_dnd == "DND" and not codes.forced
    assert codes.code_for_unavailable(None) is None  # not forced: no code is fine
    assert codes.code_for_unavailable("LUNCH") == "LUNCH"


def test_forced_codes_use_the_default_when_none_is_picked():
    codes = codec.decode_unavailable_codes(CODES.format(enabled="true", forced="true").encode())
    assert codes.code_for_unavailable(None) == "BRK"


def test_codes_switched_off_offer_none_and_send_none():
    codes = codec.decode_unavailable_codes(CODES.format(enabled="false", forced="true").encode())
    assert codes.offered == () and codes.code_for_unavailable("LUNCH") is None


@pytest.mark.parametrize("padded", [0, 1], ids=["compact", "padded"])
def test_call_center_details_in_the_real_order(padded):
    body = both_forms(
        f'{DECLARATION}<CallCenter {NS}><agentACDState>Available</agentACDState>'
        "<callCenterList><callCenterDetails><serviceUserId>sales@tipt.example</serviceUserId>"
        "<available>true</available><phoneNumber>0390002000</phoneNumber>"
        "<extension>2000</extension><skillLevel>3</skillLevel></callCenterDetails>"
        "</callCenterList></CallCenter>")[padded]
    cc = codec.decode_call_center(body)
    assert cc.agent_acd_state == "Available"
    assert cc.queues == (codec.Queue("sales@tipt.example", "0390002000", "2000", True, 3),)
    written = codec.encode_call_center(cc)
    assert written.index(b"<available>") < written.index(b"<phoneNumber>")


@pytest.mark.parametrize("padded", [0, 1], ids=["compact", "padded"])
def test_the_first_event_of_an_agent_subscription(padded):
    data = ("<xsi:joinData><xsi:joinInfos><xsi:joinInfo><xsi:acdUserId>sales@tipt.example"
            "</xsi:acdUserId><xsi:joined/><xsi:skillLevel>1</xsi:skillLevel></xsi:joinInfo>"
            "</xsi:joinInfos></xsi:joinData><xsi:stateInfo><xsi:state>Unavailable</xsi:state>"
            "<xsi:stateTimestamp><xsi:value>1764750000000</xsi:value></xsi:stateTimestamp>"
            "<xsi:unavailableCode>BRK</xsi:unavailableCode></xsi:stateInfo>")
    item = codec.decode_stream_document(
        both_forms(event("AgentSubscriptionEvent", data))[padded])
    assert (item.kind, item.acd_state, item.unavailable_code) == (
        "AgentSubscriptionEvent", "Unavailable", "BRK")
    assert item.state_timestamp == 1764750000000
    assert (item.subscription_id, item.target_id, item.sequence_number) == (
        "sub-1", "zoe@tipt.example", 7)


@pytest.mark.parametrize("stamp", ["<xsi:value>1764750001234</xsi:value>", "1764750001234"],
                         ids=["value", "plain"])
def test_a_state_timestamp_in_either_form(stamp):
    data = ("<xsi:agentStateInfo><xsi:state>Wrap-Up</xsi:state>"
            f"<xsi:stateTimestamp>{stamp}</xsi:stateTimestamp></xsi:agentStateInfo>")
    for body in both_forms(event("AgentStateEvent", data)):
        item = codec.decode_stream_document(body)
        assert (item.acd_state, item.state_timestamp) == ("Wrap-Up", 1764750001234)


@pytest.mark.parametrize("padded", [0, 1], ids=["compact", "padded"])
def test_a_hoteling_guest_event_reads_the_host_trimmed(padded):
    data = ("<xsi:info><xsi:active>true</xsi:active><xsi:hostUserId>desk12@tipt.example"
            "</xsi:hostUserId><xsi:hostLastName>12</xsi:hostLastName></xsi:info>")
    item = codec.decode_stream_document(both_forms(event("HotelingGuestEvent", data))[padded])
    assert item.guest.host_user_id == "desk12@tipt.example" and item.guest.active is True


def test_an_ended_subscription_and_an_ended_channel():
    ended = codec.decode_stream_document(event("SubscriptionTerminatedEvent", "").encode())
    assert ended.kind == "SubscriptionTerminatedEvent" and ended.subscription_id == "sub-1"
    channel_end = (f'{DECLARATION}<xsi:Event {EVENT_NS} xsi1:type="xsi:ChannelTerminatedEvent">'
                   "<xsi:channelId>ch-1</xsi:channelId><xsi:reason>Expired</xsi:reason>"
                   "</xsi:Event>")
    for body in both_forms(channel_end):
        item = codec.decode_stream_document(body)
        assert (item.kind, item.channel_id, item.reason) == (
            "ChannelTerminatedEvent", "ch-1", "Expired")
        assert not item.needs_ack


HEARTBEATS = [f"{DECLARATION}<ChannelHeartBeat {NS}/>".encode(),
              f"<ChannelHeartbeat {NS}/>".encode()]


@pytest.mark.parametrize("heartbeat", HEARTBEATS, ids=["declared", "bare"])
@pytest.mark.parametrize("chunk", [1, 5, 64, 100_000])
def test_no_event_is_lost_to_a_heartbeat_in_the_same_read(heartbeat, chunk):
    change = event("AgentStateEvent", "<xsi:agentStateInfo><xsi:state>Available</xsi:state>"
                   "</xsi:agentStateInfo>").encode()
    stream = heartbeat + change + heartbeat + b"\n" + pad_values(change) + heartbeat
    splitter, documents = DocumentSplitter(), []
    for start in range(0, len(stream), chunk):
        documents += splitter.feed(stream[start:start + chunk])
    items = [codec.decode_stream_document(d) for d in documents]
    assert [type(i).__name__ for i in items] == [
        "ChannelHeartBeat", "Event", "ChannelHeartBeat", "Event", "ChannelHeartBeat"]
    assert [i.acd_state for i in items if isinstance(i, codec.Event)] == ["Available"] * 2


# --- the kiosk on the simulator in its real shapes ------------------------------------------


def test_the_kiosk_offers_the_groups_active_codes_and_sets_unavailable_with_one(make_unit, sim):
    unit = make_unit()
    assert unit.engine.sign_in("zoe", ZOE[1]).result(10).ok
    assert wait_until(lambda: unit.engine.snapshot.unavailable_codes)
    assert unit.engine.snapshot.unavailable_codes == (
        ("10", "Lunch"), ("20", "Meeting"), ("30", "Training"))  # not the retired "40"
    assert unit.engine.set_acd_state("Unavailable", "20").result(10).ok
    assert (unit.acd(ZOE[0]), sim.inspect()["users"][ZOE[0]]["unavailable_code"]) == (
        "Unavailable", "20")


def test_a_group_that_forces_codes_gets_its_default(make_unit, sim):
    group = sim.model.directory.groups["demo"]
    group.force_unavailable_codes = True
    unit = make_unit()
    assert unit.engine.sign_in("zoe", ZOE[1]).result(10).ok
    assert wait_until(lambda: unit.engine.snapshot.unavailable_codes)
    assert unit.engine.set_acd_state("Unavailable").result(10).ok  # no code picked
    assert sim.inspect()["users"][ZOE[0]]["unavailable_code"] == "10"  # the group's default


def test_a_group_without_codes_offers_none(make_unit, sim):
    sim.model.directory.groups["demo"].enable_unavailable_codes = False
    unit = make_unit()
    assert unit.engine.sign_in("zoe", ZOE[1]).result(10).ok
    unit.engine.settle()
    assert unit.engine.snapshot.unavailable_codes == ()
    assert unit.engine.set_acd_state("Unavailable", "20").result(10).ok  # no code sent
    assert sim.inspect()["users"][ZOE[0]]["unavailable_code"] is None


def test_every_value_padded_signs_in_and_out_without_a_false_eviction(make_unit, sim):
    sim.set_shapes(pad=True)
    unit = make_unit()
    assert unit.engine.sign_in("zoe", ZOE[1]).result(10).ok
    assert wait_until(lambda: unit.engine.snapshot.push)
    assert unit.engine.snapshot.agent.display_name == "Zoë Müller"
    sim.supervisor_sets(ZOE[0], "Wrap-Up")  # a padded event
    assert wait_until(lambda: unit.engine.snapshot.agent.acd_state == "Wrap-Up")
    unit.advance(15)  # padded heartbeat answers
    unit.advance(300)  # and a padded resync
    assert unit.engine.snapshot.state is State.ACTIVE
    assert unit.sign_out().ok
    assert unit.desk_guest() is None and unit.owed() == []
    kinds = [r["kind"] for r in unit.query("SELECT kind FROM events")]
    assert "evicted" not in kinds and "resync_corrected" not in kinds, unit.query(
        "SELECT kind, detail FROM events WHERE kind IN ('evicted', 'resync_corrected')")


def test_a_supervisors_change_shows_after_the_server_ended_the_subscriptions(make_unit, sim):
    unit = make_unit()
    assert unit.engine.sign_in("zoe", ZOE[1]).result(10).ok
    assert wait_until(lambda: unit.engine.snapshot.push)
    assert sim.end_subscriptions(ZOE[0]) == 2  # the channel stays up; nothing more would come
    assert wait_until(lambda: not unit.engine.snapshot.push)  # polling meanwhile
    sim.supervisor_sets(ZOE[0], "Unavailable", "30")
    unit.advance(15)  # the heartbeat polls at once, never waiting for a refresh to fail
    assert unit.engine.snapshot.agent.unavailable_code == "30"
    unit.advance(15)  # subscribed again after the back-off
    assert wait_until(lambda: unit.engine.snapshot.push)
    sim.supervisor_sets(ZOE[0], "Available")
    assert wait_until(lambda: unit.engine.snapshot.agent.acd_state == "Available")


@pytest.mark.parametrize("form", ["declared", "bare"])
def test_the_kiosk_keeps_every_event_with_either_heartbeat(make_unit, sim, form):
    sim.set_shapes(heartbeat=form)
    unit = make_unit()
    assert unit.engine.sign_in("zoe", ZOE[1]).result(10).ok
    assert wait_until(lambda: unit.engine.snapshot.push)
    for state in ("Unavailable", "Wrap-Up", "Available"):
        unit.advance(15)  # a heartbeat on the stream ...
        sim.supervisor_sets(ZOE[0], state, "10" if state == "Unavailable" else None)
        assert wait_until(lambda s=state: unit.engine.snapshot.agent.acd_state == s)
    assert unit.engine.snapshot.push
