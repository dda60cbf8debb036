"""The signed-in screen: who, since when, ACD state buttons (with unavailable codes), the time
to the automatic sign-out, and Sign out."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from kivy.app import App
from kivy.factory import Factory
from kivy.lang import Builder
from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.screenmanager import Screen

from kiosk.session import State
from kiosk.ui import theme

Builder.load_file(str(Path(__file__).with_suffix(".kv")))

ACD_TEXT = {"Available": "Available", "Unavailable": "Unavailable", "Wrap-Up": "Wrap-up",
            "Sign-In": "Available", "Sign-Out": "Signed out of queues"}


def hours_minutes(seconds: float) -> tuple[int, int]:
    minutes = int(seconds // 60)
    return minutes // 60, minutes % 60


class SignedInScreen(Screen):
    agent_name = StringProperty("")
    details = StringProperty("")
    since_text = StringProperty("")
    acd_text = StringProperty("")
    auto_text = StringProperty("")
    banner = StringProperty("")
    choosing = BooleanProperty(False)
    is_agent = BooleanProperty(True)
    _codes_known: tuple = ()  # the latest unavailable codes, for the Unavailable button

    def show(self, snapshot) -> None:
        app = App.get_running_app()
        agent = snapshot.agent
        if agent is None:
            return
        self.agent_name = app.display(app.legible(agent.display_name, agent.user_id))
        parts = []  # pieces in logical order, laid out once as one sentence
        if agent.extension:
            parts.append(app.raw("Extension {extension}", extension=agent.extension))
        if agent.number:
            parts.append(app.raw("Number {number}", number=agent.number))
        parts.append(agent.user_id)
        self.details = app.sentence("  ·  ".join(parts))
        since = datetime.fromisoformat(agent.since.replace("Z", "+00:00")).astimezone()
        self.since_text = app.tr("Signed in since {time}", time=since.strftime("%H:%M"))
        self.is_agent = agent.role == "agent"  # a supervisor has no queues and no ACD state
        if self.is_agent:
            state = app.raw(ACD_TEXT.get(agent.acd_state or "", agent.acd_state or ""))
            if agent.acd_state == "Unavailable" and agent.unavailable_code:
                reason = dict(snapshot.unavailable_codes).get(agent.unavailable_code,
                                                              agent.unavailable_code)
                state += f" ({app.legible(reason, agent.unavailable_code)})"
            self.acd_text = app.sentence(app.raw("Your state: {state}", state=state))
        else:
            self.acd_text = ""
        for key, name in (("available", "Available"), ("unavailable", "Unavailable"),
                          ("wrapup", "Wrap-Up")):
            button = self.ids[key]
            button.background_color = theme.rgba(
                theme.SUCCESS if agent.acd_state == name else theme.KEY)
        if snapshot.auto_sign_out_in_s is not None and snapshot.auto_sign_out_in_s < 60:
            self.auto_text = app.tr("Automatic sign-out in {seconds} s",  # as the warning counts
                                    seconds=max(0, int(snapshot.auto_sign_out_in_s)))
        elif snapshot.auto_sign_out_in_s is not None:
            hours, minutes = hours_minutes(snapshot.auto_sign_out_in_s)
            self.auto_text = app.tr("Automatic sign-out in {hours} h {minutes} min",
                                    hours=hours, minutes=f"{minutes:02d}")
        else:
            self.auto_text = ""
        if snapshot.state is State.RECONNECTING:
            self.banner = app.tr("Connection lost. Reconnecting… Your phone keeps working.")
        elif snapshot.phone in ("none", "missing"):  # any BroadWorks phone: no name on it
            self.banner = app.tr("Your calls ring on this desk's phone. It shows the desk's name.")
        else:
            self.banner = ""
        self._codes_known = snapshot.unavailable_codes

    def choose_code(self) -> None:
        """Unavailable: show the reasons to pick from (or go Unavailable when there are none)."""
        codes = self._codes_known
        if not codes:
            self.set_state("Unavailable")
            return
        if self.choosing:
            self._hide_codes()
            return
        box = self.ids.codes
        for code, description in codes:
            button = Factory.KNameButton()
            button.raw = App.get_running_app().legible(description, code)
            button.code = code
            button.bind(on_release=lambda b: self.set_state("Unavailable", b.code))
            box.add_widget(button)
        self.choosing = True

    def _hide_codes(self) -> None:
        # Buttons are removed, not hidden: an invisible button would still catch touches.
        self.ids.codes.clear_widgets()
        self.choosing = False

    def set_state(self, state: str, code: str | None = None) -> None:
        self._hide_codes()
        App.get_running_app().engine.set_acd_state(state, code)
