"""What the badge table costs its owner and a thief. One lookup (a tap) and the cost of one
guess for someone holding the table and its key (an SD card thief), against the HMAC-SHA256
of earlier versions (the baseline, in the same process); the time to walk the whole space of
an 8-digit badge on one core; and `badges import` of 2,000 rows on this machine's cores."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import tempfile
import time
from pathlib import Path

from kiosk.badges import BadgeTable


def _per_call(fn, count: int) -> float:
    started = time.perf_counter()
    for i in range(count):
        fn(i)
    return (time.perf_counter() - started) / count


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        table = BadgeTable(tmp / "badges.json", key_file=tmp / "badge-key")
        table.add("0004521788", "mai@corp.example.au")
        key = table.key()
        scrypt_s = _per_call(lambda i: table.hashed(f"{i:08d}", key), 40)
        hmac_s = _per_call(lambda i: hmac.new(key, f"{i:08d}".encode(),
                                              hashlib.sha256).hexdigest(), 20000)
        tap_s = _per_call(lambda i: table.lookup("0004521788"), 20)
        print(f"   a tap's lookup in the table: {tap_s * 1000:.0f} ms")
        print(f"   one guess with the key in hand: scrypt {scrypt_s * 1000:.1f} ms vs the old "
              f"HMAC {hmac_s * 1e6:.1f} µs ({scrypt_s / hmac_s:,.0f}×)")
        space = 10 ** 8
        print(f"   every 8-digit badge on one core: {space * scrypt_s / 86400:,.0f} days (the "
              f"old table, with its last four digits: {10 ** 4 * hmac_s * 1000:.0f} ms a badge)")
        rows = tmp / "import.csv"
        rows.write_text("badge,user_id\n" + "".join(
            f"{secrets.randbelow(10 ** 10):010d},agent{i}@corp.example.au\n"
            for i in range(2000)))
        started = time.perf_counter()
        count = table.import_csv(rows, check_user=lambda user: user, replace=True,
                                 min_length=4, max_length=20)
        took = time.perf_counter() - started
        print(f"   badges import of {count:,} rows on {os.cpu_count()} core(s): {took:.1f} s "
              f"({count / took:.0f} rows/s)")
