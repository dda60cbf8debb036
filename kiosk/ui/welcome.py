"""The welcome screen: desk name, clock, tap to sign in, phone and network status, and a
quick pick of the language."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from kivy.app import App
from kivy.clock import Clock
from kivy.factory import Factory
from kivy.lang import Builder
from kivy.properties import StringProperty
from kivy.uix.screenmanager import Screen

from kiosk.ui import theme
from kiosk.ui.i18n import LANGUAGE_NAMES

Builder.load_file(str(Path(__file__).with_suffix(".kv")))

PHONE_TEXT = {"ok": "Phone ready", "none": "Calls ring on the desk phone",
              "missing": "Phone not connected: calls still ring",
              "silent": "Phone not answering", "rebooting": "Phone restarting",
              "unknown": "Phone: checking"}
NETWORK_TEXT = {"ok": "Call Center reachable", "lost": "Call Center unreachable",
                "unknown": "Call Center: checking"}


class WelcomeScreen(Screen):
    desk_name = StringProperty("")
    clock_text = StringProperty("")
    phone_text = StringProperty("")
    network_text = StringProperty("")

    def on_kv_post(self, base_widget):
        Clock.schedule_interval(self._tick, 1)
        self._tick(0)

    def _tick(self, dt):
        self.clock_text = datetime.now().strftime("%H:%M")

    def build_languages(self, languages: list[str]) -> None:
        box = self.ids.languages
        box.clear_widgets()
        if len(languages) < 2:
            return
        for language in languages:
            button = Factory.KNameButton()
            button.raw = LANGUAGE_NAMES[language]
            button.language = language
            button.font_size = "15sp"
            button.shorten = False
            button.bind(on_release=lambda b: App.get_running_app().choose_language(b.language))
            box.add_widget(button)

    def show(self, snapshot) -> None:
        app = App.get_running_app()
        self.phone_text = app.tr(PHONE_TEXT.get(snapshot.phone, PHONE_TEXT["unknown"]))
        self.network_text = app.tr(NETWORK_TEXT.get(snapshot.connection,
                                                     NETWORK_TEXT["unknown"]))
        for button in self.ids.languages.children:
            button.background_color = theme.rgba(
                theme.PRIMARY if button.language == app.language else theme.KEY)

    def tap(self) -> None:
        App.get_running_app().open_sign_in()
