"""Desk phone: round trips over a real pty at 115200 baud, against the bytes' own wire time.

The simulated phone paces every byte it sends and receives at the baud rate (8N1: ten bits a
byte), as a real serial line would; the wire time is what those bytes alone take. The ratio is
what the driver, the pty and the threads add on top.
"""

from __future__ import annotations

import statistics
import time

from hardware.phone import DeskPhone, GuestLine
from hardware.phone.at import encode_command
from hardware.phone.sim import SimulatedPhone

BAUD = 115200
ROUNDS = 200
LINE = GuestLine("mai@corp.example.au", "Mai Nguyen", "0391234567", "4567")


def _framed(*lines: str) -> int:
    return sum(len(b"\r\n" + text.encode() + b"\r\n") for text in lines)


def _median_ms(fn) -> float:
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    with SimulatedPhone(baudrate=BAUD, registration_delay_s=30) as sim, \
            DeskPhone(sim.port, baudrate=BAUD) as phone:
        state_bytes = len(encode_command("+HDSTATE", query=True)) + _framed(
            "+HDSTATE: 1,0,0", "OK")
        state_ms = _median_ms(phone.state)

        # Assigning the same line again is a full assign for the phone. Registration is
        # held back (registration_delay_s) so that no +HDREG shares the wire meanwhile.
        assign_bytes = len(encode_command("+HDLINE", LINE.user_id, LINE.display_name,
                                          LINE.number, LINE.extension)) + _framed("OK")
        assign_ms = _median_ms(lambda: phone.assign(LINE))

        for name, measured, nbytes in (("AT+HDSTATE?", state_ms, state_bytes),
                                       ("assign (AT+HDLINE=…)", assign_ms, assign_bytes)):
            wire_ms = nbytes * 10 / BAUD * 1000
            print(f"   {name}: {measured:.2f} ms round trip, {nbytes} bytes = {wire_ms:.2f} ms "
                  f"on the wire, ratio {measured / wire_ms:.2f}")
