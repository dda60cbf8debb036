"""The kiosk unit's systemd exposure score (`systemd-analyze security --offline=true`).
Target: 3.0 or lower."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

SYSTEMD = Path(__file__).resolve().parents[2] / "systemd"


def main() -> None:
    if shutil.which("systemd-analyze") is None:
        print("   systemd-analyze is not installed: no score")
        return
    for unit in ("hotdesk-kiosk.service", "hotdesk-retention.service"):
        out = subprocess.run(["systemd-analyze", "security", "--offline=true",
                              str(SYSTEMD / unit)], capture_output=True, text=True).stdout
        match = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", out)
        print(f"   {unit}: exposure {match.group(1)} {match.group(2)} (target <= 3.0)")
