"""`callcenter.proxy`: the site's proxy, by CONNECT, for Xsi-Actions and Xsi-Events alike, shown
by `doctor` and `watch`; the environment's proxy variables never count."""

from __future__ import annotations

import threading

import pytest
from gpiozero.pins.mock import MockFactory

from kiosk import config as configuration
from kiosk.callcenter import XsiClient
from kiosk.callcenter.events import EventChannel
from kiosk.doctor import Doctor
from kiosk.secret import Secret
from tests.conftest import ZOE, wait_until


@pytest.fixture
def proxied(unit_config, tls_sim, connect_proxy):
    return configuration.load(unit_config(url=tls_sim.url, callcenter__ca_bundle=str(
        tls_sim.ca_path), callcenter__proxy=connect_proxy.url))


def test_actions_go_through_the_proxy_with_tls_verified(proxied, tls_sim, connect_proxy):
    with XsiClient.from_config(proxied.callcenter, *ZOE) as client:
        assert client.profile().user_id == ZOE[0]
    assert connect_proxy.tunnels == [f"127.0.0.1:{tls_sim.port}"]


def test_events_go_through_the_proxy_too(proxied, tls_sim, connect_proxy):
    channel = EventChannel(proxied.callcenter, ZOE[0], Secret(ZOE[1]),
                           channel_set_id="hotdesk-desk12", application_id="hotdesk-kiosk")
    seen = []
    channel.when_event = seen.append
    try:
        channel.open()
        assert wait_until(lambda: len(seen) >= 2)  # the subscriptions' first events
    finally:
        channel.close()
    assert len(connect_proxy.tunnels) >= 2  # the stream and the requests beside it
    assert set(connect_proxy.tunnels) == {f"127.0.0.1:{tls_sim.port}"}


def test_the_environments_proxy_is_ignored(unit_config, tls_sim, monkeypatch, unused_port):
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{unused_port}")
    config = configuration.load(unit_config(url=tls_sim.url,
                                            callcenter__ca_bundle=str(tls_sim.ca_path)))
    with XsiClient.from_config(config.callcenter, *ZOE) as client:
        assert client.profile().user_id == ZOE[0]


def test_doctor_reaches_the_server_through_the_proxy(proxied, connect_proxy, tmp_path):
    dri = tmp_path / "dri"
    dri.mkdir()
    (dri / "card0").write_text("")
    doctor = Doctor(proxied.source, dri_dir=dri, pin_factory=MockFactory(),
                    clock_synced=lambda: True)
    doctor.config = proxied
    check = doctor.check_callcenter()
    assert check.ok and f"via the proxy {connect_proxy.url}" in check.detail


def test_doctor_says_when_the_proxy_refuses(proxied, connect_proxy, tmp_path):
    from dataclasses import replace

    closed = replace(proxied, callcenter=replace(proxied.callcenter,
                                                 proxy="http://127.0.0.1:9"))
    doctor = Doctor(proxied.source, pin_factory=MockFactory(), clock_synced=lambda: True)
    doctor.config = closed
    check = doctor.check_callcenter()
    assert not check.ok and "proxy" in check.detail and "callcenter.proxy" in check.advice


@pytest.mark.parametrize("value", ["https://proxy:3128", "proxy:3128", "http://proxy",
                                   "http://user:secret@proxy:3128", "http://proxy:3128/path"])
def test_a_proxy_url_the_kiosk_cannot_use_is_refused_by_key(write_config, value):
    from tests.conftest import MINIMAL_CONFIG

    with pytest.raises(configuration.ConfigError) as refused:
        configuration.load(write_config(MINIMAL_CONFIG + f'proxy = "{value}"\n'))
    assert "callcenter.proxy" in str(refused.value)
    assert "secret" not in str(refused.value)


def test_watch_names_the_proxy(unit_config, tls_sim, connect_proxy):
    import subprocess
    import sys

    from tests.conftest import ROOT

    config = unit_config(url=tls_sim.url, callcenter__ca_bundle=str(tls_sim.ca_path),
                         callcenter__proxy=connect_proxy.url)
    process = subprocess.Popen([sys.executable, "-m", "kiosk", "callcenter", "watch",
                                "--config", str(config), "--user", "zoe", "--password-stdin"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=ROOT)
    process.stdin.write(ZOE[1] + "\n")
    process.stdin.close()
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stderr.readline, "")),
                              daemon=True)
    reader.start()
    try:
        assert wait_until(lambda: any("watching" in line for line in lines))
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert any(f"through the proxy {connect_proxy.url}" in line for line in lines)
