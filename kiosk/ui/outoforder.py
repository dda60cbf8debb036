"""The out-of-order screen: the reason, and what facilities should check."""

from __future__ import annotations

from pathlib import Path

from kivy.app import App
from kivy.lang import Builder
from kivy.properties import StringProperty
from kivy.uix.screenmanager import Screen

Builder.load_file(str(Path(__file__).with_suffix(".kv")))

REASONS = {
    "phone_missing": "The desk phone is not connected.",
    "phone_silent": "The desk phone is not answering.",
    "phone_rebooting": "The desk phone is restarting…",
}


class OutOfOrderScreen(Screen):
    reason = StringProperty("")

    def show(self, snapshot) -> None:
        text = REASONS.get(snapshot.out_of_order or "", "The desk phone is not answering.")
        self.reason = App.get_running_app().tr(text)
