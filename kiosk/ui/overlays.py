"""Overlays on top of any screen: the warning countdown (extend / sign out now), notices
(evicted, signed out by a policy, …) and the off-hook confirmation."""

from __future__ import annotations

from pathlib import Path

from kivy.factory import Factory
from kivy.lang import Builder
from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.floatlayout import FloatLayout

Builder.load_file(str(Path(__file__).with_suffix(".kv")))


class Overlay(FloatLayout):
    visible = BooleanProperty(False)
    urgent = BooleanProperty(False)
    title = StringProperty("")
    message = StringProperty("")
    kind = StringProperty("")

    def present(self, kind: str, title: str, message: str, buttons, *, urgent=False) -> None:
        """Show `title` and `message` with `buttons`: (text, callback, style) tuples, style
        one of primary, danger, quiet."""
        self.kind, self.title, self.message, self.urgent = kind, title, message, urgent
        box = self.ids.buttons
        if [b.text for b in box.children][::-1] != [b[0] for b in buttons]:
            box.clear_widgets()
            for text, callback, style in buttons:
                cls = {"primary": Factory.KButton, "danger": Factory.KDangerButton}.get(
                    style, Factory.KQuietButton)
                button = cls(text=text, height=60)
                button.bind(on_release=lambda b, cb=callback: cb())
                box.add_widget(button)
        self.visible = True

    def dismiss(self) -> None:
        self.visible = False
        self.kind = ""

    def on_touch_down(self, touch):
        if not self.visible:
            return False
        super().on_touch_down(touch)
        return True  # modal: nothing underneath gets the touch
