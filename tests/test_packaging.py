"""The distribution carries every package and the shipped data, also when not installed from
a checkout (a plain `pip install .`)."""

from __future__ import annotations

import subprocess
import sys
import tomllib

from tests.conftest import ROOT


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"])
    found = {str(p.parent.relative_to(ROOT)).replace("/", ".")
             for top in ("kiosk", "hardware") for p in (ROOT / top).rglob("__init__.py")}
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"


def test_a_plain_install_finds_its_assets(tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--target", str(target), str(ROOT)],
                   check=True, capture_output=True, timeout=300, cwd=tmp_path)
    script = ("from kiosk.paths import assets_dir, asset; "
              "from kiosk.ui.i18n import catalog; "
              "print(assets_dir()); print(asset('demo', 'directory.toml').exists()); "
              "print(catalog('fr').tr('Sign In'))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=tmp_path, env={"PYTHONPATH": str(target)}, timeout=60)
    lines = result.stdout.splitlines()
    assert lines[0].startswith(str(target)), result.stderr
    assert lines[1:] == ["True", "Se connecter"]
    assert len(list((target / "kiosk" / "ui").glob("*.kv"))) >= 7
    assert not (target / "kiosk_assets" / "screenshots").exists()  # the README's, not a unit's
