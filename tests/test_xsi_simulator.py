"""The simulated Call Center keeps the contract's rules, as strictly as the real thing."""

from __future__ import annotations

import json
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
import requests

from kiosk.callcenter import codec
from kiosk.callcenter.sim import DirectoryError, SimulatedCallCenter, load_directory
from kiosk.callcenter.sim.directory import parse_directory
from kiosk.callcenter.urls import XsiUrls
from kiosk.errors import InvalidCredentials, NotFound, NotPermitted, Rejected
from tests.conftest import ADMIN, DESK12, DESK14, MAI, ROOT, ZOE


def raw(sim, method, path, credentials=ZOE, body=None):
    return requests.request(method, sim.url + path, auth=credentials, data=body, timeout=5,
                            allow_redirects=False)


def test_every_request_needs_basic_auth(sim):
    response = requests.get(sim.url + "/user/zoe@demo.example/profile", timeout=5)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_bare_user_path_is_404(sim):
    assert raw(sim, "GET", "/user/zoe@demo.example").status_code == 404


def test_unknown_path_is_404(sim):
    assert raw(sim, "GET", "/user/zoe@demo.example/services/Voicemail").status_code == 404
    assert raw(sim, "GET", "/nothing").status_code == 404


def test_service_paths_match_in_any_case(sim):
    for path in ("services/HotelingGuest", "services/hotelingguest", "services/HOTELINGGUEST"):
        response = raw(sim, "GET", f"/user/zoe@demo.example/{path}")
        assert response.status_code == 200, path
        assert codec.decode_hoteling_guest(response.content).active is True


def test_session_cookie_issued_and_j_logout_ends_it(sim):
    session = requests.Session()
    session.auth = ZOE
    first = session.get(sim.url + "/user/zoe@demo.example/profile", timeout=5)
    cookie = first.cookies["JSESSIONID"]
    assert sim.model.cookies[cookie] == ZOE[0]
    session.get(sim.url + "/user/zoe@demo.example/profile/j_logout", timeout=5)
    assert cookie not in sim.model.cookies


def test_403_across_users(xsi):
    with pytest.raises(NotPermitted):
        xsi(ZOE).hoteling_guest(MAI[0])
    with pytest.raises(NotPermitted):
        xsi(ZOE).set_acd_state("Available", user_id=MAI[0])


def test_admin_may_act_on_anyone(xsi, sim):
    xsi(ADMIN).set_acd_state("Available", user_id=MAI[0])
    assert sim.inspect()["users"][MAI[0]]["acd_state"] == "Available"


def test_host_may_force_release_its_guest(xsi, sim):
    xsi(ZOE).associate(DESK12[0], limit_hours=8)
    xsi(DESK12).force_release()
    assert sim.inspect()["seating"][DESK12[0]] is None
    assert xsi(ZOE).hoteling_guest().host_user_id is None


def test_host_may_read_its_current_guest_but_no_one_else(xsi):
    xsi(ZOE).associate(DESK12[0], limit_hours=8)
    assert xsi(DESK12).hoteling_guest(ZOE[0]).host_user_id == DESK12[0]
    with pytest.raises(NotPermitted):
        xsi(DESK12).hoteling_guest(MAI[0])


def test_occupied_host_rejected_by_default(xsi, sim):
    xsi(ZOE).associate(DESK12[0], limit_hours=8)
    with pytest.raises(Rejected) as info:
        xsi(MAI).associate(DESK12[0], limit_hours=8)
    assert info.value.code == 4004
    assert sim.inspect()["seating"][DESK12[0]] == ZOE[0]


def test_occupied_host_replaced_when_switched(xsi, sim):
    sim.model.set_modes(occupied="replace")
    xsi(ZOE).associate(DESK12[0], limit_hours=8)
    xsi(MAI).associate(DESK12[0], limit_hours=8)
    state = sim.inspect()
    assert state["seating"][DESK12[0]] == MAI[0]
    assert state["users"][ZOE[0]]["host"] is None


def test_guest_elsewhere_rejected_by_default(xsi, sim):
    xsi(ZOE).associate(DESK12[0], limit_hours=8)
    with pytest.raises(Rejected) as info:
        xsi(ZOE).associate(DESK14[0], limit_hours=8)
    assert info.value.code == 4005


def test_guest_elsewhere_moved_when_switched(xsi, sim):
    sim.model.set_modes(moved="move")
    xsi(ZOE).associate(DESK12[0], limit_hours=8)
    xsi(ZOE).associate(DESK14[0], limit_hours=8)
    seating = sim.inspect()["seating"]
    assert seating[DESK12[0]] is None and seating[DESK14[0]] == ZOE[0]


def test_guest_limit_above_the_hosts_is_rejected(xsi, sim):
    with pytest.raises(Rejected) as info:
        xsi(ZOE).associate(DESK14[0], limit_hours=9)  # desk14 enforces 8 hours
    assert info.value.code == 4003
    xsi(ZOE).associate(DESK14[0], limit_hours=8)
    assert sim.inspect()["seating"][DESK14[0]] == ZOE[0]


def test_host_that_does_not_exist_or_is_inactive_is_rejected(xsi):
    with pytest.raises(Rejected) as missing:
        xsi(ZOE).associate("nodesk@demo.example", limit_hours=8)
    with pytest.raises(Rejected) as inactive:
        xsi(ZOE).associate("desk15@demo.example", limit_hours=8)
    assert (missing.value.code, inactive.value.code) == (4001, 4002)


def test_host_with_active_false_is_rejected(sim):
    body = codec.render_fields("HotelingGuest", codec.GUEST_SPEC,
                               {"active": False, "host_user_id": DESK12[0]})
    response = raw(sim, "PUT", "/user/zoe@demo.example/services/HotelingGuest", body=body)
    assert response.status_code == 400
    assert codec.decode_error_info(response.content).error_code == 4006


def test_put_changes_only_present_elements_and_nil_clears(xsi, sim):
    agent = xsi(ZOE)
    agent.associate(DESK12[0], limit_hours=7)
    body = codec.render_fields("HotelingGuest", codec.GUEST_SPEC, {"association_limit_hours": 6})
    assert raw(sim, "PUT", "/user/zoe@demo.example/services/HotelingGuest",
               body=body).status_code == 200
    guest = agent.hoteling_guest()
    assert (guest.host_user_id, guest.association_limit_hours) == (DESK12[0], 6)
    agent.clear_association()  # hostUserId xsi:nil="true"
    guest = agent.hoteling_guest()
    assert guest.host_user_id is None and guest.association_limit_hours == 6


def test_read_only_elements_are_ignored(xsi, sim):
    body = codec.render_fields("HotelingGuest", codec.GUEST_SPEC,
                               {"host_last_name": "Forged", "host_association_limit_hours": 3})
    assert raw(sim, "PUT", "/user/zoe@demo.example/services/HotelingGuest",
               body=body).status_code == 200
    assert xsi(ZOE).hoteling_guest().host_last_name is None


def test_malformed_request_body_is_400(sim):
    response = raw(sim, "PUT", "/user/zoe@demo.example/services/HotelingGuest", body=b"<oops")
    assert response.status_code == 400


def test_host_and_guest_views_stay_in_sync(xsi):
    agent, host = xsi(MAI), xsi(DESK12)
    agent.associate(DESK12[0], limit_hours=8)
    seen = host.hoteling_host()
    assert (seen.guest_first_name, seen.guest_last_name) == ("Mai", "Nguyễn")
    assert seen.guest_extension == "4568"
    assert agent.hoteling_guest().host_first_name == "Desk"
    assert seen.guest_association_date_time == agent.hoteling_guest().host_association_date_time
    agent.clear_association()
    assert not host.hoteling_host().has_guest


def test_lockout_after_n_failures(xsi, sim):
    sim.set_faults(lock_after=2)
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            xsi((ZOE[0], "nope")).profile()
    with pytest.raises(InvalidCredentials):  # the right password no longer helps
        xsi(ZOE).profile()
    assert sim.inspect()["users"][ZOE[0]]["locked"] is True


def test_success_resets_the_failure_count(xsi, sim):
    sim.set_faults(lock_after=2)
    with pytest.raises(InvalidCredentials):
        xsi((ZOE[0], "nope")).profile()
    xsi(ZOE).profile()
    with pytest.raises(InvalidCredentials):
        xsi((ZOE[0], "nope")).profile()
    assert sim.inspect()["users"][ZOE[0]]["locked"] is False


def test_validate_sign_out_refuses_the_last_agent_of_a_queue(xsi):
    agent = xsi(ZOE)  # the only agent of sales besides layla, who is signed out
    agent.set_acd_state("Available")
    with pytest.raises(Rejected) as info:
        agent.set_acd_state("Sign-Out", validate_sign_out=True)
    assert info.value.code == 4008
    agent.set_acd_state("Sign-Out")  # without the check it goes through
    assert agent.acd_state() == "Sign-Out"


def test_unknown_unavailable_code_is_rejected(xsi):
    with pytest.raises(Rejected) as info:
        xsi(ZOE).set_acd_state("Unavailable", unavailable_code="99")
    assert info.value.code == 4010


def test_service_not_assigned(xsi):
    with pytest.raises(Rejected) as info:
        xsi(("plain@demo.example", "plain-demo-1")).hoteling_guest()
    assert info.value.code == 4009


def test_error_summary_in_the_users_language(xsi):
    with pytest.raises(Rejected) as info:
        xsi(ZOE).associate("desk15@demo.example", limit_hours=8)  # Zoë reads German
    assert info.value.summary.startswith("[Error 4002] Der Host")
    assert info.value.summary_english.startswith("[Error 4002] The host")


def test_unknown_target_user_is_404(xsi):
    with pytest.raises(NotFound):
        xsi(ADMIN).hoteling_guest("ghost@demo.example")


def test_domain_matches_in_any_case(xsi):
    assert xsi(("zoe@DEMO.example", ZOE[1])).profile().user_id == ZOE[0]


# --- inspection API and faults over HTTP ----------------------------------------------------


def test_inspection_api_shows_and_sets(sim):
    state = requests.get(sim.inspect_url + "/state", timeout=5).json()
    assert state["seating"][DESK12[0]] is None
    requests.post(sim.inspect_url + "/faults", json={"fail_next": 1}, timeout=5)
    assert raw(sim, "GET", "/user/zoe@demo.example/profile").status_code == 503
    assert raw(sim, "GET", "/user/zoe@demo.example/profile").status_code == 200
    requests.post(sim.inspect_url + "/modes", json={"occupied": "replace"}, timeout=5)
    assert sim.model.occupied == "replace"
    bad = requests.post(sim.inspect_url + "/faults", json={"bogus": 1}, timeout=5)
    assert bad.status_code == 400
    requests.post(sim.inspect_url + "/reset", timeout=5)
    assert requests.get(sim.inspect_url, timeout=5).json()["requests_total"] == 0


def test_latency_fault_delays_answers(sim):
    import time

    sim.faults.update(latency_s=0.3)
    started = time.monotonic()
    raw(sim, "GET", "/user/zoe@demo.example/profile")
    assert time.monotonic() - started >= 0.3


# --- the directory file ---------------------------------------------------------------------


def test_demo_directory_has_agents_desks_and_an_admin(directory):
    users = directory.users.values()
    assert sum(1 for u in users if u.guest) >= 4
    assert sum(1 for u in users if u.host) >= 3
    assert any(u.admin for u in users)
    assert any(not u.name.isascii() for u in users if u.guest)


@pytest.mark.parametrize(("data", "words"), [
    ({"user": [{"id": "x@y"}]}, "user[0].password: required"),
    ({"user": [{"id": "x", "password": "p"}]}, "user@domain"),
    ({"user": [{"id": "x@y", "password": "p", "colour": 1}]}, "unknown key 'colour'"),
    ({"user": [{"id": "x@y", "password": "p", "charset": "KOI8-R"}]}, "charset"),
    ({"user": [{"id": "x@y", "password": "p", "hoteling_host": {"size": 1}}]}, "size"),
    ({"user": [{"id": "x@y", "password": "p"}, {"id": "x@y", "password": "q"}]}, "twice"),
])
def test_bad_directory_entries_are_named(data, words):
    with pytest.raises(DirectoryError, match=words.replace("[", r"\[").replace("]", r"\]")):
        parse_directory(data)


def test_directory_file_with_bad_toml(tmp_path):
    path = tmp_path / "d.toml"
    path.write_text("[[user]\n")
    with pytest.raises(DirectoryError):
        load_directory(path)


# --- `kiosk sim callcenter` -----------------------------------------------------------------


def test_sim_command_prints_json_first_and_stops_on_sigterm():
    process = subprocess.Popen(
        [sys.executable, "-m", "kiosk", "sim", "callcenter", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        info = json.loads(process.stdout.readline())
        assert info["url"].startswith("http://127.0.0.1:")
        assert info["ca"] is None
        assert requests.get(info["inspect"], timeout=5).json()["requests_total"] == 0
        assert requests.get(info["url"] + "/user/zoe@demo.example/profile", auth=ZOE,
                            timeout=5).status_code == 200
    finally:
        process.terminate()
        assert process.wait(timeout=60) == 0  # a hang guard, not a figure


def test_sim_command_with_tls_gives_a_ca():
    process = subprocess.Popen(
        [sys.executable, "-m", "kiosk", "sim", "callcenter", "--tls", "--occupied", "replace"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        info = json.loads(process.stdout.readline())
        assert info["url"].startswith("https://")
        response = requests.get(info["url"] + "/user/zoe@demo.example/profile", auth=ZOE,
                                verify=info["ca"], timeout=5)
        assert response.status_code == 200
    finally:
        process.send_signal(2)
        assert process.wait(timeout=60) == 0  # a hang guard, not a figure


def test_sim_close_is_idempotent(directory):
    sim = SimulatedCallCenter(directory).start()
    sim.close()
    sim.close()


def test_sim_command_on_every_address_prints_a_url_the_configuration_takes():
    process = subprocess.Popen(
        [sys.executable, "-m", "kiosk", "sim", "callcenter", "--host", "0.0.0.0", "--tls"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        info = json.loads(process.stdout.readline())
        assert "0.0.0.0" not in info["url"]
        urls = XsiUrls.parse(info["url"])  # config check takes it
        assert urls.actions == info["url"]
        # asked over loopback only (tests send nothing to other addresses); the certificate
        # names both
        port = urlsplit(info["url"]).port
        response = requests.get(f"https://127.0.0.1:{port}/com.broadsoft.xsi-actions/v2.0"
                                "/user/zoe@demo.example/profile", auth=ZOE, verify=info["ca"],
                                timeout=5)
        assert response.status_code == 200
    finally:
        process.send_signal(2)
        assert process.wait(timeout=60) == 0  # a hang guard, not a figure


def test_sim_command_refuses_plain_http_on_an_address_no_kiosk_would_take(monkeypatch, capsys):
    from kiosk.cli import main, sim_cmd

    monkeypatch.setattr(sim_cmd, "reachable_address", lambda: "192.0.2.7")
    assert main(["sim", "callcenter", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "--host 0.0.0.0 without --tls" in err and "Traceback" not in err
