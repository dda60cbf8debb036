"""The Xsi client against the simulated Call Center over real HTTP and HTTPS on loopback."""

from __future__ import annotations

import logging
import time

import pytest
import requests

from kiosk.callcenter import XsiClient
from kiosk.errors import (
    InvalidCredentials,
    NotFound,
    NotPermitted,
    ProtocolError,
    Rejected,
    ServerBusy,
    Unreachable,
)
from kiosk.secret import Secret
from tests.conftest import ADMIN, DESK12, MAI, ZOE


def seat_of(sim, user_id):
    return sim.inspect()["users"][user_id].get("host")


def test_profile_over_http(xsi):
    profile = xsi(MAI).profile()
    assert profile.user_id == "mai@demo.example"
    assert (profile.first_name, profile.last_name) == ("Mai", "Nguyễn")
    assert (profile.number, profile.extension) == ("0391234568", "4568")


def test_iso_8859_1_names_come_out_right(xsi, sim):
    client = xsi(ZOE)
    profile = client.profile()
    assert (profile.first_name, profile.last_name) == ("Zoë", "Müller")
    raw = client.session.get(client.url("user", ZOE[0], "profile"), verify=client.verify)
    assert b'encoding="ISO-8859-1"' in raw.content and "Zoë".encode("latin-1") in raw.content


def test_a_whole_sign_in_costs_three_requests(xsi, sim):
    client = xsi(ZOE)
    client.profile()
    client.associate(DESK12[0], limit_hours=8)
    client.set_acd_state("Available")
    state = sim.inspect()
    assert state["requests_total"] == 3
    assert state["users"][ZOE[0]]["host"] == DESK12[0]
    assert state["users"][ZOE[0]]["acd_state"] == "Available"
    assert client.requests_sent == 3


def test_the_session_cookie_is_reused(xsi, sim):
    client = xsi(ZOE)
    for _ in range(4):
        client.profile()
    stats = sim.inspect()["users"][ZOE[0]]
    assert stats["requests"] == 4
    assert stats["with_cookie"] == 3  # every request after the first carried the cookie
    assert "JSESSIONID" in client.session.cookies


def test_close_logs_out_of_the_cookie_session(xsi, sim):
    client = xsi(ZOE)
    client.profile()
    cookie = client.session.cookies["JSESSIONID"]
    client.close()
    client.close()  # twice is harmless
    assert cookie not in sim.model.cookies


def test_user_agent_names_the_product(xsi, sim):
    client = xsi(ZOE)
    assert client.session.headers["User-Agent"].startswith("hotdesk-kiosk/")


# --- error mapping, one per error -----------------------------------------------------------


def test_wrong_password_is_invalid_credentials_and_sent_exactly_once(xsi, sim):
    sim.faults.update(fail_next=0)
    with pytest.raises(InvalidCredentials) as info:
        xsi((ZOE[0], "wrong-password")).profile()
    assert isinstance(info.value, PermissionError)
    assert info.value.status == 401
    assert "wrong-password" not in str(info.value)
    assert sim.inspect()["users"][ZOE[0]]["requests"] == 1
    assert sim.inspect()["users"][ZOE[0]]["failed_logins"] == 1


def test_another_users_data_is_not_permitted(xsi):
    with pytest.raises(NotPermitted) as info:
        xsi(ZOE).profile(MAI[0])
    assert info.value.status == 403


def test_unknown_user_is_not_found(xsi):
    with pytest.raises(NotFound):
        xsi(ADMIN).profile("nobody@demo.example")


def test_rule_broken_is_rejected_with_code_and_summaries(xsi):
    # desk15's Hoteling Host service is inactive; François reads French.
    with pytest.raises(Rejected) as info:
        xsi(("francois@demo.example", "francois-demo-1")).associate(
            "desk15@demo.example", limit_hours=8)
    error = info.value
    assert error.status == 400 and error.code == 4002
    assert "Hoteling Host" in error.summary_english
    assert "hôte" in error.summary.lower()


def test_503_then_200_succeeds(xsi, sim):
    sim.faults.update(fail_next=2)
    assert xsi(ZOE).profile().user_id == ZOE[0]
    assert sim.inspect()["users"][ZOE[0]]["requests"] == 3


def test_503_that_persists_is_server_busy(xsi, sim):
    sim.faults.update(fail_next=10)
    with pytest.raises(ServerBusy) as info:
        xsi(ZOE, retries=2, backoff_s=0.01).profile()
    assert isinstance(info.value, ConnectionError)
    assert sim.inspect()["users"][ZOE[0]]["requests"] == 3  # one try and two retries


def test_retry_after_is_honoured(xsi, sim):
    sim.faults.update(fail_next=1, retry_after=1)
    started = time.monotonic()
    xsi(ZOE, backoff_s=0.0).profile()
    assert time.monotonic() - started >= 1.0


def test_retries_stop_at_the_deadline(xsi, sim):
    sim.faults.update(fail_next=10, retry_after=3)
    with pytest.raises(ServerBusy):
        xsi(ZOE, retries=5, retry_deadline_s=1.0).profile()
    # a retry would have had to wait 3 s, past the 1 s deadline: so none was made
    assert sim.inspect()["users"][ZOE[0]]["requests"] == 1


def test_a_dropped_connection_is_retried(xsi, sim):
    sim.faults.update(drop_next=1)
    assert xsi(ZOE).profile().user_id == ZOE[0]


def test_dropped_connections_that_persist_are_unreachable(xsi, sim):
    sim.faults.update(drop_next=10)
    with pytest.raises(Unreachable) as info:
        xsi(ZOE, retries=1, backoff_s=0.01).profile()
    assert info.value.cause == "reset"


def test_malformed_body_is_a_protocol_error(xsi, sim):
    sim.faults.update(malformed_next=1)
    with pytest.raises(ProtocolError):
        xsi(ZOE).profile()


def test_latency_above_read_timeout_fails_within_the_bound(xsi, sim):
    sim.faults.update(latency_s=1.5)
    with pytest.raises(Unreachable) as info:
        xsi(ZOE, timeout=(1.0, 0.5)).profile()
    assert info.value.cause == "timeout"  # the read timeout, before the answer came
    assert sim.inspect()["users"][ZOE[0]]["requests"] == 1  # and not retried


def test_connection_refused_is_unreachable(unused_port):
    client = XsiClient(f"http://127.0.0.1:{unused_port}/xsi", *ZOE)
    with pytest.raises(Unreachable) as info:
        client.profile()
    assert info.value.cause == "refused"
    assert "127.0.0.1" in str(info.value)


def test_unresolvable_name_is_unreachable_dns():
    client = XsiClient("https://xsp.invalid/com.broadsoft.xsi-actions/v2.0", *ZOE,
                       timeout=(2, 2))
    with pytest.raises(Unreachable) as info:
        client.profile()
    assert info.value.cause == "dns"


def test_redirect_is_not_followed(redirecting_server):
    client = XsiClient(redirecting_server, *ZOE)
    with pytest.raises(ProtocolError) as info:
        client.profile()
    assert info.value.status == 302


# --- TLS ------------------------------------------------------------------------------------


def test_https_with_the_trusted_ca(tls_sim):
    client = XsiClient(tls_sim.url, *ZOE, ca_bundle=tls_sim.ca_path)
    assert client.profile().first_name == "Zoë"


def test_https_with_an_untrusted_certificate_is_unreachable_tls(tls_sim):
    client = XsiClient(tls_sim.url, *ZOE)  # the system store does not know the test CA
    with pytest.raises(Unreachable) as info:
        client.profile()
    assert info.value.cause == "tls"
    assert "TLS" in str(info.value)
    assert tls_sim.inspect()["requests_total"] == 0


def test_environment_ca_variables_do_not_add_trust(tls_sim, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_sim.ca_path))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(tls_sim.ca_path))
    with pytest.raises(Unreachable) as info:
        XsiClient(tls_sim.url, *ZOE).profile()
    assert info.value.cause == "tls"


def test_environment_ca_variables_do_not_replace_the_configured_bundle(tls_sim, monkeypatch,
                                                                       tmp_path):
    empty = tmp_path / "other.pem"
    empty.write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(empty))
    client = XsiClient(tls_sim.url, *ZOE, ca_bundle=tls_sim.ca_path)
    assert client.profile().user_id == ZOE[0]


# --- secrets --------------------------------------------------------------------------------


def test_password_appears_in_no_error_or_log(xsi, sim, caplog):
    caplog.set_level(logging.DEBUG)
    password = Secret("a-very-secret-pw")
    sim.faults.update(fail_next=1)
    with pytest.raises(InvalidCredentials) as info:
        xsi((ZOE[0], password)).profile()
    text = str(info.value) + repr(info.value) + caplog.text
    assert "a-very-secret-pw" not in text


def test_hoteling_operations_round_trip(xsi, sim):
    agent = xsi(ZOE)
    agent.associate(DESK12[0], limit_hours=8)
    guest = agent.hoteling_guest()
    assert guest.host_user_id == DESK12[0]
    assert guest.association_limit_hours == 8
    host = xsi(DESK12)
    seen = host.hoteling_host()
    assert (seen.guest_first_name, seen.guest_last_name) == ("Zoë", "Müller")
    host.force_release()
    assert agent.hoteling_guest().host_user_id is None
    assert seat_of(sim, ZOE[0]) is None


def test_acd_state_and_unavailable_code(xsi):
    agent = xsi(ZOE)
    agent.set_acd_state("Unavailable", unavailable_code="10")
    cc = agent.call_center()
    assert (cc.agent_acd_state, cc.agent_unavailable_code) == ("Unavailable", "10")
    assert [q.service_user_id for q in cc.queues] == ["sales@demo.example"]
    assert agent.acd_state() == "Unavailable"
    codes = agent.unavailable_codes(agent.profile())
    assert [(c.code, c.description) for c in codes.offered] == [
        ("10", "Lunch"), ("20", "Meeting"), ("30", "Training")]  # the retired one left out
    assert codes.default == "10" and codes.enabled and not codes.forced


def test_unavailable_codes_send_the_enterprise_the_profile_names(xsi, sim):
    agent = xsi(ZOE)
    profile = agent.profile()
    assert (profile.service_provider_id, profile.is_enterprise) == ("demo-ent", True)
    sim.traffic.clear()
    agent.unavailable_codes(profile)
    (request,) = [r["request"] for r in sim.traffic.snapshot()]
    assert request.endswith("/group/demo/services/CallCenter/UnavailableCodes")
    raw = agent.session.get(agent.url("group", "demo", "services", "CallCenter",
                                      "UnavailableCodes"), verify=agent.verify)
    assert raw.status_code == 400  # a real server requires enterpriseId or serviceProviderId
    wrong = agent.session.get(agent.url("group", "demo", "services", "CallCenter",
                                        "UnavailableCodes"),
                              params={"serviceProviderId": "demo-ent"}, verify=agent.verify)
    assert wrong.status_code == 400  # the group belongs to an enterprise


def test_clear_association_leaves_the_desk(xsi, sim):
    agent = xsi(MAI)
    agent.associate(DESK12[0], limit_hours=8)
    agent.clear_association()
    assert seat_of(sim, MAI[0]) is None
    assert sim.inspect()["seating"][DESK12[0]] is None


def test_available_hosts_lists_active_desks(xsi):
    hosts = xsi(ZOE).available_hosts().host_user_ids
    assert "desk12@demo.example" in hosts and "desk15@demo.example" not in hosts


def test_requests_session_is_injectable(sim):
    session = requests.Session()
    client = XsiClient(sim.url, *ZOE, session=session)
    client.profile()
    assert client.session is session and "JSESSIONID" in session.cookies
