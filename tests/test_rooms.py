"""Small rooms: the engine's module stays under 500 lines and no class in the kiosk over 400,
so that a new job gets a room of its own instead of growing one."""

from __future__ import annotations

import ast

from tests.conftest import ROOT


def test_the_engine_module_stays_small():
    lines = (ROOT / "kiosk" / "session" / "engine.py").read_text().count("\n")
    assert lines <= 500, f"kiosk/session/engine.py has {lines} lines"


def test_no_class_in_the_kiosk_is_over_400_lines():
    large = []
    for path in sorted((ROOT / "kiosk").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > 400:
                large.append(f"{path.relative_to(ROOT)}: {node.name}, "
                             f"{node.end_lineno - node.lineno + 1} lines")
    assert not large, large
