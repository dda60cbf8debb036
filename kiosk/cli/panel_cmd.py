"""`kiosk panel test`: facilities try the light, the relay and the button before going live.

Walks the status light through red, green and blue, clicks the phone's power relay, shows the
hook switch, and waits for a press of the sign-out button; each step is confirmed on the
terminal (or, with `--yes`, only shown). Refused beside a running kiosk, which holds the pins.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from kiosk.cli.common import (
    EXIT_FAILED,
    EXIT_PHONE_BUSY,
    CommandError,
    add_config_option,
    load_config,
)

COLOURS = (("red", (1, 0, 0)), ("green", (0, 1, 0)), ("blue", (0, 0, 1)))


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("panel", help="try the GPIO panel: light, relay, button")
    commands = parser.add_subparsers(dest="panel_command", metavar="SUBCOMMAND", required=True)
    test = commands.add_parser(
        "test", help="walk the light through its colours, click the relay, wait for the button",
        description="Each step is shown and confirmed on the terminal (answer y or n). The "
        "relay cuts the desk phone's power for a second. Refused while a kiosk runs on this "
        "unit (stop it first: systemctl stop hotdesk-kiosk). Exit 0 when every step passed.")
    add_config_option(test)
    test.add_argument("--yes", action="store_true",
                      help="do not ask: show each colour for a second and click the relay")
    test.add_argument("--button-timeout", type=float, default=30.0, metavar="S",
                      help="how long to wait for the button (default 30 s)")
    test.set_defaults(func=run_panel_test)


def run_panel_test(args: argparse.Namespace, *, pin_factory=None,
                   ask: Callable[[str], str] = input) -> int:
    from kiosk.session.lock import kiosk_running
    from kiosk.wiring import open_panel

    if kiosk_running():
        raise CommandError("a kiosk is running on this unit and holds the pins: stop it first "
                           "(systemctl stop hotdesk-kiosk)", EXIT_PHONE_BUSY)
    config = load_config(args)
    try:
        panel = open_panel(config, pin_factory=pin_factory)
    except Exception as exc:  # gpiozero raises many kinds: no pin factory, pin in use, ...
        raise CommandError(f"cannot open the GPIO pins: {type(exc).__name__}: {exc} (check "
                           "[gpio] in the configuration and python3-lgpio)") from None
    results: list[bool] = []

    def confirm(question: str) -> bool:
        if args.yes:
            time.sleep(1.0)
            print(f"  {question} (shown; not asked: --yes)")
            return True
        try:
            answer = ask(f"  {question} [Y/n] ").strip().lower()
        except EOFError:
            answer = "n"
        return answer in ("", "y", "yes")

    def step(name: str, ok: bool, detail: str) -> None:
        results.append(ok)
        print(f"{'✓' if ok else '✗'} {name}: {detail}", flush=True)

    gpio = config.gpio
    with panel:
        for colour, value in COLOURS:
            panel.light.color = value
            seen = confirm(f"Is the light {colour}?")
            step(f"light {colour}", seen, "seen" if seen else
                 f"not seen: check the {colour} LED, its resistor and its pin")
        panel.light.off()
        if panel.has_relay:
            print(f"  clicking the relay (BCM {gpio.relay}): the phone's power goes off for "
                  "a second", flush=True)
            panel.power_cycle(1.0)
            clicked = confirm("Did the relay click, and the phone come back on?")
            step("relay", clicked, "clicked" if clicked else
                 f"no click: check the relay's wiring on BCM {gpio.relay} and "
                 "gpio.relay_active_high")
        else:
            step("relay", True, "not fitted (gpio.relay = false)")
        if panel.is_off_hook is not None:
            step("hook switch", True, "handset lifted" if panel.is_off_hook else
                 "handset down")
        if panel.button is not None:
            print(f"  press the sign-out button (BCM {gpio.sign_out_button}) within "
                  f"{args.button_timeout:.0f} s…", flush=True)
            pressed = panel.button.wait_for_press(timeout=args.button_timeout)
            step("button", bool(pressed), "pressed" if pressed else
                 f"no press in {args.button_timeout:.0f} s: check the button's wiring on BCM "
                 f"{gpio.sign_out_button} (to GND)")
        else:
            step("button", True, "not fitted")
    if all(results):
        print("the panel works")
        return 0
    print("the panel needs a look: see hardware/README.md (wiring)", file=sys.stderr)
    return EXIT_FAILED
