"""`kiosk demo --tour DIR`: the real UI driven by simulated touches, offscreen, through
welcome → sign-in (the user part typed on the on-screen keyboard) → progress → signed in →
ACD state → a supervisor's change shown → the warning countdown → sign-out, then the sign-in
screen in French, Chinese and Arabic, and out of order. Writes `<screen>-<language>.png` per
screen, `tour.json` with every step's name, result, time and screenshot, and leaves the demo's
session log as `sessions.db`.

The tour runs on its own thread, like a person in front of the panel: it asks the Kivy thread
to act (`_on_ui`) and waits for the screen to show the result.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import threading
import time
import traceback
from pathlib import Path

from kivy.clock import Clock

from kiosk.session import State
from kiosk.ui import fonts, touch

log = logging.getLogger(__name__)


class TourFailed(Exception):
    pass


class Driver:
    """A person in front of the panel: acts through simulated touches and waits for the screen
    to answer. Runs on its own thread; every UI access goes through `_on_ui`."""

    def __init__(self, app, unit, directory: Path):
        self.app = app
        self.unit = unit
        self.directory = Path(directory)
        self.steps: list[dict] = []
        self.ok = True

    def _on_ui(self, fn, timeout: float = 10):
        """Run `fn` on the Kivy thread and return its result."""
        done = threading.Event()
        box: dict = {}

        def run(dt):
            try:
                box["value"] = fn()
            except Exception as exc:  # handed back to the tour thread
                box["error"] = exc
            done.set()

        Clock.schedule_once(run, 0)
        if not done.wait(timeout):
            raise TourFailed("the UI did not respond")
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def _wait(self, what: str, predicate, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._on_ui(predicate):
                time.sleep(0.25)  # let the layout settle for the picture
                return
            time.sleep(0.05)
        raise TourFailed(f"timed out waiting for {what}")

    def _screen(self, name: str):
        return lambda: self.app.manager.current == name

    def _shot(self, name: str) -> str:
        filename = f"{name}-{self.app.language}.png"
        self._on_ui(lambda: self.app.kiosk_root.export_to_png(str(self.directory / filename)))
        return filename

    def _tap(self, widget_getter) -> None:
        self._on_ui(lambda: touch.tap(widget_getter()))
        time.sleep(0.05)

    def _type(self, text: str) -> None:
        keyboard = lambda: self.app.screens["signin"].ids.keyboard  # noqa: E731
        for ch in text:
            self._tap(lambda ch=ch: keyboard().keys()[ch])

    def skip(self, name: str, reason: str) -> None:
        """A step this machine cannot show (a language without a font): recorded, not failed."""
        log.warning("tour step %s skipped: %s", name, reason)
        self.steps.append({"name": name, "ok": True, "seconds": 0.0, "screenshot": None,
                           "skipped": reason})

    def step(self, name: str, action) -> None:
        started = time.perf_counter()
        record = {"name": name, "ok": True, "seconds": 0.0, "screenshot": None}
        try:
            record["screenshot"] = action()
        except Exception as exc:
            record["ok"] = False
            record["error"] = f"{type(exc).__name__}: {exc}"
            log.error("tour step %s failed: %s\n%s", name, exc, traceback.format_exc())
            self.ok = False
        record["seconds"] = round(time.perf_counter() - started, 3)
        self.steps.append(record)

    def sign_in_by_touch(self, user: str, password: str) -> None:
        """Tap in, type both fields on the on-screen keyboard, and press its Enter key."""
        self._tap(lambda: self.app.screens["welcome"].ids.tap)
        self._wait("the sign-in screen", self._screen("signin"))
        self._type(user)
        self._tap(lambda: self.app.screens["signin"].ids.password)
        self._type(password)
        self._tap(lambda: self.app.screens["signin"].ids.keyboard.keys()["enter"])


class Tour(Driver):
    """The scripted walk through every screen."""

    def run(self) -> None:
        try:
            self.step("welcome", self.welcome)
            self.step("sign-in", self.sign_in_form)
            self.step("progress", self.progress)
            self.step("signed in", self.signed_in)
            self.step("ACD state", self.acd_state)
            self.step("supervisor sets Unavailable", self.supervisor)
            self.step("warning countdown", self.warning)
            self.step("sign out", self.sign_out)
            for language in ("fr", "zh_CN", "ar"):
                name = f"sign-in in {language}"
                if language not in self.app.languages:
                    self.skip(name, fonts.missing_font_hint(language))
                    continue
                self.step(name, lambda lang=language: self.sign_in_in(lang))
            self.step("back to English", self.back_to_english)
            self.step("wrong password", self.wrong_password)
            self.step("badge tap", self.badge_tap)
            self.step("out of order", self.out_of_order)
        finally:
            self.finish()

    def welcome(self):
        self._wait("the welcome screen", lambda: self.app.manager.current == "welcome" and
                   self.app.snapshot.connection != "unknown")
        return self._shot("welcome")

    def sign_in_form(self):
        self._tap(lambda: self.app.screens["welcome"].ids.tap)
        self._wait("the sign-in screen", self._screen("signin"))
        self._type("zoe")
        return self._shot("signin")

    def progress(self):
        signin = lambda: self.app.screens["signin"]  # noqa: E731
        self._tap(lambda: signin().ids.password)
        self._type("zoe-demo-1")
        sim = self.unit.callcenter_sim
        sim.faults.update(latency_s=0.4)  # the steps' times as a slow server gives them
        queues = sim.traffic.hold(r"^PUT .*/services/CallCenter$")  # caught mid-way
        try:
            self._tap(lambda: signin().ids.submit)
            self._wait("the progress screen", self._screen("progress"))
            self._wait("the queues step under way", lambda: any(
                s.name == "queues" and s.status == "running" for s in self.app.snapshot.steps))
            name = self._shot("progress")
        finally:
            queues.release()
            sim.faults.update(latency_s=0.0)
        return name

    def signed_in(self):
        self._wait("the signed-in screen", self._screen("signedin"), timeout=15)
        self._wait("the unavailable codes", lambda: bool(self.app.snapshot.unavailable_codes))
        return self._shot("signedin")

    def acd_state(self):
        screen = lambda: self.app.screens["signedin"]  # noqa: E731
        self._tap(lambda: screen().ids.unavailable)
        self._wait("the reasons", lambda: screen().choosing)
        name = self._shot("acd")
        self._tap(lambda: screen().ids.codes.children[-1])  # the first reason: Lunch
        self._wait("Unavailable (Lunch)", lambda: self.app.snapshot.agent is not None and
                   self.app.snapshot.agent.unavailable_code == "10")
        return name

    def supervisor(self):
        """A supervisor sets the agent Unavailable (Meeting) on the server; the Call Center
        pushes it (Xsi-Events) and the screen shows it within a second."""
        self._wait("the event channel", lambda: self.app.snapshot.push)
        self._on_ui(lambda: self.app.root.supervisor_unavailable())
        self._wait("Unavailable (Meeting)", lambda: self.app.snapshot.agent is not None and
                   self.app.snapshot.agent.unavailable_code == "20")
        return self._shot("supervisor")

    def warning(self):
        limit = self.unit.config.session.association_limit_hours * 3600
        clock = self.unit.engine.clock
        clock.advance(limit - 25)
        self._wait("the warning", lambda: self.app.overlay.visible and
                   self.app.overlay.kind == "warning")
        clock.advance(3)
        time.sleep(0.3)
        return self._shot("warning")

    def sign_out(self):
        self._tap(lambda: self.app.overlay.ids.buttons.children[0])  # Sign out now
        self._wait("the welcome screen", lambda: self.app.manager.current == "welcome" and
                   self.app.snapshot.state is State.IDLE)
        return None

    def sign_in_in(self, language: str):
        buttons = lambda: self.app.screens["welcome"].ids.languages.children  # noqa: E731
        self._tap(lambda: next(b for b in buttons() if b.language == language))
        self._wait(f"the language {language}", lambda: self.app.language == language)
        self._tap(lambda: self.app.screens["welcome"].ids.tap)
        self._wait("the sign-in screen", self._screen("signin"))
        self._tap(lambda: self.app.screens["signin"].ids.options)
        self._type("wei")
        name = self._shot("signin")
        self._tap(lambda: self.app.screens["signin"].ids.cancel)
        self._wait("the welcome screen", self._screen("welcome"))
        return name

    def back_to_english(self):
        buttons = lambda: self.app.screens["welcome"].ids.languages.children  # noqa: E731
        self._tap(lambda: next(b for b in buttons() if b.language == "en"))
        self._wait("English", lambda: self.app.language == "en")
        return self._shot("welcome-again")  # not over the first welcome-en.png

    def wrong_password(self):
        self._tap(lambda: self.app.screens["welcome"].ids.tap)
        self._wait("the sign-in screen", self._screen("signin"))
        self._type("mai")
        self._tap(lambda: self.app.screens["signin"].ids.password)
        self._type("wrong")
        self._tap(lambda: self.app.screens["signin"].ids.submit)
        self._wait("the error", lambda: self.app.manager.current == "signin" and
                   bool(self.app.screens["signin"].error_text))
        name = self._shot("signin-error")
        self._tap(lambda: self.app.screens["signin"].ids.cancel)
        return name

    def badge_tap(self):
        """The demo's reader: zoe's badge fills the user ID; the password is still typed."""
        self._wait("the welcome screen", self._screen("welcome"))
        zoe = next(a for a in self.unit.demo_agents if a.user == "zoe")
        self.unit.engine.badge_tapped(zoe.badge)
        signin = lambda: self.app.screens["signin"]  # noqa: E731
        self._wait("the user ID from the badge", lambda: self.app.manager.current == "signin"
                   and signin().ids.user.text == "zoe@demo.example")
        name = self._shot("badge")
        self._tap(lambda: signin().ids.cancel)
        self._wait("the welcome screen", self._screen("welcome"))
        self.unit.engine.dismiss_badge().result(5)
        return name

    def out_of_order(self):
        log.info("tour: silencing the simulated phone to show the out-of-order screen "
                 "(the driver's errors that follow are expected)")
        phone, clock = self.unit.phone_sim, self.unit.engine.clock
        phone.set_silent(True)
        clock.advance(self.unit.config.session.heartbeat_s)  # the heartbeat's ping: silence
        self._wait("out of order", self._screen("outoforder"), timeout=15)
        name = self._shot("outoforder")
        phone.set_silent(False)
        phone.reboot()  # power back: +HDBOOT
        self._wait("the welcome screen again", self._screen("welcome"), timeout=15)
        return name

    def finish(self) -> None:
        database = Path(self.unit.config.log.database)
        report = {"steps": self.steps, "ok": self.ok}
        (self.directory / "tour.json").write_text(json.dumps(report, indent=1,
                                                             ensure_ascii=False))
        with contextlib.suppress(TourFailed):
            self._on_ui(self.app.stop)
        self.database = database


def start(app, unit, directory: Path) -> Tour:
    tour = Tour(app, unit, directory)
    threading.Thread(target=tour.run, name="tour", daemon=True).start()
    return tour


def keep_log(unit, directory: Path) -> None:
    """Copy the demo's session log (with its WAL folded in) to `directory/sessions.db`."""
    unit.session_log.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(unit.config.log.database, directory / "sessions.db")
