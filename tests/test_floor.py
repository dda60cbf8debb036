"""A floor of desks on the site's own tools: session-log events copied to journald (a datagram
socket of the test's own stands in for it, as logging-journald's own tests do), the journal's
message catalog (checked by the real journalctl), and the desk's metrics for node_exporter's
textfile collector (parsed by prometheus-client, scraped by a real node_exporter)."""

from __future__ import annotations

import array
import os
import re
import shutil
import socket
import struct
import subprocess

import pytest

from kiosk.journal import MESSAGE_IDS, JournalCopy, entry
from kiosk.sessionlog import SessionLog
from kiosk.sessionlog.query import EVENT_KINDS
from tests.conftest import ROOT, wait_until

CATALOG = ROOT / "systemd" / "hotdesk-kiosk.catalog"


# --- journald's native protocol, as received ----------------------------------------------


def parse_native(data: bytes) -> dict[str, str]:
    """Fields of one native-protocol datagram: `KEY=value\\n`, or `KEY\\n<le64 size>value\\n`."""
    fields, at = {}, 0
    while at < len(data):
        line_end = data.index(b"\n", at)
        line = data[at:line_end]
        if b"=" in line:
            key, _, value = line.partition(b"=")
            at = line_end + 1
        else:
            key = line
            (size,) = struct.unpack("<Q", data[line_end + 1:line_end + 9])
            value = data[line_end + 9:line_end + 9 + size]
            at = line_end + 9 + size + 1
        fields[key.decode()] = value.decode()
    return fields


@pytest.fixture
def journald(tmp_path):
    """A datagram socket standing in for journald; `receive()` returns one entry's fields,
    reading an entry passed as a sealed memfd (the large-entry path) too."""
    path = tmp_path / "journal.socket"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(10)

    def receive() -> dict[str, str]:
        fds = array.array("i")
        data, ancillary, _, _ = sock.recvmsg(1 << 20, socket.CMSG_SPACE(fds.itemsize))
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[:fds.itemsize])
        if fds:  # the entry is in the passed file
            with open(fds[0], "rb", closefd=True) as passed:
                passed.seek(0)  # (journald maps the file; its offset is the sender's)
                data = passed.read()
        return parse_native(data)

    class Journald:  # what the tests use of it
        pass

    stand_in = Journald()
    stand_in.path, stand_in.receive, stand_in.socket = path, receive, sock
    yield stand_in
    sock.close()


def _log(tmp_path, journal):
    log = SessionLog(tmp_path / "sessions.db", desk="desk12")
    log.when_recorded.append(journal)
    return log


def test_every_event_is_one_structured_entry(tmp_path, journald):
    journal = JournalCopy(journald.path)
    with _log(tmp_path, journal) as log:
        session = log.begin_session("zoe@demo.example", agent_name="Zoë Müller")
        log.record("acd_state", session, state="Unavailable", unavailable_code="10")
        started = journald.receive()
        acd = journald.receive()
    journal.close()
    assert started["HOTDESK_EVENT"] == "signin_started"
    assert started["MESSAGE_ID"] == MESSAGE_IDS["signin_started"]
    assert started["SYSLOG_IDENTIFIER"] == "hotdesk-kiosk"
    assert acd["HOTDESK_SESSION"] == str(session) and acd["HOTDESK_DESK"] == "desk12"
    assert acd["HOTDESK_AGENT"] == "zoe@demo.example"  # from the session, not the detail
    assert acd["HOTDESK_STATE"] == "Unavailable" and acd["HOTDESK_UNAVAILABLE_CODE"] == "10"
    assert acd["PRIORITY"] == "6"
    assert acd["MESSAGE"] == ("acd_state at desk12: zoe@demo.example "
                              "(state=Unavailable, unavailable_code=10)")


def test_a_value_with_a_line_break_goes_in_the_binary_form(tmp_path, journald):
    journal = JournalCopy(journald.path)
    with _log(tmp_path, journal) as log:
        log.record("admin", action="force_release", reason="first line\nsecond line",
                   operator="fiona")
        fields = journald.receive()
    journal.close()
    assert fields["HOTDESK_REASON"] == "first line\nsecond line"
    assert "\n" not in fields["MESSAGE"] and fields["PRIORITY"] == "5"
    assert fields["HOTDESK_OPERATOR"] == "fiona"


def test_an_entry_too_large_for_a_datagram_goes_by_memfd(tmp_path, journald):
    journal = JournalCopy(journald.path)
    big = "x" * 400_000  # past the datagram limit: EMSGSIZE, then a sealed memfd
    with _log(tmp_path, journal) as log:
        log.record("reconnect_failed", error=big, retry_in_s=2)
        fields = journald.receive()
    journal.close()
    assert fields["HOTDESK_ERROR"] == big and fields["HOTDESK_RETRY_IN_S"] == "2"


def test_no_journald_loses_nothing_locally_and_blocks_nothing(tmp_path):
    journal = JournalCopy(tmp_path / "nobody-listens.socket")
    with _log(tmp_path, journal) as log:
        for i in range(50):
            log.record("warning", policy="idle", seconds=i)
        assert wait_until(lambda: journal.dropped == 50)
        rows = log.db.execute("SELECT count(*) FROM events WHERE kind = 'warning'").fetchone()
    journal.close()
    assert rows[0] == 50 and journal.sent == 0


def test_a_full_journald_drops_copies_and_never_blocks_the_log(tmp_path):
    path = tmp_path / "full.socket"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # and nobody reads it
    journal = JournalCopy(path, queue_size=10)
    try:
        with _log(tmp_path, journal) as log:
            for i in range(300):
                log.record("warning", policy="idle", seconds=i)  # never waits for journald
            count = log.db.execute("SELECT count(*) FROM events").fetchone()[0]
        assert count == 300
        assert wait_until(lambda: journal.sent + journal.dropped == 300
                          or journal.dropped > 0)
        assert journal.dropped > 0
    finally:
        journal.close()
        sock.close()


def test_no_password_ever_reaches_the_journal():
    fields = entry({"kind": "signin_failed", "desk": "desk12", "session": 3,
                    "detail": '{"agent": "zoe@demo.example", "reason": "invalid_credentials"}'})
    text = repr(fields)
    assert "password" not in text.lower()
    names = [name for name, _ in fields]
    assert all(re.fullmatch(r"[A-Z0-9_]+", name) for name in names)


# --- the catalog ---------------------------------------------------------------------------


def catalog_entries() -> dict[str, str]:
    entries, current = {}, None
    for line in CATALOG.read_text(encoding="utf-8").splitlines():
        if line.startswith("-- "):
            current = line[3:].strip()
            entries[current] = ""
        elif current is not None:
            entries[current] += line + "\n"
    return entries


def test_one_catalog_entry_per_event_kind_and_message_id():
    entries = catalog_entries()
    assert set(MESSAGE_IDS) == set(EVENT_KINDS)  # every kind the log writes has an id
    assert set(entries) == set(MESSAGE_IDS.values())
    assert len(set(MESSAGE_IDS.values())) == len(MESSAGE_IDS)
    for message_id, text in entries.items():
        assert re.fullmatch(r"[0-9a-f]{32}", message_id)
        for field in ("Subject: ", "Defined-By: hotdesk-kiosk", "Documentation: "):
            assert field in text, (message_id, field)
        body = text.split("\n\n", 1)[1].strip()
        assert len(body) > 40, message_id  # says what facilities should do


def needs(tool: str, package: str) -> None:
    """A real tool the test stands on: CI installs it (.ci/run) and never skips; elsewhere the
    test says what to install."""
    if shutil.which(tool) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is missing: .ci/run installs Debian's {package}")
        pytest.skip(f"{tool} is not installed here (apt-get install {package})")


def test_journalctl_takes_the_catalog(tmp_path):
    needs("journalctl", "systemd")
    catalog_dir = tmp_path / "usr/lib/systemd/catalog"
    catalog_dir.mkdir(parents=True)
    shutil.copy(CATALOG, catalog_dir / CATALOG.name)
    update = subprocess.run(["journalctl", "--root", str(tmp_path), "--update-catalog"],
                            capture_output=True, text=True, timeout=60)
    assert update.returncode == 0, update.stderr
    listed = subprocess.run(["journalctl", "--root", str(tmp_path), "--list-catalog"],
                            capture_output=True, text=True, timeout=60).stdout
    for kind, message_id in MESSAGE_IDS.items():
        assert message_id in listed, kind


# --- the metrics file ----------------------------------------------------------------------


def _samples(path) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    samples = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[sample.name + (f"{{{labels}}}" if labels else "")] = sample.value
            assert sample.timestamp is None  # no sample timestamps in a textfile
    return samples


@pytest.fixture
def floor_unit(make_unit, tmp_path):
    """A unit on the simulators that writes its metrics file, as `kiosk run` does."""
    from kiosk.metrics import DeskMetrics

    path = tmp_path / "metrics" / "hotdesk.prom"
    unit = make_unit()
    metrics = DeskMetrics(path, desk="desk12", session_log=unit.session_log)
    unit.session_log.when_recorded.append(metrics.event)
    unit.engine.observe(metrics.observe)
    metrics.start()
    yield unit, metrics, path
    metrics.close()


def test_the_metrics_follow_the_desk(floor_unit):
    from tests.conftest import ZOE

    unit, metrics, path = floor_unit
    assert wait_until(lambda: path.exists())
    before = _samples(path)
    assert before["hotdesk_desk_occupied"] == 0 and before["hotdesk_in_service"] == 1
    assert unit.engine.sign_in("zoe", "wrong").result(10).error == "invalid_credentials"
    assert unit.engine.sign_in("zoe", ZOE[1]).result(10).ok
    metrics.ui_alive(1_800_000_000)
    assert wait_until(lambda: _samples(path)["hotdesk_desk_occupied"] == 1)
    metrics.write()
    now = _samples(path)
    assert now["hotdesk_sessions_total"] == 1
    assert now["hotdesk_signin_failures_total{reason=invalid_credentials}"] == 1
    assert now["hotdesk_desk_occupied_since_seconds"] > 1_700_000_000
    assert now["hotdesk_phone_up"] == 1 and now["hotdesk_callcenter_reachable"] == 1
    assert now["hotdesk_ui_heartbeat_timestamp_seconds"] == 1_800_000_000
    assert now["hotdesk_cleanups_owed"] == 0
    assert not any("zoe" in name for name in now)  # no agent IDs as labels
    assert any(name.startswith("hotdesk_build_info{version=") for name in now)


def test_counters_survive_a_restart_and_a_stopped_kiosk_is_out_of_service(floor_unit, tmp_path):
    from kiosk.metrics import DeskMetrics
    from tests.conftest import MAI

    unit, metrics, path = floor_unit
    assert unit.engine.sign_in("mai", MAI[1]).result(10).ok
    metrics.close()  # the kiosk stops with an agent signed in
    stopped = _samples(path)
    assert stopped["hotdesk_in_service"] == 0
    # what a stopped kiosk cannot know is not reported: not "free", not "phone up"
    for unknown in ("hotdesk_desk_occupied", "hotdesk_desk_occupied_since_seconds",
                    "hotdesk_out_of_order", "hotdesk_phone_up", "hotdesk_callcenter_reachable",
                    "hotdesk_push_up"):
        assert unknown not in stopped, unknown
    assert stopped["hotdesk_sessions_total"] == 1  # what it knew stays
    again = DeskMetrics(tmp_path / "again.prom", desk="desk12", session_log=unit.session_log)
    again.write()
    assert _samples(tmp_path / "again.prom")["hotdesk_sessions_total"] == 1


def test_a_real_node_exporter_scrapes_the_file(floor_unit, unused_port):
    import requests

    needs("prometheus-node-exporter", "prometheus-node-exporter")
    _unit, metrics, path = floor_unit
    metrics.write()
    exporter = subprocess.Popen(
        ["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{unused_port}",
         "--collector.disable-defaults", "--collector.textfile",
         f"--collector.textfile.directory={path.parent}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        def scrape():
            try:
                return requests.get(f"http://127.0.0.1:{unused_port}/metrics", timeout=5).text
            except requests.RequestException:
                return ""
        assert wait_until(lambda: "hotdesk_in_service" in scrape())
        text = scrape()
    finally:
        exporter.terminate()
        exporter.wait(timeout=30)
    assert "hotdesk_in_service 1" in text and "hotdesk_sessions_total" in text
    assert re.search(r'node_textfile_scrape_error(\{[^}]*\})? 0', text)
    assert "hotdesk_desk_occupied 0" in text


def test_writing_the_metrics_is_quick_enough_for_every_change(floor_unit):
    """Not a timed test: a sanity check that a write produces a whole file each time."""
    _unit, metrics, path = floor_unit
    for _ in range(20):
        metrics.write()
        assert _samples(path)["hotdesk_in_service"] == 1
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # a temporary name, renamed


def test_the_metrics_file_is_readable_by_node_exporters_user_under_the_units_umask(tmp_path):
    """Found on a deployed desk: under the unit's UMask=0077 the file was 0600, and Debian's
    node_exporter (user prometheus) could not read it (node_textfile_scrape_error 1)."""
    from kiosk.metrics import DeskMetrics

    path = tmp_path / "hotdesk.prom"
    previous = os.umask(0o077)
    try:
        DeskMetrics(path, desk="desk12").write()
        DeskMetrics(path, desk="desk12").write()  # and when it replaces the file
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_force_release_reaches_the_journal_as_the_kiosks_events_do(journald, unit_config,
                                                                     sim, xsi):
    """Found on a deployed desk: the `admin` event of `kiosk callcenter release` reached the
    journal in 0 of 4 releases (only the kiosk copied its events there)."""
    from tests.conftest import DESK12, ZOE
    from tests.test_cli_callcenter import kiosk

    xsi(ZOE).associate(DESK12[0], limit_hours=8)
    config = unit_config(log__journal_socket=str(journald.path))
    result = kiosk("callcenter", "release", "--config", str(config), "--reason", "stuck desk",
                   "--operator", "ops-anna")
    assert result.returncode == 0, result.stderr
    fields = journald.receive()
    assert fields["HOTDESK_EVENT"] == "admin" and fields["HOTDESK_ACTION"] == "force_release"
    assert fields["HOTDESK_OPERATOR"] == "ops-anna" and fields["HOTDESK_REASON"] == "stuck desk"


def test_a_release_that_could_not_be_audited_is_not_made(unit_config, sim, xsi, tmp_path):
    """No audit trail, no release: a session log that cannot be written stops the command
    before the desk is touched, and says why."""
    from tests.conftest import DESK12, ZOE
    from tests.test_cli_callcenter import kiosk

    xsi(ZOE).associate(DESK12[0], limit_hours=8)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    config = unit_config(log__database=str(blocked / "sessions.db"))
    result = kiosk("callcenter", "release", "--config", str(config), "--reason", "stuck")
    assert result.returncode == 1
    assert "nothing released" in result.stderr
    assert sim.inspect()["seating"][DESK12[0]] is not None
