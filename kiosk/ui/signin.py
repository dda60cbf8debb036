"""The sign-in screen, after the Call Center's own: User ID, Password, *Stay signed in*,
*Show options* (Append domain, Language), Sign In, and the docked on-screen keyboard.

The form is wiped when it is left, after sign-in, and after `signin.form_timeout_s` without a
touch; the password goes from the field straight into a `Secret` for the engine.
"""

from __future__ import annotations

from pathlib import Path

from kivy.app import App
from kivy.clock import Clock
from kivy.factory import Factory
from kivy.lang import Builder
from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.screenmanager import Screen

from kiosk.secret import Secret
from kiosk.ui.keyboard import OnScreenKeyboard

Factory.register("OnScreenKeyboard", cls=OnScreenKeyboard)
Builder.load_file(str(Path(__file__).with_suffix(".kv")))


class SignInScreen(Screen):
    error_text = StringProperty("")
    hint_text = StringProperty("")  # what a badge tap did (not an error)
    stay = BooleanProperty(True)
    options_open = BooleanProperty(False)

    def on_kv_post(self, base_widget):
        self._timeout = None
        self._badge_filled = False

    def on_pre_enter(self, *args):
        app = App.get_running_app()
        self.wipe()
        self.stay = app.stay_default
        default_domain = app.config_.callcenter.default_domain
        self.ids.keyboard.domain = f"@{default_domain}" if default_domain else "@"
        self.point_keyboard_at(self.ids.user)
        self.touched()

    def on_enter(self, *args):
        if self._badge_filled:  # the user ID came from a badge: the password is next
            self.ids.password.focus = True
            self.point_keyboard_at(self.ids.password)
        else:
            self.ids.user.focus = True

    def on_leave(self, *args):
        self.wipe()
        self._cancel_timeout()

    def wipe(self) -> None:
        for field in ("user", "password", "domain"):
            self.ids[field].text = ""
            self.ids[field].focus = False
        self.options_open = False
        self.error_text = ""
        self.hint_text = ""
        self._badge_filled = False

    def touched(self) -> None:
        """Any touch or key restarts the form timeout."""
        self._cancel_timeout()
        seconds = App.get_running_app().config_.signin.form_timeout_s
        self._timeout = Clock.schedule_once(lambda dt: self.timed_out(), seconds)

    def _cancel_timeout(self) -> None:
        if self._timeout is not None:
            self._timeout.cancel()
            self._timeout = None

    def timed_out(self) -> None:
        self.wipe()
        App.get_running_app().show_welcome()

    def on_touch_down(self, touch):
        if self.collide_point(*touch.pos):
            self.touched()
        return super().on_touch_down(touch)

    def point_keyboard_at(self, field) -> None:
        keyboard = self.ids.keyboard
        keyboard.target = field
        keyboard.mode = "password" if field is self.ids.password else "user"

    def next_field(self) -> None:
        self.touched()
        if self.ids.keyboard.target is self.ids.domain:
            self.ids.domain.focus = False
        self.ids.password.focus = True
        self.point_keyboard_at(self.ids.password)

    def fill_from_badge(self, user_id: str | None) -> None:
        """A badge was tapped: its user ID in the form, the keyboard on the password (a badge
        never replaces the password)."""
        app = App.get_running_app()
        self.ids.user.text = user_id or ""
        self.next_field()
        self._badge_filled = True
        self.error_text = ""
        self.hint_text = app.tr("Badge read. Now type your password.")

    def cancel(self) -> None:
        self.wipe()
        App.get_running_app().show_welcome()

    def show_error(self, text: str) -> None:
        self.error_text = text

    def submit(self) -> None:
        app = App.get_running_app()
        user = self.ids.user.text
        if not user.strip():
            self.show_error(app.tr("Enter your user ID."))
            self.point_keyboard_at(self.ids.user)
            return
        if not self.ids.password.text:
            self.show_error(app.tr("Enter your password."))
            self.point_keyboard_at(self.ids.password)
            return
        password = Secret(self.ids.password.text)
        self.ids.password.text = ""  # the field forgets it at once
        self.error_text = ""
        app.sign_in(user, password, option_domain=self.ids.domain.text, stay=self.stay)
