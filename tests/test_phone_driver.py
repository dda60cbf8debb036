"""The desk phone driver against the simulated phone over a real pty."""

from __future__ import annotations

import threading
import time

import pytest

from hardware.phone import (
    DeskPhone,
    GuestLine,
    PhoneBusy,
    PhoneDisconnected,
    PhoneRejected,
    PhoneTimeout,
)
from hardware.phone.driver import fit_display_name
from hardware.phone.sim import SimulatedPhone
from tests.conftest import wait_until

MAI = GuestLine("mai@corp.example.au", "Mai Nguyễn", "0391234567", "4567")


def test_echo_is_on_at_power_up_and_switched_off_on_open(sim_phone):
    assert sim_phone.state.echo is True
    with DeskPhone(sim_phone.port) as phone:
        assert sim_phone.state.echo is False
        assert phone.state().registered is True
    assert sim_phone.state.commands[0] == b"ATE0"


def test_identify(desk_phone):
    ident = desk_phone.identify()
    assert (ident.manufacturer, ident.model, ident.revision, ident.serial) == (
        "Hotdesk Labs", "VX-400", "1.4.2", "VX4-000123")


def test_state(desk_phone, sim_phone):
    sim_phone.lift()
    state = desk_phone.state()
    assert (state.registered, state.off_hook, state.line_assigned) == (True, True, False)


def test_assign_and_read_back_the_line(desk_phone, sim_phone):
    desk_phone.assign(MAI)
    assert desk_phone.line() == MAI
    assert sim_phone.snapshot()["line"]["display_name"] == "Mai Nguyễn"
    assert desk_phone.state().line_assigned is True


def test_assign_reports_registration(desk_phone):
    seen = []
    desk_phone.when_registration_changed = seen.append
    desk_phone.assign(MAI)
    assert wait_until(lambda: seen == [True])
    assert desk_phone.is_registered is True


def test_hostile_display_name_stays_one_command(desk_phone, sim_phone):
    name = 'x"\r\nAT+HDREL\r'
    desk_phone.assign(GuestLine("mai@corp.example.au", name))
    assert desk_phone.line().display_name == name
    assert not any(c.startswith(b"AT+HDREL") for c in sim_phone.state.commands)


def test_long_display_name_is_cut_to_the_phones_limit(desk_phone):
    name = "Maximilian Alexander Featherstonehaugh-Smythe"
    desk_phone.assign(GuestLine("max@corp.example.au", name))
    assert desk_phone.line().display_name == fit_display_name(name)
    assert len(fit_display_name("é" * 30).encode()) <= 40


def test_release(desk_phone, sim_phone):
    desk_phone.assign(MAI)
    desk_phone.release()
    assert desk_phone.line() is None
    desk_phone.release()  # already on the desk default: still OK


def test_release_while_off_hook_is_busy_unless_forced(desk_phone, sim_phone):
    desk_phone.assign(MAI)
    sim_phone.lift()
    with pytest.raises(PhoneBusy):
        desk_phone.release()
    with pytest.raises(PhoneBusy):
        desk_phone.assign(MAI)
    desk_phone.release(force=True)
    assert desk_phone.line() is None


def test_language(desk_phone):
    assert "zh-Hans" in desk_phone.languages()
    desk_phone.set_language("fr")
    assert desk_phone.language() == "fr"
    with pytest.raises(PhoneRejected) as info:
        desk_phone.set_language("tlh")
    assert info.value.code == 4


def test_show_message(desk_phone, sim_phone):
    desk_phone.show_message("Desk 12 - free")
    assert sim_phone.snapshot()["message"] == "Desk 12 - free"
    with pytest.raises(PhoneRejected) as info:
        desk_phone.show_message("x" * 33)
    assert info.value.code == 50
    desk_phone.ping()


def test_hook_urcs_reach_the_callback(desk_phone, sim_phone):
    seen = []
    desk_phone.when_hook_changed = seen.append
    sim_phone.lift()
    sim_phone.hang_up()
    assert wait_until(lambda: seen == [True, False])


def test_urc_between_a_command_and_its_ok(desk_phone, sim_phone):
    seen = []
    desk_phone.when_hook_changed = seen.append
    sim_phone.interject("+HDHOOK: 1")
    state = desk_phone.state()  # +HDSTATE, then the URC, then OK
    assert state.registered is True
    assert wait_until(lambda: seen == [True])


def test_callbacks_may_send_commands(desk_phone, sim_phone):
    answers = []
    desk_phone.when_hook_changed = lambda off_hook: answers.append(desk_phone.state())
    sim_phone.lift()
    assert wait_until(lambda: len(answers) == 1)
    assert answers[0].off_hook is True


def test_reboot_mid_session_is_reported_and_echo_turned_off_again(desk_phone, sim_phone):
    rebooted = threading.Event()
    desk_phone.when_rebooted = rebooted.set
    desk_phone.assign(MAI)
    sim_phone.reboot()
    assert rebooted.wait(3)
    assert sim_phone.state.echo is False
    assert desk_phone.line() is None  # the phone forgot the guest: the kiosk must re-apply


def test_wait_for_boot(desk_phone, sim_phone):
    threading.Timer(0.2, sim_phone.reboot).start()
    assert desk_phone.wait_for_boot(timeout=3)


def test_silence_times_out_within_bound_after_a_resync(desk_phone, sim_phone):
    sim_phone.set_silent(True)
    started = time.monotonic()
    with pytest.raises(PhoneTimeout):
        desk_phone.state()
    elapsed = time.monotonic() - started
    # the command's bound, a pause, and the resync's own bound for AT (how far above that it
    # ends is the machine's load, not the driver's)
    assert elapsed >= 2.0
    sim_phone.set_silent(False)
    desk_phone.ping()


def test_a_phone_that_answers_after_resync_gets_the_command_again(desk_phone, sim_phone):
    sim_phone.set_silent(True)
    threading.Timer(0.5, sim_phone.set_silent, args=(False,)).start()
    assert desk_phone.state().registered is True


def test_garbage_is_survived(desk_phone, sim_phone):
    sim_phone.send_garbage()
    assert wait_until(lambda: desk_phone.garbage_lines >= 1)
    assert desk_phone.state().registered is True


def test_slow_answers_within_bound_are_fine(desk_phone, sim_phone):
    sim_phone.slow_down(0.5)
    assert desk_phone.state().registered is True


def test_unplug_then_replug(desk_phone, sim_phone):
    lost, back = threading.Event(), threading.Event()
    desk_phone.when_disconnected = lost.set
    desk_phone.when_reconnected = back.set
    sim_phone.unplug()
    assert lost.wait(3)
    with pytest.raises(PhoneDisconnected):
        desk_phone.state()
    assert not desk_phone.is_connected
    sim_phone.replug()
    assert back.wait(5)
    assert desk_phone.is_connected
    assert desk_phone.state().registered is True
    assert sim_phone.state.echo is False


def test_missing_port_is_disconnected(tmp_path):
    with pytest.raises(PhoneDisconnected):
        DeskPhone(str(tmp_path / "no-such-port"))


def test_silent_phone_at_open_times_out(tmp_path):
    with SimulatedPhone() as phone:
        phone.set_silent(True)
        with pytest.raises(PhoneTimeout):
            DeskPhone(phone.port, quick_bound_s=0.3)


def test_tcp_socket_url():
    with SimulatedPhone(tcp_port=0) as sim, DeskPhone(sim.port) as phone:
        assert sim.port.startswith("socket://127.0.0.1:")
        phone.assign(MAI)
        assert phone.line() == MAI


def test_close_twice_is_harmless(sim_phone):
    phone = DeskPhone(sim_phone.port)
    phone.close()
    phone.close()
    with pytest.raises(PhoneDisconnected):
        phone.ping()
