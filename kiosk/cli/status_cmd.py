"""`kiosk status`: what the running kiosk on this unit is doing now (asked, never disturbed)."""

from __future__ import annotations

import argparse
import json

from kiosk.cli.common import CommandError

EXIT_NOT_RUNNING = 3


def register(sub: argparse._SubParsersAction) -> None:
    status = sub.add_parser(
        "status", help="what the running kiosk is doing now",
        description="Asks the running kiosk over its local socket (in /run/hotdesk; root and "
        "the hotdesk group): state, agent and since when, phone, Call Center connection and "
        "event channel, last error, version and uptime. Exit 0 when a kiosk answers, 3 when "
        "none runs.")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.set_defaults(func=run_status)


def run_status(args: argparse.Namespace) -> int:
    from kiosk.status import ask, status_path

    try:
        answer = ask()
    except PermissionError:
        raise CommandError(f"permission denied on {status_path()}: asking the kiosk takes root "
                           "or the hotdesk group (sudo kiosk status)") from None
    if answer is None:
        raise CommandError(f"no kiosk is running on this unit (nothing answers on "
                           f"{status_path()})", EXIT_NOT_RUNNING)
    if args.json:
        print(json.dumps(answer, ensure_ascii=False))
        return 0
    for line in lines(answer):
        print(line)
    return 0


def lines(answer: dict) -> list[str]:
    out = [f"kiosk {answer.get('version', '?')} (pid {answer.get('pid', '?')}), up "
           f"{_duration(answer.get('uptime_s'))}: {answer.get('state', '?')}"
           + (f" ({answer['out_of_order']})" if answer.get("out_of_order") else "")]
    if "desk" in answer:
        out.append(f"  desk: {answer['desk']}")
    agent = answer.get("agent")
    if agent:
        from kiosk.sessionlog.query import local_time

        state = agent.get("acd_state") or ("no ACD state" if agent.get("role") == "supervisor"
                                           else "?")
        if agent.get("unavailable_code"):
            state += f" ({agent['unavailable_code']})"
        out.append(f"  agent: {agent['name']} ({agent['user_id']}), {agent['role']}, since "
                   f"{local_time(agent.get('since'))}; ACD state: {state}")
    elif "agent" in answer:
        out.append("  agent: none (the desk is free)")
    phone = answer.get("phone")
    if phone and phone.get("status") in ("none", "missing"):
        what = ("no HD-AT/1 phone configured" if phone["status"] == "none"
                else "missing (not plugged in)")
        out.append(f"  phone: {what}; calls ring on the desk host's phone, which shows the "
                   "desk's own name, not the agent's")
    elif phone:
        out.append(f"  phone: {phone.get('status')}; {phone.get('model') or 'model unknown'}, "
                   f"serial {phone.get('serial') or '?'}"
                   + ("; handset off hook" if phone.get("off_hook") else ""))
    gpio = answer.get("gpio")
    if gpio:
        out.append("  gpio: ok" if gpio.get("status") == "ok" else
                   f"  gpio: unavailable ({gpio.get('error') or 'no pins'}); no lights, relay "
                   "or button")
    badge = answer.get("badge")
    if badge:
        out.append(f"  badge reader: {badge.get('status')}, {badge.get('device')}"
                   + (f" ({badge['error']})" if badge.get("error") else ""))
    if answer.get("badge_directory_problem"):
        out.append(f"  badge directory: not used: {answer['badge_directory_problem']}")
    callcenter = answer.get("callcenter")
    if callcenter:
        corrections = callcenter.get("resync_corrections") or 0
        out.append(f"  Call Center: {callcenter.get('connection')}; changes by "
                   f"{callcenter.get('events')}; resync corrections since start: "
                   f"{corrections}" + (" (the server loses events: see kiosk events --kind "
                                       "resync_corrected)" if corrections else ""))
    if answer.get("last_error"):
        out.append(f"  last error: {answer['last_error']}")
    if answer.get("log_problem"):
        out.append(f"  session log: {answer['log_problem']}")
    if answer.get("error"):
        out.append(f"  (part of the answer failed: {answer['error']})")
    return out


def _duration(seconds) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min {rest % 60:02d} s"
