"""UI scenarios, run in one offscreen Kivy process by `tests/test_ui.py`.

Kivy keeps one window per process, so the scenarios share one: a real `KioskApp` in kiosk
mode (ESC and window close must not exit) over the demo unit (simulated Call Center over HTTP,
simulated phone on a pty, mock pins, a real session log) with a fake clock for policies. Each
scenario acts through simulated touches and records what the screen showed; the results go
to `OUT/results.json` for the tests to check.

    python tests/ui_scenarios.py OUT
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
import traceback
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kiosk.ui import boot  # noqa: E402
from kiosk.ui.demo_size import DEMO_SIZE  # noqa: E402

boot.configure(kiosk_mode=True, size=DEMO_SIZE, offscreen=True, fullscreen=False)

from kivy.core.window import Window  # noqa: E402
from kivy.uix.label import Label  # noqa: E402
from kivy.uix.textinput import TextInput  # noqa: E402

from kiosk.callcenter import XsiClient  # noqa: E402
from kiosk.sdnotify import Notifier  # noqa: E402
from kiosk.session import FakeClock, State  # noqa: E402
from kiosk.ui import fonts  # noqa: E402
from kiosk.ui.app import KioskApp  # noqa: E402
from kiosk.ui.i18n import LANGUAGE_NAMES  # noqa: E402
from kiosk.ui.stalls import StallWatch  # noqa: E402
from kiosk.ui.tour import Driver  # noqa: E402
from kiosk.wiring import build_demo  # noqa: E402

DESK = "desk12@demo.example"


def _visible(widget) -> bool:
    """Drawn on the screen: every ancestor opaque, and some size to it."""
    if widget.width <= 1 or widget.height <= 1:
        return False
    while widget is not None and widget is not widget.parent:
        if getattr(widget, "opacity", 1) <= 0:
            return False
        widget = widget.parent
    return True


class Scenarios(Driver):
    def __init__(self, app, unit, directory):
        super().__init__(app, unit, directory)
        self.results: dict[str, dict] = {}

    def scenario(self, name, fn):
        started = time.perf_counter()
        try:
            data = fn() or {}
            self.results[name] = {"ok": True, "data": data}
        except Exception as exc:
            self.results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                                  "trace": traceback.format_exc()}
            self._recover()
        self.results[name]["seconds"] = round(time.perf_counter() - started, 2)

    def _recover(self):
        """Back to a free desk for the next scenario."""
        self.unit.callcenter_sim.reset()
        if self.unit.engine.snapshot.state is not State.IDLE:
            self.unit.engine.sign_out(confirmed=True).result(10)
        self.unit.engine.dismiss_notice().result(5)
        self._on_ui(self.app.show_welcome)

    def _signed_in(self, user="zoe", password="zoe-demo-1", **options):
        outcome = self.unit.engine.sign_in(user, password, **options).result(10)
        assert outcome.ok, outcome
        try:
            self._wait("the signed-in screen", self._screen("signedin"))
        except Exception as exc:  # say what the screen showed instead
            shown = self._on_ui(lambda: (self.app.manager.current, str(self.app.snapshot.state),
                                         self.app.overlay_kind if hasattr(self.app, "overlay_kind")
                                         else None))
            raise AssertionError(f"{exc}; showing {shown}") from None

    def _sign_out(self):
        self.unit.engine.sign_out().result(10)
        self.unit.engine.dismiss_notice().result(5)
        self._wait("the welcome screen", self._screen("welcome"))

    # --- scenarios --------------------------------------------------------------------------

    def full_sign_in_and_out(self):
        self._wait("the welcome screen", self._screen("welcome"))
        self.sign_in_by_touch("zoe", "zoe-demo-1")
        self._wait("the signed-in screen", self._screen("signedin"), timeout=15)
        data = {
            "name": self._on_ui(lambda: self.app.screens["signedin"].agent_name),
            "phone_user": self.unit.phone_sim.snapshot()["line"]["user_id"],
            "seated": self.unit.callcenter_sim.inspect()["seating"][DESK],
            "password_field": self._on_ui(lambda: self.app.screens["signin"].ids.password.text),
        }
        self._tap(lambda: self.app.screens["signedin"].ids.signout)
        self._wait("the welcome screen", self._screen("welcome"))
        data["seated_after"] = self.unit.callcenter_sim.inspect()["seating"][DESK]
        data["phone_after"] = self.unit.phone_sim.snapshot()["line"]
        return data

    def wrong_password_in_french(self):
        self._tap(lambda: next(b for b in self.app.screens["welcome"].ids.languages.children
                               if b.language == "fr"))
        self._wait("French", lambda: self.app.language == "fr")
        errors = []
        for _ in range(3):
            self.sign_in_by_touch("mai", "wrong")
            self._wait("the error", lambda: self.app.manager.current == "signin" and
                       bool(self.app.screens["signin"].error_text))
            errors.append(self._on_ui(lambda: self.app.screens["signin"].error_text))
            self._tap(lambda: self.app.screens["signin"].ids.cancel)
            self._wait("the welcome screen", self._screen("welcome"))
        self.sign_in_by_touch("mai", "mai-demo-1")  # throttled now: not even sent
        self._wait("the throttle", lambda: "30" in self.app.screens["signin"].error_text)
        errors.append(self._on_ui(lambda: self.app.screens["signin"].error_text))
        self._tap(lambda: self.app.screens["signin"].ids.cancel)
        self.unit.engine.clock.advance(31)  # the cool-down passes
        self._tap(lambda: next(b for b in self.app.screens["welcome"].ids.languages.children
                               if b.language == "en"))
        return {"errors": errors}

    def evicted_notice(self):
        self._signed_in()
        XsiClient(self.unit.config.callcenter.url, DESK, "desk12-host").force_release()
        self.unit.engine.clock.advance(16)
        self._wait("the notice", lambda: self.app.overlay.visible and
                   self.app.overlay.kind == "notice")
        data = {"message": self._on_ui(lambda: self.app.overlay.message),
                "screen": self._on_ui(lambda: self.app.manager.current)}
        self._tap(lambda: self.app.overlay.ids.buttons.children[0])  # OK
        self._wait("no notice", lambda: not self.app.overlay.visible)
        return data

    def badge_taps(self):
        """A tap at the free desk fills the user ID and moves to the password; the password
        is typed; the same badge while signed in offers Sign out, one tap."""
        self._wait("the welcome screen", self._screen("welcome"))
        zoe = next(a for a in self.unit.demo_agents if a.user == "zoe")
        self.unit.engine.badge_tapped(zoe.badge)
        self._wait("the sign-in screen", self._screen("signin"))
        signin = self.app.screens["signin"]
        self._wait("the user ID", lambda: signin.ids.user.text == "zoe@demo.example"
                   and signin.ids.password.focus)
        data = {"user": self._on_ui(lambda: signin.ids.user.text),
                "password_empty": self._on_ui(lambda: signin.ids.password.text == ""),
                "keyboard_on_password": self._on_ui(
                    lambda: signin.ids.keyboard.target is signin.ids.password),
                "hint": self._on_ui(lambda: signin.hint_text)}
        self._type(zoe.password)  # the password is still typed
        self._tap(lambda: signin.ids.submit)
        self._wait("the signed-in screen", self._screen("signedin"), timeout=15)
        self.unit.engine.badge_tapped(zoe.badge)
        self._wait("the offer", lambda: self.app.overlay.visible and
                   self.app.overlay.kind == "badge")
        data["offer"] = self._on_ui(lambda: self.app.overlay.title)
        self._tap(lambda: self.app.overlay.ids.buttons.children[-1])  # Sign out: one tap
        self._wait("the welcome screen", self._screen("welcome"), timeout=15)
        self.unit.engine.badge_tapped("99999999")
        self._wait("the word", lambda: self.app.overlay.visible and
                   self.app.overlay.kind == "badge")
        data["unknown"] = self._on_ui(lambda: self.app.overlay.message)
        self._tap(lambda: self.app.overlay.ids.buttons.children[0])  # OK
        self._wait("no word", lambda: not self.app.overlay.visible)
        resolver = self.unit.engine.badge_resolver  # the directory's password unreadable:
        resolver.problem = "the directory's password: cannot be read"  # an outage
        try:
            self.unit.engine.badge_tapped("99999998")
            self._wait("the outage", lambda: self.app.overlay.visible and
                       self.app.overlay.kind == "badge")
            data["outage"] = self._on_ui(lambda: self.app.overlay.message)
            data["outage_screenshot"] = self._shot("badge-directory-down")
            self._tap(lambda: self.app.overlay.ids.buttons.children[0])  # OK
            self._wait("no word", lambda: not self.app.overlay.visible)
        finally:
            resolver.problem = None
        return data

    def reconnecting_banner(self):
        self._signed_in()
        self.unit.callcenter_sim.faults.update(fail_next=100_000)
        self.unit.engine.clock.advance(16)
        self._wait("the banner", lambda: bool(self.app.screens["signedin"].banner))
        data = {"banner": self._on_ui(lambda: self.app.screens["signedin"].banner),
                "phone_user": self.unit.phone_sim.snapshot()["line"]["user_id"]}
        self.unit.callcenter_sim.faults.update(fail_next=0)
        self.unit.engine.clock.advance(3)
        self._wait("no banner", lambda: not self.app.screens["signedin"].banner)
        self._sign_out()
        return data

    def warning_countdown_and_extend(self):
        self._signed_in()
        clock = self.unit.engine.clock
        clock.advance(self.unit.config.session.association_limit_hours * 3600 - 25)
        self._wait("the warning", lambda: self.app.overlay.visible and
                   self.app.overlay.kind == "warning")
        first = self._on_ui(lambda: self.app.overlay.message)
        clock.advance(5)
        time.sleep(0.3)
        later = self._on_ui(lambda: self.app.overlay.message)
        self._tap(lambda: self.app.overlay.ids.buttons.children[-1])  # Extend
        self._wait("no warning", lambda: not self.app.overlay.visible)
        clock.advance(60)
        time.sleep(0.2)
        data = {"first": first, "later": later,
                "state": self.unit.engine.snapshot.state.value,
                "warning_after": self.unit.engine.snapshot.warning is not None}
        self._sign_out()
        return data

    def every_language(self):
        fonts = {}
        for language in self.app.languages:
            self._on_ui(lambda lang=language: self.app.choose_language(lang))
            self._wait(language, lambda lang=language: self.app.language == lang)
            self._on_ui(self.app.open_sign_in)
            self._wait("the sign-in screen", self._screen("signin"))
            signin_font = self._on_ui(lambda: self.app.screens["signin"].ids.password.font_name)
            user_first = self._on_ui(lambda: (
                self.app.screens["signin"].ids.user.x < self.app.screens["signin"].ids.password.x))
            shot = self._shot("signin")
            self._on_ui(lambda: self.app.screens["signin"].cancel())
            self._signed_in()
            signedin_font = self._on_ui(
                lambda: self.app.screens["signedin"].ids.signout.font_name)
            self._shot("signedin")
            self._sign_out()
            fonts[language] = {"signin": signin_font, "signedin": signedin_font,
                               "screenshot": shot, "user_field_left": user_first}
        self._on_ui(lambda: self.app.choose_language("en"))
        return {"fonts": fonts, "names": LANGUAGE_NAMES}

    def responsive_while_the_server_is_slow(self):
        """A slow server (1 s a request), and the association held in flight: frames keep
        coming while the request is out, and the progress screen shows it. (How long the
        longest gap was is a figure for `make bench`, not a test.)"""
        sim = self.unit.callcenter_sim
        sim.faults.update(latency_s=1.0)
        hold = sim.traffic.hold(r"^PUT .*/wei@demo\.example/services/HotelingGuest$")
        try:
            self.sign_in_by_touch("wei", "wei-demo-1")
            held = hold.reached.wait(30)
            frames_then = self.app.frames
            self._wait("frames while the request is held",
                       lambda: self.app.frames >= frames_then + 30, timeout=30)
            screen = self._on_ui(lambda: self.app.manager.current)
            steps = [(s.name, s.status) for s in self.app.snapshot.steps]
        finally:
            hold.release()
        self._wait("the signed-in screen", self._screen("signedin"), timeout=30)
        sim.faults.update(latency_s=0.0)
        self._sign_out()
        return {"held": held, "frames_while_held": self.app.frames - frames_then,
                "screen": screen, "steps": steps}

    # --- every text drawn in a font that has its glyphs ------------------------------------

    def _illegible(self, where: str) -> list[dict]:
        """Every visible label, button and field whose font (the one actually set on the
        widget) lacks a glyph of its text."""

        def check():
            found = []
            for widget in self.app.kiosk_root.walk(restrict=True):
                if not _visible(widget):
                    continue
                texts = []
                if isinstance(widget, Label):
                    texts.append(widget.text)
                elif isinstance(widget, TextInput):
                    texts += [widget.text if not widget.password else "", widget.hint_text]
                for text in filter(None, texts):
                    path = fonts.font_file(widget.font_name, getattr(widget, "bold", False))
                    missing = fonts.missing_glyphs(path, text) if path else set(text)
                    if missing:
                        found.append({"where": where, "text": text, "font": widget.font_name,
                                      "missing": "".join(sorted(missing))[:20]})
            return found

        return self._on_ui(check)

    def legible_everywhere(self):
        """Every screen in every language, with names in every script: no boxes anywhere."""
        problems: list[dict] = []
        visited: list[str] = []
        welcome = lambda: self.app.screens["welcome"]  # noqa: E731
        signin = lambda: self.app.screens["signin"]  # noqa: E731
        for language in self.app.languages:
            self._tap(lambda lang=language: next(b for b in welcome().ids.languages.children
                                                 if b.language == lang))
            self._wait(language, lambda lang=language: self.app.language == lang)
            problems += self._illegible(f"welcome/{language}")
            self._tap(lambda: welcome().ids.tap)
            self._wait("the sign-in screen", self._screen("signin"))
            self._tap(lambda: signin().ids.options)
            self._type("pat")
            problems += self._illegible(f"signin/{language}")
            self._tap(lambda: signin().ids.password)
            self._type("wrong")
            self._tap(lambda: signin().ids.submit)
            self._wait("the error", lambda: bool(signin().error_text))
            problems += self._illegible(f"signin-error/{language}")
            self._tap(lambda: signin().ids.cancel)
            self._wait("the welcome screen", self._screen("welcome"))
            for agent in ("wei", "layla", "mai"):
                self._signed_in(agent, f"{agent}-demo-1", language=language)
                self._wait("the reasons", lambda: bool(self.app.snapshot.unavailable_codes))
                self._tap(lambda: self.app.screens["signedin"].ids.unavailable)
                problems += self._illegible(f"signedin/{language}/{agent}")
                self._sign_out()
            visited.append(language)
        self._tap(lambda: next(b for b in welcome().ids.languages.children
                               if b.language == "en"))
        return {"problems": problems, "visited": visited}

    def supervisor_without_acd(self):
        """A supervisor signed in: no ACD buttons (not merely greyed), no state line; the
        progress row of the queues says it does not apply."""
        self._signed_in("sam", "sam-demo-1")
        screen = lambda: self.app.screens["signedin"]  # noqa: E731
        data = self._on_ui(lambda: {
            "name": screen().agent_name, "acd_opacity": screen().ids.acd.opacity,
            "acd_disabled": screen().ids.acd.disabled, "acd_height": screen().ids.acd.height,
            "acd_text": screen().acd_text})
        self._on_ui(lambda: self.app.screens["progress"].show(self.app.snapshot))
        from kiosk.session.model import STEPS

        data["queues_row"] = self._on_ui(lambda: [
            row.seconds for row in reversed(self.app.screens["progress"].ids.steps.children)][
                STEPS.index("queues")])
        data["screenshot"] = self._shot("signedin-supervisor")
        self._sign_out()
        return data

    def escape_and_close_do_not_exit(self):
        self._on_ui(lambda: Window.dispatch("on_key_down", 27, 9, None, []))
        self._on_ui(lambda: Window.dispatch("on_keyboard", 27, 9, None, []))
        closed = self._on_ui(lambda: Window.dispatch("on_request_close"))
        time.sleep(0.5)
        return {"still_running": self._on_ui(lambda: self.app.manager.current is not None),
                "close_refused": bool(closed), "settings": self._on_ui(self.app.open_settings)}

    def systemd_notify(self):
        received = self.app.received
        started = len([m for m in received if m == "WATCHDOG=1"])
        self._wait("three watchdog beats",
                   lambda: len([m for m in received if m == "WATCHDOG=1"]) >= started + 3)
        self._signed_in()
        self._wait("the status", lambda: any("signed in: zoe@demo.example" in m
                                              for m in received))
        self._sign_out()
        ready = next((m for m in received if m.startswith("READY=1")), None)
        return {"ready": ready, "interval_s": self.app.notifier.watchdog_interval_s(),
                "statuses": [m for m in received if m.startswith("STATUS=")][:6]}

    def run(self):
        self.watch = self._on_ui(lambda: StallWatch().start())
        try:
            for name in ("systemd_notify", "full_sign_in_and_out", "wrong_password_in_french",
                         "evicted_notice", "badge_taps", "reconnecting_banner",
                         "warning_countdown_and_extend",
                         "every_language", "legible_everywhere",
                         "responsive_while_the_server_is_slow", "supervisor_without_acd",
                         "escape_and_close_do_not_exit"):
                self.scenario(name, getattr(self, name))
        finally:
            self.watch.stop()
            self.results["_stalls"] = {"ok": True, "data": self.watch.report()}
            (self.directory / "results.json").write_text(
                json.dumps(self.results, indent=1, ensure_ascii=False))
            self._on_ui(self.app.stop)


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    clock = FakeClock(start=datetime.now().astimezone(), monotonic=time.monotonic())
    unit = build_demo(out / "work", clock=clock)
    # a fake systemd notify socket: the app must say READY, feed the watchdog from its clock
    # (WatchdogSec 0.4 s here: every 0.2 s) and report its STATUS
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(out / "notify"))
    notify.settimeout(0.2)
    received: list[str] = []

    def listen():
        while True:
            try:
                received.append(notify.recv(4096).decode())
            except TimeoutError:
                continue
            except OSError:
                return

    threading.Thread(target=listen, daemon=True).start()
    notifier = Notifier({"NOTIFY_SOCKET": str(out / "notify"), "WATCHDOG_USEC": "400000"})
    try:
        unit.engine.start()
        app = KioskApp(unit.engine, unit.config, kiosk_mode=True, demo=unit,
                       notifier=notifier)
        app.received = received
        scenarios = Scenarios(app, unit, out)
        app.bind(on_start=lambda *_: threading.Thread(target=scenarios.run, daemon=True).start())
        app.run()
    finally:
        unit.close()
        notify.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
