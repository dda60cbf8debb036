"""`kiosk phone info / state / assign / release / lang / msg`: talk to the desk phone directly."""

from __future__ import annotations

import argparse
import json
import re
from contextlib import contextmanager

from kiosk.cli.common import (
    EXIT_PHONE_BUSY,
    EXIT_PHONE_SILENT,
    CommandError,
    add_config_option,
    baudrate,
    load_config,
    serial_port,
)


def register(sub: argparse._SubParsersAction) -> None:
    common = argparse.ArgumentParser(add_help=False)
    add_config_option(common)
    common.add_argument("--port", metavar="URL", type=serial_port,
                        help="device path or pyserial URL; overrides phone.port")
    common.add_argument("--baudrate", type=baudrate, default=None,
                        help="overrides phone.baudrate (default 115200)")

    parser = sub.add_parser("phone", help="talk to the desk phone over its serial line")
    commands = parser.add_subparsers(dest="phone_command", metavar="SUBCOMMAND", required=True)

    info = commands.add_parser("info", parents=[common],
                               help="manufacturer, model, firmware and serial number")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.add_argument("--force", action="store_true", help=BESIDE_KIOSK)
    info.set_defaults(func=run_info)

    state = commands.add_parser("state", parents=[common], help="registration, hook and line")
    state.add_argument("--json", action="store_true", help="print one JSON object")
    state.add_argument("--force", action="store_true", help=BESIDE_KIOSK)
    state.set_defaults(func=run_state)

    assign = commands.add_parser("assign", parents=[common], help="assign a guest line")
    assign.add_argument("user_id", metavar="USER_ID", type=_full_user_id,
                        help="the full user ID, user@domain")
    assign.add_argument("display_name", metavar="DISPLAY_NAME", type=_display_name)
    assign.add_argument("--number", default="", metavar="N", type=_dialable,
                        help="digits, + * # (at most 20)")
    assign.add_argument("--extension", default="", metavar="E", type=_dialable)
    assign.add_argument("--force", action="store_true", help=BESIDE_KIOSK)
    assign.set_defaults(func=run_assign)

    release = commands.add_parser("release", parents=[common],
                                  help="back to the desk default line")
    release.add_argument("--force", action="store_true",
                         help="even while off hook (drops a call in progress), and even beside "
                         "a running kiosk")
    release.set_defaults(func=run_release)

    lang = commands.add_parser("lang", parents=[common], help="set the display language")
    lang.add_argument("tag", metavar="TAG", type=_language_tag,
                      help="BCP 47 tag (en, fr, zh-Hans, ar, …) or the kiosk's own (zh_CN)")
    lang.add_argument("--force", action="store_true", help=BESIDE_KIOSK)
    lang.set_defaults(func=run_lang)

    msg = commands.add_parser("msg", parents=[common], help="show a short idle-screen text")
    msg.add_argument("text", metavar="TEXT", type=_message,
                     help='at most 32 characters; "" clears it')
    msg.add_argument("--force", action="store_true", help=BESIDE_KIOSK)
    msg.set_defaults(func=run_msg)


MESSAGE_MAX = 32
BESIDE_KIOSK = "even beside a running kiosk (which holds the phone: it would be disturbed)"


def _full_user_id(text: str) -> str:
    from kiosk.identity import is_full_user_id

    if not is_full_user_id(text):
        raise argparse.ArgumentTypeError(f"must be a full user ID, user@domain (got {text!r})")
    return text


def _display_name(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def _dialable(text: str) -> str:
    if len(text) > 20 or any(ch not in "0123456789+*#" for ch in text):
        raise argparse.ArgumentTypeError(
            f"only digits and + * #, at most 20 (got {text!r})")
    return text


def _language_tag(text: str) -> str:
    """A BCP 47 tag as the phone takes it: `zh_CN` (the kiosk's) becomes `zh-Hans`, `FR`
    becomes `fr`."""
    from kiosk.session.phonelink import phone_language

    tag = phone_language(text.strip())
    if not re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*", tag):
        raise argparse.ArgumentTypeError(f"not a language tag such as en, fr or zh-Hans "
                                         f"(got {text!r})")
    primary, *rest = tag.split("-")
    return "-".join([primary.lower(), *rest])


def _message(text: str) -> str:
    if len(text) > MESSAGE_MAX:
        raise argparse.ArgumentTypeError(
            f"at most {MESSAGE_MAX} characters (got {len(text)})")
    return text


@contextmanager
def _phone(args: argparse.Namespace):
    from hardware.phone import DeskPhone, PhoneBusy, PhoneDisconnected, PhoneError, PhoneTimeout
    from kiosk.session.lock import kiosk_running

    if not args.force and kiosk_running():
        raise CommandError("a kiosk is running on this unit and holds the phone: talking to "
                           "it here would disturb it (kiosk status shows the phone; add "
                           "--force to go ahead anyway)", EXIT_PHONE_BUSY)
    port, baudrate = args.port, args.baudrate
    # --port alone needs no configuration file; otherwise phone.port/baudrate come from it.
    if port is None or args.config is not None:
        config = load_config(args)
        port = port or config.phone.port
        baudrate = baudrate or config.phone.baudrate
    baudrate = baudrate or 115200
    try:
        with DeskPhone(port, baudrate=baudrate) as phone:
            yield phone
    except PhoneBusy as exc:
        raise CommandError(f"{exc} (the handset is lifted: a call may be in progress)",
                           EXIT_PHONE_BUSY) from None
    except PhoneDisconnected as exc:
        raise CommandError(f"{exc}; check the USB-serial cable and /dev/deskphone",
                           EXIT_PHONE_SILENT) from None
    except PhoneTimeout as exc:
        raise CommandError(f"{exc}; check the phone is powered and the baud rate",
                           EXIT_PHONE_SILENT) from None
    except PhoneError as exc:
        raise CommandError(str(exc)) from None


def _line_json(line):
    if line is None:
        return None
    return {"user_id": line.user_id, "display_name": line.display_name,
            "number": line.number, "extension": line.extension}


def run_info(args: argparse.Namespace) -> int:
    with _phone(args) as phone:
        ident = phone.identify()
    data = {"manufacturer": ident.manufacturer, "model": ident.model,
            "revision": ident.revision, "serial": ident.serial}
    if args.json:
        print(json.dumps(data, ensure_ascii=False))
    else:
        print(f"{ident.manufacturer} {ident.model}, firmware {ident.revision}, "
              f"serial {ident.serial}")
    return 0


def run_state(args: argparse.Namespace) -> int:
    with _phone(args) as phone:
        state = phone.state()
        line = phone.line() if state.line_assigned else None
    data = {"registered": state.registered, "off_hook": state.off_hook, "line": _line_json(line)}
    if args.json:
        print(json.dumps(data, ensure_ascii=False))
        return 0
    print(f"registered: {'yes' if state.registered else 'no'}")
    print(f"handset: {'off hook' if state.off_hook else 'on hook'}")
    if line is None:
        print("line: desk default")
    else:
        print(f"line: {line.display_name} ({line.user_id}), number {line.number or '-'}, "
              f"extension {line.extension or '-'}")
    return 0


def run_assign(args: argparse.Namespace) -> int:
    from hardware.phone import GuestLine

    with _phone(args) as phone:
        phone.assign(GuestLine(args.user_id, args.display_name, args.number, args.extension))
    print(f"assigned {args.user_id} to the phone")
    return 0


def run_release(args: argparse.Namespace) -> int:
    with _phone(args) as phone:
        phone.release(force=args.force)
    print("the phone is back on the desk default line")
    return 0


def run_lang(args: argparse.Namespace) -> int:
    with _phone(args) as phone:
        phone.set_language(args.tag)
    print(f"phone language: {args.tag}")
    return 0


def run_msg(args: argparse.Namespace) -> int:
    with _phone(args) as phone:
        phone.show_message(args.text)
    print("message set" if args.text else "message cleared")
    return 0
