"""The docked on-screen keyboard: a user-ID layout (letters, digits, `@ . - _` and a key that
types the append domain) and a password layout (with shift and symbols). Keys type into the
field the sign-in screen points it at; a physical keyboard works alongside."""

from __future__ import annotations

from kivy.app import App
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
        self.bind(mode=self._rebuild, shift=self._rebuild, symbols=self._rebuild,
                  domain=self._rebuild, enter_text=self._rebuild)
        self._rebuild()

    def keys(self) -> dict[str, object]:
        """The key widgets by what they type (for tests and the tour)."""
        found = {}
        for row in self.children:
            for key in row.children:
                found[key.key] = key
        return found

    def _rows(self) -> list[list[str]]:
        if self.mode == "user":
            return USER_ROWS
        return SYMBOL_ROWS if self.symbols else PASSWORD_ROWS

    def _rebuild(self, *args) -> None:
        self.clear_widgets()
        app = App.get_running_app()
        for row_keys in [*self._rows(), ["space", ENTER] if self.mode == "password" else [ENTER]]:
            row = BoxLayout(spacing=dp(4), size_hint_y=None, height=dp(theme.TARGET_DP))
            for key in row_keys:
                row.add_widget(self._key(key, app))
            self.add_widget(row)

    def _key(self, key: str, app):
        label = key
        width = 1
        if key == "domain":
            label, width = self.domain or "@", 3
        elif key == ENTER:
            label, width = self.enter_text, 4
        elif key == "space":
            label, width = "␣", 6
        elif len(key) == 1 and key.isalpha() and self.shift:
            label = key.upper()
        button = Factory.KQuietButton(text=label, font_size="20sp", size_hint_x=width,
                                      height=dp(theme.TARGET_DP))
        if key in (BACKSPACE, SHIFT, "space"):
            button.font_name = "DejaVuSans"  # symbols the text fonts lack
        if key == ENTER:
            button.background_color = theme.rgba(theme.PRIMARY)
            button.font_name = app.font_name if app else button.font_name
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
