"""A row that runs right to left when the language does (Arabic): the order of its widgets is
mirrored, as the text inside them already is."""

from __future__ import annotations

from kivy.factory import Factory
from kivy.properties import BooleanProperty
from kivy.uix.boxlayout import BoxLayout


class MirrorBox(BoxLayout):
    rtl = BooleanProperty(False)

    def on_rtl(self, *args) -> None:
        widgets = list(self.children)  # children run last-added first: re-adding reverses
        self.clear_widgets()
        for widget in widgets:
            self.add_widget(widget)


Factory.register("MirrorBox", cls=MirrorBox)
