"""The README keeps up with the code: every configuration key and every command is documented."""

from __future__ import annotations

import argparse
import re

import pytest

from kiosk.cli import build_parser
from kiosk.config import DERIVED, KEYS, REQUIRED
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def config_reference_rows() -> dict[str, str]:
    """The README's configuration reference: key -> the rest of its table row."""
    rows = {}
    for line in README.splitlines():
        m = re.match(r"\|\s*`([a-z_]+\.[a-z_]+)`\s*\|(.*)", line)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


@pytest.mark.parametrize("key", [k.name for k in KEYS])
def test_every_config_key_is_in_the_readme(key):
    assert key in config_reference_rows(), f"README's configuration reference lacks {key}"


def test_readme_documents_no_key_the_loader_does_not_know():
    known = {k.name for k in KEYS}
    assert set(config_reference_rows()) <= known


def toml_literal(value) -> str:
    if value is None:
        return "absent"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_literal(v) for v in value) + "]"
    return repr(value).removesuffix(".0") if isinstance(value, float) else str(value)


@pytest.mark.parametrize("key", [k for k in KEYS if k.default not in (REQUIRED, DERIVED)],
                         ids=lambda k: k.name)
def test_readme_shows_each_default(key):
    row = config_reference_rows()[key.name]
    default_cell = row.split("|")[0]
    assert toml_literal(key.default) in default_cell, (key.name, default_cell)


@pytest.mark.parametrize("key", [k for k in KEYS if k.default is REQUIRED], ids=lambda k: k.name)
def test_readme_marks_required_keys(key):
    assert "required" in config_reference_rows()[key.name].split("|")[0]


def command_paths(parser: argparse.ArgumentParser, prefix=("kiosk",)):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                path = (*prefix, name)
                children = list(command_paths(sub, path))
                yield from children or [" ".join(path)]


COMMANDS = sorted(set(command_paths(build_parser())))


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_is_in_the_readme(command):
    assert f"`{command}" in README, f"README does not document `{command}`"


def test_the_readme_lists_every_event_kind_as_the_code_does():
    from kiosk.sessionlog.query import EVENT_KINDS

    table = README[README.index("| event kind |"):]
    table = table[:table.index("\n\n")]
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| (.+) \|$", table, re.MULTILINE))
    assert {k: rows.get(k) for k in EVENT_KINDS} == EVENT_KINDS


# --- the repository stands alone -------------------------------------------------------------

DOCUMENTS = [ROOT / "README.md", ROOT / "hardware" / "README.md",
             *sorted((ROOT / "docs").glob("*.md"))]


def _cited_paths(document) -> list[str]:
    """Every file a document links to: markdown links, and `…/name.md` paths in code spans."""
    text = document.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    spans = [span for span in re.findall(
        r"`([\w./-]+\.(?:md|toml|example|sh|service|catalog))`", text)
        if span.endswith(".md") or span.startswith(("docs/", "systemd/", "assets/", "hardware/"))]
    return [link for link in links + spans if not re.match(r"[a-z]+://", link)]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_file_a_document_cites_is_in_the_repository(document):
    missing = []
    for cited in _cited_paths(document):
        here, top = (document.parent / cited), (ROOT / cited)
        if not (here.exists() or top.exists() or (ROOT / "systemd" / cited).exists()):
            missing.append(cited)
    assert not missing, f"{document.name} cites files the repository lacks: {missing}"


def test_nothing_points_outside_the_repository():
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        assert "../shared" not in text and "beside the repository" not in text, document
