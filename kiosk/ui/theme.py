"""Colours and sizes of the kiosk screen, chosen for a 7" 800×480 touch panel.

Every text/background pair in use is listed in `PAIRS` and kept at a contrast of at least 4.5:1
(WCAG 1.4.3); a test checks them. Touch targets are at least 48 dp.
"""

from __future__ import annotations

BACKGROUND = "#0F1720"
SURFACE = "#1C2733"
TEXT = "#FFFFFF"
TEXT_MUTED = "#B8C4CE"
PRIMARY = "#1565C0"
DANGER = "#C62828"
SUCCESS = "#2E7D32"
WARNING = "#FFB300"
WARNING_TEXT = "#000000"
FIELD = "#FFFFFF"
FIELD_TEXT = "#0F1720"
KEY = "#2C3A48"
ERROR_TEXT = "#FF8A80"

TARGET_DP = 48

#: (foreground, background) pairs the screens use
PAIRS = [
    (TEXT, BACKGROUND), (TEXT_MUTED, BACKGROUND), (TEXT, SURFACE), (TEXT_MUTED, SURFACE),
    (TEXT, PRIMARY), (TEXT, DANGER), (TEXT, SUCCESS), (WARNING_TEXT, WARNING),
    (FIELD_TEXT, FIELD), (TEXT, KEY), (ERROR_TEXT, BACKGROUND), (ERROR_TEXT, SURFACE),
]


def rgba(hex_colour: str, alpha: float = 1.0) -> tuple[float, float, float, float]:
    value = hex_colour.lstrip("#")
    return (*tuple(int(value[i:i + 2], 16) / 255 for i in (0, 2, 4)), alpha)


def _luminance(hex_colour: str) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b, _ = rgba(hex_colour)
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(foreground: str, background: str) -> float:
    """The WCAG contrast ratio of two colours (1 to 21)."""
    a, b = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (a + 0.05) / (b + 0.05)
