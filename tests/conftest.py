"""Shared fixtures. Real parts over mocks: real files, real servers on loopback, real ptys."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

MINIMAL_CONFIG = """
[desk]
id = "desk12"
host_user_id = "desk12@corp.example.au"

[callcenter]
url = "https://xsp.example.au/com.broadsoft.xsi-actions/v2.0"
"""


@pytest.fixture
def write_config(tmp_path):
    """Write TOML text (dedented) to a file and return its path."""

    def write(text: str = MINIMAL_CONFIG, name: str = "kiosk.toml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write
