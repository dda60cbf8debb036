"""Badges: the wedge reader's key events decoded (evdev's own InputEvent objects), the reader
found again after an unplug, the badge table (keyed hashes, never a number in clear), and the
LDAP lookup against ldap3's own offline mock server with real filters."""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import threading
from pathlib import Path

import pytest
from evdev import InputEvent, ecodes

from hardware.badge import BadgeDecoder, BadgeRead, BadgeReader, BadgeRejected
from kiosk.badges import BadgeDirectory, BadgeError, BadgeResolver, BadgeTable, mask
from tests.conftest import wait_until

DIGIT_KEYS = {str(i): getattr(ecodes, f"KEY_{i}") for i in range(10)}


def typed(text: str, *, start: float = 100.0, gap: float = 0.01, enter: bool = True,
          held: str = "") -> list[InputEvent]:
    """The key events a wedge reader sends for `text` (down, up; `held`: auto-repeat)."""
    events, now = [], start
    for char in text:
        code = DIGIT_KEYS.get(char) or getattr(ecodes, f"KEY_{char.upper()}")
        seconds, micro = int(now), round((now % 1) * 1e6)
        events.append(InputEvent(seconds, micro, ecodes.EV_KEY, code, 1))
        if char in held:
            events.append(InputEvent(seconds, micro + 500, ecodes.EV_KEY, code, 2))
        events.append(InputEvent(seconds, micro + 900, ecodes.EV_KEY, code, 0))
        events.append(InputEvent(seconds, micro + 950, ecodes.EV_SYN, 0, 0))
        now += gap
    if enter:
        seconds, micro = int(now), round((now % 1) * 1e6)
        events.append(InputEvent(seconds, micro, ecodes.EV_KEY, ecodes.KEY_ENTER, 1))
        events.append(InputEvent(seconds, micro + 900, ecodes.EV_KEY, ecodes.KEY_ENTER, 0))
    return events


def decode(events, **limits):
    decoder = BadgeDecoder(**{"min_length": 6, "max_length": 12, **limits})
    return [r for r in (decoder.feed(e) for e in events) if r is not None]


def test_a_well_formed_read():
    assert decode(typed("0004521788")) == [BadgeRead("0004521788")]


def test_hex_numbers_read_too():
    assert decode(typed("04A3F2C1")) == [BadgeRead("04A3F2C1")]


@pytest.mark.parametrize(("events", "reason"), [
    (typed("0004q21788"), "garbage"),
    (typed("00045217", held="5"), "stuck_key"),
    (typed("0004521788", gap=0.3), "too_slow"),  # a person typing, not a reader
    (typed("123"), "too_short"),
    (typed("0004521788000"), "too_long"),
])
def test_a_bad_read_is_rejected_with_its_reason(events, reason):
    assert decode(events) == [BadgeRejected(reason)]


def test_a_lone_enter_is_no_read_and_the_next_read_is_clean():
    events = typed("", enter=True) + typed("0004q2", enter=True) + typed("0004521788")
    assert decode(events) == [BadgeRejected("garbage"), BadgeRead("0004521788")]


def test_a_read_cut_by_an_unplug_is_rejected():
    decoder = BadgeDecoder(min_length=6, max_length=12)
    for event in typed("00045", enter=False):
        decoder.feed(event)
    assert decoder.cut() == BadgeRejected("unplugged")
    assert decoder.cut() is None


class Device:
    """A keyboard-wedge reader at a path (the kernel's evdev device cannot be made here without
    /dev/uinput): yields its events, then goes away as an unplugged device does."""

    def __init__(self, events, unplug=True):
        self.events, self.unplug = events, unplug
        self.grabbed = self.closed = False

    def grab(self):
        self.grabbed = True

    def ungrab(self):
        self.grabbed = False

    def close(self):
        self.closed = True

    def read_loop(self):
        yield from self.events
        if self.unplug:
            raise OSError(errno.ENODEV, "No such device")
        threading.Event().wait(30)


def test_the_reader_grabs_reads_and_finds_the_device_again_after_an_unplug():
    plugged = [Device(typed("0004521788") + typed("00045", enter=False)),
               Device(typed("0004521799"), unplug=False)]
    opened = []

    def open_device(path):
        if not plugged:
            raise OSError(errno.ENOENT, "no such file")
        opened.append(plugged.pop(0))
        return opened[-1]

    reads, rejected, unplugged = [], [], []
    reader = BadgeReader("/dev/input/by-id/usb-reader-event-kbd", min_length=6, max_length=12,
                         retry_s=0.01, open_device=open_device)
    reader.when_read, reader.when_rejected = reads.append, rejected.append
    reader.when_unplugged = lambda: unplugged.append(True)
    with reader:
        assert wait_until(lambda: len(reads) == 2)
    assert reads == ["0004521788", "0004521799"]
    assert rejected == ["unplugged"] and unplugged == [True]
    assert all(device.closed for device in opened) and opened[0].grabbed is False


@pytest.mark.skipif(not os.path.exists("/dev/uinput") or not os.access("/dev/uinput", os.W_OK),
                    reason="no /dev/uinput here to make a virtual keyboard")
def test_a_virtual_keyboard_through_the_kernel():
    from evdev import UInput

    with UInput(name="hotdesk-test-badge-reader") as keyboard:
        reads = []
        reader = BadgeReader(keyboard.device.path, min_length=6, max_length=12)
        reader.when_read = reads.append
        with reader:
            assert wait_until(lambda: reader.connected)
            for char in "0004521788":
                keyboard.write(ecodes.EV_KEY, DIGIT_KEYS[char], 1)
                keyboard.write(ecodes.EV_KEY, DIGIT_KEYS[char], 0)
                keyboard.syn()
            keyboard.write(ecodes.EV_KEY, ecodes.KEY_ENTER, 1)
            keyboard.write(ecodes.EV_KEY, ecodes.KEY_ENTER, 0)
            keyboard.syn()
            assert wait_until(lambda: reads == ["0004521788"])


# --- the table -----------------------------------------------------------------------------


@pytest.fixture
def table(tmp_path):
    return BadgeTable(tmp_path / "badges.json", key_file=tmp_path / "badge-key")


def test_the_table_maps_a_badge_and_never_keeps_a_digit_of_it(table):
    assert table.add("0004 521788", "mai@corp.example.au") is True
    assert table.lookup("0004521788") == "mai@corp.example.au"
    assert table.lookup("0004521789") is None
    text = table.path.read_text()
    assert "1788" not in text and "••••" not in text and '"format": 2' in text
    assert stat.S_IMODE(table.key_file.stat().st_mode) == 0o600  # root's alone
    assert stat.S_IMODE(table.path.stat().st_mode) == 0o640
    assert table.add("0004521788", "zoe@corp.example.au") is False  # re-mapped
    assert table.lookup("0004521788") == "zoe@corp.example.au"
    assert table.remove("0004521788") and table.lookup("0004521788") is None


def test_a_badge_number_must_be_digits_or_hex(table):
    for bad in ("12G4", "*)(uid=*", "", "0x", "1" * 65):
        with pytest.raises(BadgeError):
            table.add(bad, "mai@corp.example.au")
    assert mask("0004521788") == "••••1788"


def test_importing_a_csv_checks_every_row_before_writing(table, tmp_path):
    def check_user(user_id):
        if "@" not in user_id:
            raise ValueError(f"not a full user ID: {user_id!r}")
        return user_id.lower()

    good = tmp_path / "good.csv"
    good.write_text("badge,user_id\n0004521788,Mai@Corp.Example.AU\n04A3F2C1,zoe@corp.example.au\n")
    assert table.import_csv(good, check_user=check_user) == 2
    assert table.lookup("04a3f2c1") == "zoe@corp.example.au"
    bad = tmp_path / "bad.csv"
    bad.write_text("badge,user_id\n0004521799,wei\nxyz!,layla@corp.example.au\n")
    with pytest.raises(BadgeError) as refused:
        table.import_csv(bad, check_user=check_user)
    assert "line 2" in str(refused.value) and "line 3" in str(refused.value)
    assert table.lookup("0004521799") is None  # nothing written
    headless = tmp_path / "headless.csv"
    headless.write_text("0004521788,mai@corp.example.au\n")
    with pytest.raises(BadgeError, match="header"):
        table.import_csv(headless, check_user=check_user)


# --- the directory -------------------------------------------------------------------------


@pytest.fixture
def badge_directory():
    from ldap3 import MOCK_SYNC, OFFLINE_SLAPD_2_4, Connection, Server

    server = Server("ldaps://directory.corp.example", get_info=OFFLINE_SLAPD_2_4)
    seed = Connection(server, user="cn=kiosk,ou=services,dc=corp,dc=example", password="pw",
                      client_strategy=MOCK_SYNC)
    seed.strategy.add_entry("cn=kiosk,ou=services,dc=corp,dc=example", {"userPassword": "pw"})
    seed.strategy.add_entry("uid=mai,ou=people,dc=corp,dc=example", {
        "objectClass": ["inetOrgPerson"], "uid": "mai", "employeeNumber": "0004521788",
        "mail": "mai@corp.example.au", "sn": "Nguyen", "cn": "Mai Nguyen"})
    seed.strategy.add_entry("uid=zoe,ou=people,dc=corp,dc=example", {
        "objectClass": ["inetOrgPerson"], "uid": "zoe", "employeeNumber": "04A3F2C1",
        "mail": "zoe@corp.example.au", "sn": "Müller", "cn": "Zoë Müller"})
    binds = []
    now = [0.0]
    looked_up = BadgeDirectory(lambda: _shared(seed, binds), base="ou=people,dc=corp,dc=example",
                               filter_template="(employeeNumber={badge})", attribute="mail",
                               cache_s=60, clock=lambda: now[0])
    looked_up.binds, looked_up.now = binds, now
    return looked_up


def _shared(seed, binds):
    """The mock keeps its entries per connection: each lookup binds the seeded one again."""
    seed.bind()
    binds.append(True)
    return seed


def test_the_directory_finds_a_badge_by_a_real_filter_and_caches_it(badge_directory):
    assert badge_directory.lookup("0004521788") == "mai@corp.example.au"
    assert badge_directory.lookup("04a3f2c1") == "zoe@corp.example.au"
    assert badge_directory.lookup("0004521788") == "mai@corp.example.au"
    assert len(badge_directory.binds) == 2  # the second answer for mai came from the cache
    assert badge_directory.lookup("99999999") is None
    badge_directory.now[0] = 61  # past the cache's time to live
    assert badge_directory.lookup("0004521788") == "mai@corp.example.au"
    assert len(badge_directory.binds) == 4


def test_the_table_goes_before_the_directory(table, badge_directory):
    table.add("0004521788", "mai.local@corp.example.au")
    resolve = BadgeResolver(table, badge_directory)
    assert resolve("0004521788") == ("mai.local@corp.example.au", "table")
    assert resolve("04A3F2C1") == ("zoe@corp.example.au", "directory")
    assert resolve("11112222") is None


def test_a_filter_cannot_be_injected_through_a_badge(badge_directory):
    with pytest.raises(BadgeError):  # only digits and hex ever reach the filter, escaped too
        badge_directory.lookup("*)(uid=*")
    assert badge_directory.binds == []


# --- at the kiosk ----------------------------------------------------------------------------


@pytest.fixture
def badged_unit(make_unit, tmp_path):
    from tests.conftest import MAI, ZOE

    unit = make_unit()
    table = BadgeTable(tmp_path / "badges.json", key_file=tmp_path / "badge-key")
    table.add("0004521788", ZOE[0])
    table.add("0004521799", MAI[0])
    unit.engine.badge_resolver = BadgeResolver(table)
    return unit


def _tapped(unit, number):
    before = unit.engine.snapshot.badge
    assert unit.engine.badge_tapped(number).result(10) is not None
    unit.engine.settle()
    after = unit.engine.snapshot.badge
    assert after is not None and after != before
    return after


def test_a_tap_at_a_free_desk_fills_the_user_id_and_never_the_password(badged_unit):
    from kiosk.session import State
    from tests.conftest import ZOE

    badge = _tapped(badged_unit, "0004521788")
    assert (badge.kind, badge.user_id) == ("fill", ZOE[0])
    assert badged_unit.engine.snapshot.state is State.IDLE  # nothing signed in by a badge
    (row,) = badged_unit.query("SELECT detail FROM events WHERE kind = 'badge_read'")
    detail = json.loads(row["detail"])
    assert re.fullmatch(r"#[0-9a-f]{8}", detail["badge"])  # a reference, not a digit of it
    assert "1788" not in row["detail"] and "user ID filled in" in row["detail"]


def test_the_same_agents_tap_offers_sign_out_and_anothers_says_taken(badged_unit):
    from kiosk.session import State
    from tests.conftest import ZOE

    assert badged_unit.engine.sign_in("zoe", ZOE[1]).result(10).ok
    assert _tapped(badged_unit, "0004521788").kind == "sign_out"
    taken = _tapped(badged_unit, "0004521799")
    assert taken.kind == "taken" and taken.name == "Zoë Müller"
    assert badged_unit.engine.snapshot.state is State.ACTIVE  # nothing changed
    assert badged_unit.desk_guest() == ZOE[0]
    assert badged_unit.sign_out().ok  # the one tap the offer leads to
    assert badged_unit.engine.snapshot.badge is None


def test_an_unknown_badge_and_a_bad_read_say_so_and_change_nothing(badged_unit):
    assert _tapped(badged_unit, "99999999").kind == "unknown"
    badged_unit.engine.badge_unreadable("stuck_key").result(10)
    assert badged_unit.engine.snapshot.badge.kind == "unreadable"
    kinds = [r["kind"] for r in badged_unit.query("SELECT kind FROM events ORDER BY id")]
    assert "badge_unknown" in kinds and "badge_read" in kinds
    assert badged_unit.engine.snapshot.agent is None


def test_a_tap_during_a_sign_in_is_ignored_with_a_word(badged_unit, sim):
    from tests.conftest import MAI

    held = sim.traffic.hold(r"^PUT .*/mai@demo\.example/services/HotelingGuest$")
    try:
        signing_in = badged_unit.engine.sign_in("mai", MAI[1])
        assert held.reached.wait(10)
        tap = badged_unit.engine.badge_tapped("0004521788")  # zoe's, mid-sign-in
    finally:
        held.release()
    assert signing_in.result(10).ok
    assert tap.result(10).error == "busy"
    assert badged_unit.engine.snapshot.badge is None  # no "sign out?" or "taken" after it
    (row,) = badged_unit.query("SELECT detail FROM events WHERE kind = 'badge_read'")
    assert "ignored" in row["detail"]


def test_the_throttle_counts_per_user_id_however_it_was_entered(badged_unit):
    """A badge fills the user ID; wrong passwords then count toward that user's throttle as
    typed ones do."""
    for _ in range(3):
        assert badged_unit.engine.sign_in("zoe", "wrong").result(10).error == \
            "invalid_credentials"
    badge = _tapped(badged_unit, "0004521788")
    assert badged_unit.engine.sign_in(badge.user_id, "wrong").result(10).error == "throttled"


# --- the command line ----------------------------------------------------------------------


def kiosk(*args, env=None, input=None):
    import subprocess
    import sys

    from tests.conftest import ROOT

    environment = {k: v for k, v in os.environ.items() if k != "HOTDESK_CONFIG"}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "kiosk", *args], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, env=environment, input=input)


@pytest.fixture
def badge_config(unit_config, tmp_path):
    return str(unit_config(badge__table=str(tmp_path / "badges.json"),
                           badge__key_file=str(tmp_path / "badge-key")))


def test_badges_import_list_add_remove(badge_config, tmp_path):
    csv_file = tmp_path / "badges.csv"
    csv_file.write_text("badge,user_id\n0004521788,mai\n04A3F2C1,zoe@demo.example\n")
    result = kiosk("badges", "import", "--config", badge_config, str(csv_file))
    assert result.returncode == 0, result.stderr
    assert "imported 2 badge(s)" in result.stdout
    listed = kiosk("badges", "list", "--config", badge_config)
    words = listed.stdout.split()  # reference, day added, user ID: the append domain applied
    assert words[2::3] == ["mai@demo.example", "zoe@demo.example"]
    assert all(re.fullmatch(r"#[0-9a-f]{8}", ref) for ref in words[0::3])
    assert "1788" not in listed.stdout and "F2C1" not in listed.stdout
    # the number is asked for (here on standard input), never a command-line argument
    added = kiosk("badges", "add", "--config", badge_config, "wei", input="11112222\n")
    assert added.returncode == 0, added.stderr
    assert re.search(r"added badge #[0-9a-f]{8} → wei@demo.example", added.stdout)
    assert "2222" not in added.stdout
    assert kiosk("badges", "remove", "--config", badge_config, input="11112222\n"
                 ).returncode == 0
    missing = kiosk("badges", "remove", "--config", badge_config, input="11112222\n")
    assert missing.returncode == 1 and "no such badge" in missing.stderr
    gone = kiosk("badges", "remove", "--config", badge_config, "--user", "mai")
    assert gone.returncode == 0 and "removed 1 badge(s) of mai@demo.example" in gone.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("badge,user_id\n12G4,zoe\n")
    refused = kiosk("badges", "import", "--config", badge_config, str(bad))
    assert refused.returncode == 2 and "line 2" in refused.stderr


def test_badges_listen_prints_masked_taps_and_who(badge_config, tmp_path, capsys):
    import argparse

    from kiosk.cli.badges_cmd import run_listen

    assert kiosk("badges", "add", "--config", badge_config, "mai",
                 input="0004521788\n").returncode == 0
    config = tmp_path / "with-reader.toml"
    config.write_text(Path(badge_config).read_text() + '\n[badge]\ndevice = "/dev/input/x"\n'
                      if "[badge]" not in Path(badge_config).read_text() else
                      Path(badge_config).read_text().replace(
                          "[badge]", '[badge]\ndevice = "/dev/input/x"'))
    device = Device(typed("0004521788") + typed("0004q2") + typed("55556666"), unplug=False)
    args = argparse.Namespace(config=str(config), count=3)
    assert run_listen(args, open_device=lambda path: device) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["••••1788  → mai@demo.example (from the table)", "rejected: garbage",
                   "••••6666  → unknown badge"]


def test_badges_listen_without_a_reader_says_so(badge_config):
    result = kiosk("badges", "listen", "--config", badge_config)
    assert result.returncode == 2 and "badge.device" in result.stderr


def test_a_reader_without_evdev_says_why_instead_of_dying_silently():
    """Found on an installed unit: without evdev the reader's thread died with
    ModuleNotFoundError and nothing said so. Now the reader names the problem (which `kiosk
    status` shows) and stops looking."""
    from hardware.badge import BadgeReader

    def no_evdev(path):
        raise ModuleNotFoundError("No module named 'evdev'")

    reader = BadgeReader("/dev/input/by-id/usb-reader-event-kbd", open_device=no_evdev,
                         retry_s=0.01).start()
    reader._thread.join(10)
    assert not reader._thread.is_alive() and not reader.connected
    assert "No module named 'evdev'" in reader.problem and "pip install evdev" in reader.problem
    reader.close()


def test_a_reader_not_plugged_in_says_so():
    from hardware.badge import BadgeReader

    seen = threading.Event()

    def missing(path):
        seen.set()
        raise FileNotFoundError(2, "No such file or directory", path)

    with BadgeReader("/dev/input/by-id/none", open_device=missing, retry_s=0.01).start() \
            as reader:
        assert seen.wait(10)
        assert wait_until(lambda: reader.problem is not None)
        assert reader.problem.startswith("not plugged in")


# --- bad input: numbers and import files ---------------------------------------------------

#: What a reader, an access-control export or a person types as a badge number, and what the
#: kiosk makes of it: the number kept (hashed), or the reason it is refused.
NUMBERS = [
    ("0004521788", "0004521788"),
    (" 0004 5217 88 ", "0004521788"),
    ("0xA1B2C3D4", "A1B2C3D4"),
    ("0XA1B2C3D4", "A1B2C3D4"),
    ("a1:b2:c3:d4", "A1B2C3D4"),
    ("A1-B2-C3-D4", "A1B2C3D4"),
    ("A1.B2.C3.D4", "A1B2C3D4"),
    ("12G4", "digits or hexadecimal"),
    ("*)(uid=*", "digits or hexadecimal"),
    ("=1+2", "digits or hexadecimal"),
    ("0x", "digits or hexadecimal"),
    ("", "digits or hexadecimal"),
    ("١٢٣٤", "digits or hexadecimal"),  # Arabic-Indic digits: not what a reader types
    ("1" * 65, "at most 64"),
]


@pytest.mark.parametrize(("typed", "expected"), NUMBERS, ids=[repr(n[0])[:20] for n in NUMBERS])
def test_a_badge_number_is_normalised_or_refused_with_the_reason(typed, expected):
    from kiosk.badges import normalise

    if expected.isalnum():
        assert normalise(typed) == expected
    else:
        with pytest.raises(BadgeError, match=expected):
            normalise(typed)


def _check_user(user_id):
    from kiosk.badges import user_checker
    from kiosk.config import from_dict

    config = from_dict({"desk": {"id": "d12", "host_user_id": "d12@corp.example.au"},
                        "callcenter": {"url": "https://xsp.example.au/com.broadsoft.xsi-"
                                       "actions/v2.0", "default_domain": "corp.example.au"}})
    return user_checker(config)(user_id)


#: Import files as found in a review (each a whole file after the header), and what is said.
IMPORTS = [
    ("12345678,=HYPERLINK(\"http://x\")\n", "line 2: '=HYPERLINK"),
    ("12345678,+SUM(1;2)\n", "line 2: '+SUM"),
    ("12345678,-1+2@corp.example.au\n", "line 2"),
    ("12345678,mai\n23456789,wei\n0x00BC614E,zoe\n12345678,layla\n",
     "line 5: the same badge as line 2"),
    ("123,mai\n", "line 2: 3 digits: no read can match it"),
    ("1234567890123456789012,mai\n", "line 2: 22 digits: no read can match it"),
    ("12345678,mai,extra\n", "line 2: 3 fields where badge,user_id is two"),
    ("12345678\n", "line 2: 1 fields"),
    ("12345678,mai\nxyz!,wei\n23456789,wei\n", "line 3: a badge number is digits"),
    ('12345678,"mai\n', "line 2"),  # a quote never closed: named, no traceback
    ("12345678," + "m" * 200_000 + "\n", "line 2"),  # a field of 200 kB
]


@pytest.mark.parametrize(("rows", "said"), IMPORTS, ids=[repr(i[0])[:24] for i in IMPORTS])
def test_a_bad_import_is_named_by_line_and_writes_nothing(table, tmp_path, rows, said):
    source = tmp_path / "import.csv"
    source.write_text("badge,user_id\n" + rows, encoding="utf-8")
    with pytest.raises(BadgeError) as refused:
        table.import_csv(source, check_user=_check_user, min_length=4, max_length=20)
    assert said in str(refused.value)
    assert "nothing imported" in str(refused.value) or "line" in str(refused.value)
    assert not table.path.exists()


def test_an_import_in_another_encoding_or_not_text_says_so(table, tmp_path):
    """Found: Latin-1 gave a traceback; /dev/zero grew the command to 4.5 GB in 8 s."""
    latin = tmp_path / "latin1.csv"
    latin.write_bytes("badge,user_id\n12345678,francois\n23456789,fran\u00e7ois\n"
                      .encode("latin-1"))
    with pytest.raises(BadgeError, match=r"line 3: not UTF-8 text \(byte 0xE7\)"):
        table.import_csv(latin, check_user=_check_user)
    with pytest.raises(BadgeError, match="larger than 4 MiB"):
        table.import_csv("/dev/zero", check_user=_check_user)
    nul = tmp_path / "nul.csv"
    nul.write_bytes(b"badge,user_id\n1234\x005678,mai\n")
    with pytest.raises(BadgeError, match="line 2: a NUL character"):
        table.import_csv(nul, check_user=_check_user)


def test_an_import_of_too_many_rows_is_refused_before_any_hashing(table, tmp_path,
                                                                  monkeypatch):
    """Found: a million rows peaked at 729 MB and the kiosk grew by 807 MB at its next tap."""
    from kiosk import badges

    hashed = []
    monkeypatch.setattr(badges.BadgeTable, "hashed",
                        lambda self, number, key: hashed.append(number) or "x")
    big = tmp_path / "big.csv"
    big.write_text("badge,user_id\n" + "".join(f"{10_000_000 + i},agent{i}\n"
                                                 for i in range(badges.MAX_IMPORT_ROWS + 1)))
    with pytest.raises(BadgeError, match="more than 20,000 badges"):
        table.import_csv(big, check_user=_check_user)
    assert hashed == [] and not table.path.exists()


def test_hex_forms_of_one_badge_are_one_badge(table, tmp_path):
    source = tmp_path / "export.csv"
    source.write_text("badge,user_id\n0xA1B2C3D4,zoe\n")
    assert table.import_csv(source, check_user=_check_user) == 1
    for typed in ("A1B2C3D4", "a1:b2:c3:d4", "A1-B2-C3-D4"):
        assert table.lookup(typed) == "zoe@corp.example.au"


def test_a_badge_already_someone_elses_is_refused_unless_replaced(table, tmp_path):
    table.add("12345678", "mai@corp.example.au")
    source = tmp_path / "again.csv"
    source.write_text("badge,user_id\n12345678,wei\n23456789,mai\n")
    with pytest.raises(BadgeError, match=r"line 2: that badge is already mai@corp\.example\.au's"):
        table.import_csv(source, check_user=_check_user)
    assert table.lookup("23456789") is None  # nothing written
    assert table.import_csv(source, check_user=_check_user, replace=True) == 2
    assert table.lookup("12345678") == "wei@corp.example.au"


def test_a_table_of_an_earlier_version_still_matches_and_loses_its_digits(table):
    import hashlib
    import hmac

    key = table.key(create=True)
    old = hmac.new(key, b"0004521788", hashlib.sha256).hexdigest()
    table.path.write_text(json.dumps({"badges": {old: {"user_id": "mai@corp.example.au",
                                                       "masked": "••••1788"}}}))
    assert table.lookup("0004521788") == "mai@corp.example.au"
    assert [e["old_hash"] for e in table.listing()] == [True]
    table.add("11112222", "wei@corp.example.au")  # any write: the old digits go
    assert "1788" not in table.path.read_text()
    assert table.lookup("0004521788") == "mai@corp.example.au"
