"""The GPIO panel on gpiozero's MockFactory: light patterns, relay timing, hook and button."""

from __future__ import annotations

import itertools
import time

import pytest
from gpiozero.pins.mock import MockFactory

from hardware.panel import PATTERNS, DeskPanel
from tests.conftest import wait_until

RED, GREEN, BLUE, RELAY, HOOK, BUTTON = 17, 27, 22, 23, 24, 25


@pytest.fixture
def factory():
    factory = MockFactory()
    yield factory
    factory.reset()


@pytest.fixture
def panel(factory):
    with DeskPanel(hook=HOOK, hold_s=0.5, pin_factory=factory) as panel:
        yield panel


def lit(factory) -> tuple[bool, bool, bool]:
    return tuple(factory.pin(n).state for n in (RED, GREEN, BLUE))


@pytest.mark.parametrize(("pattern", "colour"), [
    ("free", (False, True, False)), ("busy", (True, False, False)),
    ("off", (False, False, False)),
])
def test_steady_patterns(panel, factory, pattern, colour):
    panel.show(pattern)
    assert lit(factory) == colour
    assert panel.pattern == pattern


@pytest.mark.parametrize(("pattern", "on", "off", "period"), [
    ("working", (True, True, False), (False, False, False), 0.5),
    ("attention", (True, True, False), (True, False, False), 0.5),
    ("fault", (True, False, False), (False, False, False), 0.1),
])
def test_blinking_patterns(panel, factory, pattern, on, off, period):
    panel.show(pattern)
    seen = set()
    assert wait_until(lambda: seen.add(lit(factory)) or seen == {on, off},
                      interval=period / 10)
    assert PATTERNS[pattern][2:] == (period, period)  # the blink's on and off times


def test_fault_blinks_on_and_off_in_turn(panel, factory):
    panel.show("fault")
    pin = factory.pin(RED)
    assert wait_until(lambda: len(pin.states) >= 6)
    states = [s.state for s in pin.states[1:6]]
    assert all(a != b for a, b in itertools.pairwise(states))  # on, off, on, …
    assert PATTERNS["fault"][2:] == (0.1, 0.1)  # faster than "working" (0.5 s)


def test_every_named_pattern_is_accepted_and_others_refused(panel):
    for pattern in PATTERNS:
        panel.show(pattern)
    with pytest.raises(ValueError):
        panel.show("disco")


def test_relay_power_cycle_timing(panel, factory):
    pin = factory.pin(RELAY)
    pin.clear_states()
    panel.power_cycle(off_s=0.3)
    pin.assert_states_and_times([(0.0, False), (0.0, True), (0.3, False)])


def test_relay_polarity_from_config(factory):
    with DeskPanel(relay_active_high=False, pin_factory=factory) as panel:
        pin = factory.pin(RELAY)
        assert pin.state is True  # at rest: the relay is off, which is high for active-low
        pin.clear_states()
        panel.power_cycle(off_s=0.1)
        pin.assert_states([True, False, True])


def test_no_relay_fitted(factory):
    with DeskPanel(relay=None, pin_factory=factory) as panel:
        assert not panel.has_relay
        with pytest.raises(RuntimeError):
            panel.power_cycle()


def test_hook_switch(panel, factory):
    seen = []
    panel.when_hook_changed = seen.append
    factory.pin(HOOK).drive_low()
    assert wait_until(lambda: seen == [True])
    assert panel.is_off_hook is True
    factory.pin(HOOK).drive_high()
    assert wait_until(lambda: seen == [True, False])


def test_hold_to_sign_out_fires_once(panel, factory):
    fired = []
    panel.when_sign_out_held = lambda: fired.append(time.monotonic())
    pressed = time.monotonic()
    factory.pin(BUTTON).drive_low()
    time.sleep(1.3)  # held well past hold_s: still only once
    factory.pin(BUTTON).drive_high()
    assert len(fired) == 1
    assert fired[0] - pressed >= 0.5


def test_a_short_tap_never_signs_out(factory):
    # hold_s far above the taps, so that a loaded machine cannot stretch a tap into a hold
    with DeskPanel(hook=HOOK, hold_s=5, pin_factory=factory) as panel:
        fired = []
        panel.when_sign_out_held = lambda: fired.append(1)
        for _ in range(3):
            factory.pin(BUTTON).drive_low()
            time.sleep(0.15)
            factory.pin(BUTTON).drive_high()
            time.sleep(0.05)
        time.sleep(0.6)
        assert fired == []


def test_close_releases_every_pin(factory):
    panel = DeskPanel(hook=HOOK, pin_factory=factory)
    panel.close()
    panel.close()
    # the pins are free again: a second panel can take them all
    DeskPanel(hook=HOOK, pin_factory=factory).close()


def test_a_pin_in_use_fails_cleanly(factory):
    from gpiozero import LED
    from gpiozero.exc import GPIOPinInUse

    holder = LED(BUTTON, pin_factory=factory)
    with pytest.raises(GPIOPinInUse):
        DeskPanel(pin_factory=factory)
    holder.close()
    DeskPanel(pin_factory=factory).close()  # nothing leaked by the failed attempt
