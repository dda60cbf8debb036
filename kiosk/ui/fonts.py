"""Fonts that cover each language, and proof of it: a small reader of a font's `cmap`.

Latin, Vietnamese, Greek and Cyrillic use Kivy's bundled Roboto; Arabic the DejaVu Sans that
Kivy bundles (it has Arabic and Latin); Chinese Noto Sans CJK (or WenQuanYi) from the system.
A language whose font is missing is left out of the language list with a warning, never shown
as boxes (`usable_languages`).
"""

from __future__ import annotations

import logging
import os
import struct
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)


def _kivy_fonts() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("kivy")
    return Path(spec.origin).parent / "data" / "fonts"


#: Where the system's fonts are; `HOTDESK_SYSTEM_FONTS` points elsewhere (to try the kiosk as
#: on a machine without a CJK font, as the tests do).
_SYSTEM = Path(os.environ.get("HOTDESK_SYSTEM_FONTS", "/usr/share/fonts"))
CANDIDATES: dict[str, list[Path]] = {
    "latin": [_kivy_fonts() / "Roboto-Regular.ttf"],
    # Kivy draws a label in one font, and an Arabic sentence holds Latin user IDs and digits:
    # Noto Sans Arabic has no Latin letters, DejaVu Sans (bundled with Kivy) has both.
    "ar": [_kivy_fonts() / "DejaVuSans.ttf",
           _SYSTEM / "truetype/dejavu/DejaVuSans.ttf"],
    "zh_CN": [_SYSTEM / "opentype/noto/NotoSansCJK-Regular.ttc",
              _SYSTEM / "opentype/noto/NotoSansCJKsc-Regular.otf",
              _SYSTEM / "truetype/wqy/wqy-microhei.ttc",
              _SYSTEM / "truetype/droid/DroidSansFallbackFull.ttf"],
}


def script_of(language: str) -> str:
    """The script (a key of CANDIDATES) a language, or a script's own name, is written in."""
    return language if language in ("ar", "zh_CN") else "latin"


def font_for(language: str) -> Path | None:
    """The first font present for the language's script, or None."""
    return _first_present(tuple(CANDIDATES[script_of(language)]))


@cache
def _first_present(paths: tuple[Path, ...]) -> Path | None:
    # Asked from kv bindings on the UI thread: look at the disk once per list of candidates.
    return next((path for path in paths if path.exists()), None)


@cache
def coverage(path: Path) -> frozenset[int]:
    """Every code point the font at `path` maps to a glyph (first font of a collection)."""
    data = path.read_bytes()
    offset = 0
    if data[:4] == b"ttcf":
        offset = struct.unpack(">I", data[12:16])[0]
    num_tables = struct.unpack(">H", data[offset + 4:offset + 6])[0]
    cmap_offset = None
    for i in range(num_tables):
        record = offset + 12 + 16 * i
        tag = data[record:record + 4]
        if tag == b"cmap":
            cmap_offset = struct.unpack(">I", data[record + 8:record + 12])[0]
    if cmap_offset is None:
        return frozenset()
    count = struct.unpack(">H", data[cmap_offset + 2:cmap_offset + 4])[0]
    points: set[int] = set()
    for i in range(count):
        platform, encoding, sub = struct.unpack(
            ">HHI", data[cmap_offset + 4 + 8 * i:cmap_offset + 12 + 8 * i])
        if (platform, encoding) not in ((3, 1), (3, 10), (0, 3), (0, 4), (0, 6)):
            continue
        points |= _subtable(data, cmap_offset + sub)
    return frozenset(points)


def _subtable(data: bytes, at: int) -> set[int]:
    fmt = struct.unpack(">H", data[at:at + 2])[0]
    points: set[int] = set()
    if fmt == 4:
        segments = struct.unpack(">H", data[at + 6:at + 8])[0] // 2
        ends = struct.unpack(f">{segments}H", data[at + 14:at + 14 + 2 * segments])
        starts_at = at + 16 + 2 * segments
        starts = struct.unpack(f">{segments}H", data[starts_at:starts_at + 2 * segments])
        deltas_at = starts_at + 2 * segments
        deltas = struct.unpack(f">{segments}h", data[deltas_at:deltas_at + 2 * segments])
        ranges_at = deltas_at + 2 * segments
        offsets = struct.unpack(f">{segments}H", data[ranges_at:ranges_at + 2 * segments])
        for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
            for code in range(start, end + 1):
                if code == 0xFFFF:
                    continue
                if offsets[i] == 0:
                    glyph = (code + deltas[i]) & 0xFFFF
                else:
                    where = ranges_at + 2 * i + offsets[i] + 2 * (code - start)
                    glyph = struct.unpack(">H", data[where:where + 2])[0]
                    if glyph:
                        glyph = (glyph + deltas[i]) & 0xFFFF
                if glyph:
                    points.add(code)
    elif fmt == 12:
        groups = struct.unpack(">I", data[at + 12:at + 16])[0]
        for i in range(groups):
            start, end, glyph = struct.unpack(">III", data[at + 16 + 12 * i:at + 28 + 12 * i])
            points.update(range(start, end + 1))
    return points


def missing_glyphs(path: Path, text: str) -> set[str]:
    """Characters of `text` the font cannot draw (white space and controls aside)."""
    covered = coverage(path)
    return {ch for ch in set(text) if not ch.isspace() and ord(ch) >= 0x20
            and ord(ch) not in covered}


#: What to install for a script's font (Debian package names).
FONT_PACKAGES = {"zh_CN": "fonts-noto-cjk", "ar": "fonts-dejavu-core", "latin": "fonts-dejavu-core"}


def missing_font_hint(language: str) -> str:
    """One sentence for a language left out for want of a font: why, and what to install."""
    return (f"no font for {language} on this machine; it is left out of the language list "
            f"(apt-get install {FONT_PACKAGES[script_of(language)]})")


def usable_languages(languages) -> list[str]:
    """The configured languages that have a font; the others are dropped with a warning."""
    usable = []
    for language in languages:
        if font_for(language) is None:
            log.warning("%s", missing_font_hint(language))
        else:
            usable.append(language)
    return usable


def font_for_text(text: str, language: str) -> Path | None:
    """The font to draw a text that may not be in the screen's language (a language's name,
    an agent's name, a reason from the server): the screen's font when it has every glyph,
    else the first installed font that has them all, else None (no font here can draw it:
    show something else rather than boxes). Drawing letters a font lacks is slow besides."""
    own = font_for(language)
    if own is not None and not missing_glyphs(own, text):
        return own
    for script in SCRIPTS:
        path = font_for(script)
        if path is not None and path != own and not missing_glyphs(path, text):
            return path
    return None


SCRIPTS = ("latin", "ar", "zh_CN")


def warm(languages) -> None:
    """Read the coverage of every font the languages use (a CJK font is large): call it on a
    worker thread at start-up, so that the UI thread never parses a font."""
    for script in {*SCRIPTS, *languages}:
        path = font_for(script)
        if path is not None:
            coverage(path)


def font_file(font_name: str, bold: bool = False) -> Path | None:
    """The file Kivy draws `font_name` from (a registered name such as "Roboto", or a path),
    or None when there is no such font. For checking what a widget really shows."""
    from kivy.core.text import LabelBase

    registered = LabelBase._fonts.get(font_name)
    if registered:
        from kivy.resources import resource_find

        found = resource_find(registered[2 if bold else 0])
        return Path(found) if found else None
    path = Path(font_name)
    return path if path.exists() else None
