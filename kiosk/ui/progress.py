"""The progress screen: each step of the sign-in saga with a tick and its time. The spinner
keeps turning while the server is slow (the UI thread never waits on it)."""

from __future__ import annotations

from pathlib import Path

from kivy.app import App
from kivy.clock import Clock
from kivy.factory import Factory
from kivy.lang import Builder
from kivy.properties import StringProperty
from kivy.uix.screenmanager import Screen

from kiosk.session import State

Builder.load_file(str(Path(__file__).with_suffix(".kv")))

STEP_TEXT = {
    "normalise": "Checking your user ID",
    "authenticate": "Checking your password",
    "associate": "Reserving this desk",
    "phone": "Setting up the phone",
    "queues": "Joining your queues",
    "commit": "Finishing",
}


class ProgressScreen(Screen):
    title = StringProperty("")

    def on_kv_post(self, base_widget):
        self._spin = None
        for _ in STEP_TEXT:  # made now, so that the first sign-in only updates them
            self.ids.steps.add_widget(Factory.StepRow())

    def on_enter(self, *args):
        self._spin = Clock.schedule_interval(self._turn, 1 / 30)

    def on_leave(self, *args):
        if self._spin is not None:
            self._spin.cancel()

    def _turn(self, dt):
        spinner = self.ids.spinner
        spinner.angle = (spinner.angle - 360 * dt) % 360

    def show(self, snapshot) -> None:
        app = App.get_running_app()
        signing_out = snapshot.state is State.SIGNING_OUT
        self.title = app.tr("Signing out…") if signing_out else app.tr("Signing in…")
        steps = () if signing_out else snapshot.steps
        for index, row in enumerate(reversed(self.ids.steps.children)):
            step = steps[index] if index < len(steps) else None
            row.opacity = 1 if step else 0  # the rows stay; signing out shows none of them
            if step is not None:
                row.status = step.status
                row.label = app.tr(STEP_TEXT[step.name])
                if step.status == "skipped":  # a supervisor has no queues to join
                    row.seconds = app.tr("Not applicable")
                else:
                    row.seconds = "" if step.seconds is None else f"{step.seconds:.2f} s"
