"""The docked on-screen keyboard: a user-ID layout (letters, digits, `@ . - _` and a key that
types the append domain) and a password layout (with shift and symbols). Keys type into the
field the sign-in screen points it at; a physical keyboard works alongside."""

from __future__ import annotations

from kivy.factory import Factory
from kivy.metrics import dp
from kivy.properties import BooleanProperty, ObjectProperty, OptionProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout

from kiosk.ui import theme

BACKSPACE = "⌫"
SHIFT = "⇧"
SYMBOLS = "#+="
LETTERS = "abc"
ENTER = "enter"

USER_ROWS = [
    [*list("1234567890"), BACKSPACE],
    [*list("qwertyuiop"), "-"],
    [*list("asdfghjkl"), "_", "."],
    [*list("zxcvbnm"), "@", "domain"],
]
PASSWORD_ROWS = [
    [*list("1234567890"), BACKSPACE],
    [*list("qwertyuiop"), "-"],
    [*list("asdfghjkl"), "_", "."],
    [SHIFT, *list("zxcvbnm"), "@", SYMBOLS],
]
SYMBOL_ROWS = [
    [*list("1234567890"), BACKSPACE],
    [*list("!#$%&*+=?/"), "-"],
    [*list("()[]{}<>:"), ";", ","],
    [SHIFT, *list("~^'\"\\|`"), "€", LETTERS],
]


class OnScreenKeyboard(BoxLayout):
    mode = OptionProperty("user", options=["user", "password"])
    shift = BooleanProperty(False)
    symbols = BooleanProperty(False)
    domain = StringProperty("")  # what the domain key types, e.g. "@demo.example"
    target = ObjectProperty(None, allownone=True)
    enter_text = StringProperty("Next")
    __events__ = ("on_enter", "on_key")

    def __init__(self, **kwargs):
        super().__init__(orientation="vertical", spacing=dp(4), **kwargs)
        # Each layout's keys are made once and kept: switching layout swaps rows, and shift,
        # the domain and the Enter label only relabel keys. (Remaking ~45 buttons on every
        # change left tens of thousands of objects in reference cycles each time, and the
        # full garbage collections that followed stalled frames.)
        self._layouts: dict[str, list[BoxLayout]] = {}
        self.bind(mode=self._show, symbols=self._show, shift=self._relabel,
                  domain=self._relabel, enter_text=self._relabel)
        self._show()

    def keys(self) -> dict[str, object]:
        """The key widgets by what they type (for tests and the tour)."""
        found = {}
        for row in self.children:
            for key in row.children:
                found[key.key] = key
        return found

    def _layout(self) -> str:
        if self.mode == "user":
            return "user"
        return "symbols" if self.symbols else "password"

    def _show(self, *args) -> None:
        name = self._layout()
        rows = self._layouts.get(name)
        if rows is None:
            rows = self._layouts[name] = self._build(name)
        if list(reversed(self.children)) != rows:
            self.clear_widgets()
            for row in rows:
                self.add_widget(row)
        self._relabel()

    def _build(self, name: str) -> list[BoxLayout]:
        keys = {"user": USER_ROWS, "password": PASSWORD_ROWS, "symbols": SYMBOL_ROWS}[name]
        rows = []
        for row_keys in [*keys, [ENTER] if name == "user" else ["space", ENTER]]:
            row = BoxLayout(spacing=dp(4), size_hint_y=None, height=dp(theme.TARGET_DP))
            for key in row_keys:
                row.add_widget(self._key(key))
            rows.append(row)
        return rows

    def _label(self, key: str) -> str:
        if key == "domain":
            return self.domain or "@"
        if key == ENTER:
            return self.enter_text
        if key == "space":
            return "␣"
        if len(key) == 1 and key.isalpha() and self.shift:
            return key.upper()
        return key

    def _relabel(self, *args) -> None:
        for row in self.children:
            for button in row.children:
                button.text = self._label(button.key)

    def _key(self, key: str):
        width = {"domain": 3, ENTER: 4, "space": 6}.get(key, 1)
        kind = Factory.KSymbolKey if key in (BACKSPACE, SHIFT, "space") else Factory.KQuietButton
        button = kind(text=key, font_size="20sp", size_hint_x=width, height=dp(theme.TARGET_DP))
        if key == ENTER:
            button.background_color = theme.rgba(theme.PRIMARY)
        button.key = key
        button.bind(on_release=lambda b: self.press(b.key))
        return button

    def press(self, key: str) -> None:
        """Type `key` into the target field (also what a touch on the key does)."""
        self.dispatch("on_key", key)
        target = self.target
        if key == ENTER:
            self.dispatch("on_enter")
            return
        if key == SHIFT:
            self.shift = not self.shift
            return
        if key in (SYMBOLS, LETTERS):
            self.symbols = key == SYMBOLS
            return
        if target is None:
            return
        if key == BACKSPACE:
            target.do_backspace()
            return
        text = {"domain": self.domain or "@", "space": " "}.get(key, key)
        if len(text) == 1 and text.isalpha() and self.shift:
            text = text.upper()
            self.shift = False
        target.insert_text(text)

    def on_enter(self):
        pass

    def on_key(self, key):
        pass
