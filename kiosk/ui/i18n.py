"""Translations: gettext catalogues (`assets/locales/<lang>.po`), read without Kivy.

`Catalog.load(lang)` parses a PO file into a dict; `tr(text)` gives the translation or the
English text. Right-to-left languages (Arabic) are shaped and laid out for display here,
because Kivy's default text provider draws characters one by one, left to right: `display()`
joins Arabic letters into their contextual forms (arabic-reshaper) and puts the runs of the
sentence in visual order (python-bidi, the Unicode bidirectional algorithm).
"""

from __future__ import annotations

import ast
import re
import unicodedata
from functools import cache
from pathlib import Path

from kiosk.paths import asset

#: Each language named in itself, for the language buttons.
LANGUAGE_NAMES = {
    "en": "English", "fr": "Français", "de": "Deutsch", "es": "Español", "it": "Italiano",
    "vi": "Tiếng Việt", "zh_CN": "中文", "ar": "العربية",
}
RTL_LANGUAGES = {"ar"}


def locales_dir() -> Path:
    return asset("locales")


def parse_po(text: str) -> dict[str, str]:
    """msgid -> msgstr of a PO file (fuzzy and empty translations left out)."""
    entries: dict[str, str] = {}
    msgid = msgstr = None
    current = None
    fuzzy = False

    def flush():
        if msgid and msgstr and not fuzzy:
            entries[msgid] = msgstr

    for raw in [*text.splitlines(), ""]:
        line = raw.strip()
        if not line:
            flush()
            msgid = msgstr = current = None
            fuzzy = False
        elif line.startswith("#,") and "fuzzy" in line:
            fuzzy = True
        elif line.startswith("#"):
            continue
        elif line.startswith("msgid "):
            flush()
            msgid, msgstr, current = _string(line[6:]), None, "id"
        elif line.startswith("msgstr "):
            msgstr, current = _string(line[7:]), "str"
        elif line.startswith('"'):
            if current == "id":
                msgid += _string(line)
            elif current == "str":
                msgstr += _string(line)
    return entries


def _string(token: str) -> str:
    return ast.literal_eval(token.strip())


class Catalog:
    """One language's translations."""

    def __init__(self, language: str, entries: dict[str, str]):
        self.language = language
        self.entries = entries
        self.rtl = language in RTL_LANGUAGES

    @classmethod
    def load(cls, language: str) -> Catalog:
        path = locales_dir() / f"{language}.po"
        entries = parse_po(path.read_text(encoding="utf-8")) if path.exists() else {}
        return cls(language, entries)

    def tr(self, text: str, **values) -> str:
        """The translation of `text`, with `{placeholders}` filled, ready for display."""
        translated = self.raw(text, **values)
        return display(translated, rtl=True) if self.rtl else translated

    def raw(self, text: str, **values) -> str:
        """The translation in logical order (to be joined with more text, then displayed)."""
        translated = self.entries.get(text, text)
        return translated.format(**values) if values else translated


@cache
def catalog(language: str) -> Catalog:
    return Catalog.load(language)


# --- right-to-left --------------------------------------------------------------------------


def _is_rtl_char(ch: str) -> bool:
    return unicodedata.bidirectional(ch) in ("R", "AL")


def display(text: str, *, rtl: bool | None = None) -> str:
    """Arabic text shaped and in visual (left-to-right drawing) order, line by line.

    The Unicode bidirectional algorithm (python-bidi) orders the runs: a user ID, an accented
    Latin name, digits and times keep their own order inside a right-to-left sentence, brackets
    are mirrored, and a sentence-final full stop ends up at the sentence's (left) end. `rtl`:
    the paragraph's direction (True for a right-to-left catalogue's sentence); None takes it
    from the text's first strong letter (a name). Text without right-to-left letters is
    returned unchanged.
    """
    if not any(_is_rtl_char(ch) for ch in text):
        return text
    import arabic_reshaper
    from bidi.algorithm import get_display

    base = None if rtl is None else ("R" if rtl else "L")
    return "\n".join(get_display(arabic_reshaper.reshape(line), base_dir=base)
                     for line in text.split("\n"))


# --- the catalogue's messages ----------------------------------------------------------------

_TR_CALL = re.compile(r"""\b(?:tr|raw|labelled)\(\s*"((?:[^"\\]|\\.)*)\"""")


def colon(language: str) -> str:
    """The colon between a label and its value: French puts a (no-break) space before it."""
    return "\u00a0: " if language.split("_")[0] == "fr" else ": "


def source_messages() -> list[str]:
    """Every English text the screens can show: `tr("…")`, `raw("…")`, `labelled("…", …)` in
    the UI's code and kv files, and the sentence tables. The catalogues must translate each
    one (a test checks)."""
    from kiosk.ui import messages

    here = Path(__file__).parent
    found: dict[str, None] = {}
    for path in sorted(here.glob("*.py")) + sorted(here.glob("*.kv")):
        if path.name in ("demo.py", "demo.kv", "tour.py", "i18n.py"):
            continue  # the demo's virtual desk is a developer tool, in English
        for match in _TR_CALL.finditer(path.read_text(encoding="utf-8")):
            found[ast.literal_eval(f'"{match.group(1)}"')] = None
    tables = [messages.ERRORS, messages.NOTICES, messages.WARNINGS]
    for module, names in (("kiosk.ui.progress", ["STEP_TEXT"]),
                          ("kiosk.ui.welcome", ["PHONE_TEXT", "NETWORK_TEXT"]),
                          ("kiosk.ui.signedin", ["ACD_TEXT"]),
                          ("kiosk.ui.outoforder", ["REASONS"]),
                          ("kiosk.ui.app", ["BADGE_NOTICES"])):
        source = (here / (module.rsplit(".", 1)[1] + ".py")).read_text(encoding="utf-8")
        for name in names:
            start = source.index(f"{name} = {{")
            end = source.index("}", start) + 1
            tables.append(ast.literal_eval(source[start + len(name) + 3:end]))
    for table in tables:
        for text in table.values():
            found[text] = None
    return list(found)
