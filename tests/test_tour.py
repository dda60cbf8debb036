"""`kiosk demo --tour` as a newcomer runs it: on a machine without a CJK font it still walks
every screen, leaves Chinese out with the reason, and exits 0 without a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT


def test_tour_without_a_cjk_font_skips_chinese_and_succeeds(tmp_path):
    out = tmp_path / "tour"
    env = {**os.environ, "HOTDESK_SYSTEM_FONTS": str(tmp_path / "no-fonts"),
           "SDL_VIDEODRIVER": "offscreen"}
    result = subprocess.run([sys.executable, "-m", "kiosk", "demo", "--tour", str(out)],
                            capture_output=True, text=True, timeout=240, cwd=ROOT, env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "Traceback" not in output and "StopIteration" not in output
    report = json.loads((out / "tour.json").read_text())
    assert report["ok"] is True
    steps = {step["name"]: step for step in report["steps"]}
    chinese = steps["sign-in in zh_CN"]
    assert "fonts-noto-cjk" in chinese["skipped"] and chinese["screenshot"] is None
    for name in ("welcome", "sign-in in fr", "sign-in in ar", "out of order"):
        assert steps[name]["ok"] and "skipped" not in steps[name]
        assert (out / steps[name]["screenshot"]).stat().st_size > 5000
    assert (out / "sessions.db").exists()
