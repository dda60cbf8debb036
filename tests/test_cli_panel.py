"""`kiosk panel test`: the light's colours, the relay and the button, on gpiozero's mock pins,
each step confirmed as facilities would at the terminal."""

from __future__ import annotations

import argparse

import pytest
from gpiozero.pins.mock import MockFactory

from kiosk.cli.common import CommandError
from kiosk.cli.panel_cmd import run_panel_test


@pytest.fixture
def config_path(unit_config):
    return str(unit_config())


def _args(config_path, **changes):
    values = {"config": config_path, "yes": False, "button_timeout": 5.0}
    values.update(changes)
    return argparse.Namespace(**values)


def test_every_step_confirmed(config_path, capsys):
    factory = MockFactory()
    seen_colours = []

    def operator(question: str) -> str:  # answers, and looks at the pins while asked
        if "light" in question:
            red, green, blue = (factory.pin(n).state for n in (17, 27, 22))
            seen_colours.append((red, green, blue))
        if "relay" in question:
            factory.pin(25).drive_low()  # ... then presses the button
        return "y"

    assert run_panel_test(_args(config_path), pin_factory=factory, ask=operator) == 0
    assert seen_colours == [(1, 0, 0), (0, 1, 0), (0, 0, 1)]
    relay = [s.state for s in factory.pin(23).states]
    assert relay[-2:] == [True, False]  # energised (power cut), then at rest again
    out = capsys.readouterr().out
    for line in ("✓ light red", "✓ light green", "✓ light blue", "✓ relay", "✓ button"):
        assert line in out
    assert "the panel works" in out


def test_a_colour_not_seen_and_no_press_fail_with_advice(config_path, capsys):
    answers = iter(["y", "n", "y", "y"])
    result = run_panel_test(_args(config_path, button_timeout=0.2), pin_factory=MockFactory(),
                            ask=lambda question: next(answers))
    assert result == 1
    out = capsys.readouterr().out
    assert "✗ light green: not seen: check the green LED" in out
    assert "✗ button: no press in 0 s" in out and "BCM 25" in out


def test_refused_beside_a_running_kiosk(config_path, tmp_path, monkeypatch):
    from kiosk.session.lock import RuntimeLock

    monkeypatch.setenv("RUNTIME_DIRECTORY", str(tmp_path / "run"))
    (tmp_path / "run").mkdir()
    lock = RuntimeLock()
    try:
        with pytest.raises(CommandError) as refused:
            run_panel_test(_args(config_path), pin_factory=MockFactory(), ask=lambda q: "y")
        assert refused.value.exit_code == 5 and "stop it first" in str(refused.value)
    finally:
        lock.release()
