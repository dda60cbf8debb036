"""The Ansible role against booted desks as real remotes: two desks of the example inventory
(floor 3, desks 12 and 14) that never had the kiosk, each with an SSH server on a loopback
port, reached as a site reaches its units (host names mapped in an SSH configuration). The
README's command is run exactly as written, from a copy of this repository, the example vault
password typed at its prompt."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deployed.conftest import (
    TEST_DROP_IN,
    _free_port,
    new_desk,
    sign_in_by_touch,
    trust_the_sites_ca,
)

DESKS = ("kiosk-floor3-desk12", "kiosk-floor3-desk14")
README_COMMAND = ["ansible-playbook", "-i", "inventory", "site.yml", "--ask-vault-pass"]
VAULT_PASSWORD = "example-vault-password\n"  # the example inventory's (README: "use your own")


def recap(output: str) -> dict[str, dict[str, int]]:
    return {host: {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
            for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, re.MULTILINE)}


@pytest.fixture(scope="module")
def floor(base, checkout, tmp_path_factory):
    where = tmp_path_factory.mktemp("floor")
    key = where / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    ssh_config = []
    desks = {}
    try:
        for name in DESKS:
            desk = new_desk(base, None, where, name, hostname=name)
            port = _free_port()
            sshd = desk.file("/etc/ssh/sshd_config.d/site.conf")
            sshd.parent.mkdir(parents=True)
            sshd.write_text(f"Port {port}\nListenAddress 127.0.0.1\n"
                            "PermitRootLogin prohibit-password\n")
            keys = desk.file("/root/.ssh/authorized_keys")
            keys.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            keys.write_text((key.with_suffix(".pub")).read_text())
            # no screen, GPIO or tty1 in a container (the only test addition, as in test_unit)
            drop_in = desk.file("/etc/systemd/system/hotdesk-kiosk.service.d/test-display.conf")
            drop_in.parent.mkdir(parents=True)
            drop_in.write_text(TEST_DROP_IN)
            # the desks share this machine's network: each node_exporter on a port of its
            # own (a site's choice too: hotdesk_node_exporter_port)
            exporter = desk.file("/etc/systemd/system/prometheus-node-exporter.service.d/"
                                 "port.conf")
            exporter.parent.mkdir(parents=True)
            exporter.write_text("[Service]\nExecStart=\nExecStart=/usr/bin/prometheus-node-"
                                f"exporter $ARGS --web.listen-address=127.0.0.1:{_free_port()}\n")
            desk.boot()
            desks[name] = desk
            trust_the_sites_ca(desk)
            desk.run("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y "
                     "-qq --no-install-recommends openssh-server >/dev/null")
            ssh_config.append(f"Host {name}\n  HostName 127.0.0.1\n  Port {port}\n  User root\n"
                              f"  IdentityFile {key}\n  StrictHostKeyChecking no\n"
                              "  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n")
        (where / "ssh_config").write_text("\n".join(ssh_config))
        yield {"desks": desks, "ssh_config": where / "ssh_config", "checkout": checkout}
    finally:
        for desk in desks.values():
            desk.shutdown()


def rollout(floor, *extra: str) -> subprocess.CompletedProcess:
    """The README's command, in the copy's systemd/ansible, as an operator runs it."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "ANSIBLE_SSH_ARGS": f"-F {floor['ssh_config']}", "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_FORCE_COLOR": "0"}
    return subprocess.run([*README_COMMAND, *extra], cwd=floor["checkout"] / "systemd" / "ansible",
                          input=VAULT_PASSWORD, capture_output=True, text=True, env=env,
                          timeout=1500)


def test_the_first_rollout_installs_desks_that_never_had_the_kiosk(floor):
    result = rollout(floor)
    summary = recap(result.stdout)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    for name, desk in floor["desks"].items():
        assert summary[name]["failed"] == 0 and summary[name]["changed"] > 0, summary
        assert desk.out("systemctl is-active hotdesk-kiosk").strip() == "active"
        answer = json.loads(desk.out("kiosk status --json"))
        assert answer["desk"] == name.removeprefix("kiosk-") and answer["agent"] is None
        assert desk.out("stat -c '%a %U %G' /etc/hotdesk/host-password").split() == \
            ["600", "root", "root"]
    targets = json.loads((floor["checkout"] / "systemd/ansible/prometheus/"
                          "hotdesk_targets.json").read_text())
    assert [t["labels"]["desk"] for t in targets] == ["floor3-desk12", "floor3-desk14"]
    assert "0 unit(s) left for the next run" in result.stdout


def test_a_second_rollout_changes_nothing_and_restarts_nothing(floor):
    started = {name: desk.unit("hotdesk-kiosk", "MainPID")["MainPID"]
               for name, desk in floor["desks"].items()}
    result = rollout(floor)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    summary = recap(result.stdout)
    assert all(counts["changed"] == 0 and counts["failed"] == 0
               for counts in summary.values()), summary
    assert set(summary) == {*DESKS, "localhost"}
    assert {name: desk.unit("hotdesk-kiosk", "MainPID")["MainPID"]
            for name, desk in floor["desks"].items()} == started


def test_a_desk_with_an_agent_signed_in_is_left_alone_and_said_so(floor, sims, touchscreen,
                                                                   tmp_path):
    """The floor moves to a Call Center the desks reach (here, the simulator: each desk as its
    own host, a change of the inventory rolled out to both), an agent signs in at desk 12's
    screen, and the next run leaves that desk untouched, says so in the recap and counts it."""
    overrides = tmp_path / "simulated-floor.yml"
    overrides.write_text(
        f"hotdesk_callcenter_url: {sims.url}\n"
        "hotdesk_default_domain: demo.example\n"
        "hotdesk_host_user_id: \"{{ inventory_hostname | regex_replace('^kiosk-floor3-', '') }}"
        "@demo.example\"\n"
        "hotdesk_host_password: \"{{ hotdesk_host_user_id.split('@')[0] }}-host\"\n")
    moved = rollout(floor, "-e", f"@{overrides}")
    assert moved.returncode == 0, moved.stdout[-4000:] + moved.stderr[-2000:]
    assert all(recap(moved.stdout)[name]["changed"] > 0 for name in DESKS)
    desk = floor["desks"]["kiosk-floor3-desk12"]
    desk.run("/opt/hotdesk/venv/bin/pip install --quiet oscpy")  # Kivy's TUIO provider
    drop_in = desk.file("/etc/systemd/system/hotdesk-kiosk.service.d/test-display.conf")
    drop_in.write_text(TEST_DROP_IN + touchscreen.drop_in)
    desk.run("systemctl daemon-reload && systemctl restart hotdesk-kiosk")
    desk.wait_for("kiosk status --json", lambda out: json.loads(out)["state"] == "idle")
    sign_in_by_touch(touchscreen, "zoe", "zoe-demo-1")
    desk.wait_for("kiosk status --json", lambda out: json.loads(out)["state"] == "active")
    before = desk.unit("hotdesk-kiosk", "MainPID")["MainPID"]

    busy = rollout(floor, "-e", f"@{overrides}")
    assert busy.returncode == 0, busy.stdout[-4000:] + busy.stderr[-2000:]
    summary = recap(busy.stdout)
    assert summary["kiosk-floor3-desk12"]["ignored"] == 1
    assert summary["kiosk-floor3-desk12"]["changed"] == 0
    assert summary["kiosk-floor3-desk14"]["changed"] == 0
    assert "1 unit(s) left for the next run: kiosk-floor3-desk12" in busy.stdout
    assert desk.unit("hotdesk-kiosk", "MainPID")["MainPID"] == before
    answer = json.loads(desk.out("kiosk status --json"))
    assert answer["agent"]["user_id"] == "zoe@demo.example"
