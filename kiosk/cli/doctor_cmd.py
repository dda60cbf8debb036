"""`kiosk doctor`: is this unit healthy? A checklist for facilities staff."""

from __future__ import annotations

import argparse
import json

from kiosk.cli.common import add_config_option


def register(sub: argparse._SubParsersAction) -> None:
    doctor = sub.add_parser(
        "doctor", help="check this unit: configuration, storage, display, phone, GPIO, "
        "Call Center, desk host, clock, fonts",
        description="Prints one line per check, ✓ or ✗, with what to do about each ✗. "
        "Exit 0 when all pass, 1 otherwise. Stop the kiosk first for the phone and GPIO checks "
        "(systemctl stop hotdesk-kiosk): they need the devices to themselves.")
    add_config_option(doctor)
    doctor.add_argument("--json", action="store_true", help="one JSON object, for fleet tools")
    doctor.set_defaults(func=run_doctor)


def run_doctor(args: argparse.Namespace) -> int:
    from kiosk import config as configuration
    from kiosk.doctor import Doctor, as_json

    checks = Doctor(args.config or configuration.default_path()).run()
    if args.json:
        print(json.dumps(as_json(checks), ensure_ascii=False, indent=1))
    else:
        for check in checks:
            print(check.line())
        failed = sum(1 for c in checks if not c.ok)
        print(f"\n{len(checks) - failed} of {len(checks)} checks passed"
              + ("" if not failed else f"; {failed} to fix"))
    return 0 if all(c.ok for c in checks) else 1
