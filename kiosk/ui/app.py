"""The kiosk's Kivy application: screens, overlays, language and the link to the engine.

The engine calls back on its worker thread; `_post` re-posts every snapshot onto the Kivy
thread with `Clock.schedule_once`, and `apply` then picks the screen and overlay. The UI never
waits on the network, the serial line or the disk: it only sends the engine commands.
"""

from __future__ import annotations

import logging
import math
import threading
from pathlib import Path

from kivy.app import App
from kivy.clock import Clock
from kivy.core.text import LabelBase
from kivy.core.window import Window
from kivy.lang import Builder
from kivy.properties import BooleanProperty, ObjectProperty, StringProperty
from kivy.uix.relativelayout import RelativeLayout
from kivy.uix.screenmanager import NoTransition, ScreenManager

from kiosk.session.model import Snapshot, State
from kiosk.ui import fonts, i18n
from kiosk.ui.messages import NOTICES, WARNINGS, error_text

log = logging.getLogger(__name__)

UI_ALIVE_S = 5.0  # how often the UI's clock ticks the metrics' heartbeat
#: what a badge tap that fills nothing says
BADGE_NOTICES = {"unknown": "This badge is not known here. Type your user ID.",
                 "unreadable": "The badge could not be read. Tap it again.",
                 "busy": "A sign-in or sign-out is under way. Tap again in a moment.",
                 "directory_down": "Badges cannot be looked up just now. Type your user ID."}
HERE = Path(__file__).parent

from kiosk.ui.mirror import MirrorBox  # noqa: E402,F401 - a kv class, before the rules

Builder.load_file(str(HERE / "theme.kv"))

from kiosk.ui.outoforder import OutOfOrderScreen  # noqa: E402 - kv rules load in order
from kiosk.ui.overlays import Overlay  # noqa: E402
from kiosk.ui.progress import ProgressScreen  # noqa: E402
from kiosk.ui.signedin import SignedInScreen  # noqa: E402
from kiosk.ui.signin import SignInScreen  # noqa: E402
from kiosk.ui.welcome import WelcomeScreen  # noqa: E402

LabelBase.register("DejaVuSans", str(fonts.CANDIDATES["ar"][0]))


def _warm(languages: list[str]) -> None:
    """Read the fonts' coverage and parse the catalogues off the UI thread, once, before the
    first language change needs them."""
    fonts.warm(languages)
    for language in languages:
        i18n.catalog(language)


class KioskRoot(RelativeLayout):
    """The 800×480 kiosk: the screens, and the overlay above them (coordinates are its own,
    wherever the demo places it)."""


class KioskApp(App):
    language = StringProperty("en")
    language_name = StringProperty("English")
    language_raw_name = StringProperty("English")
    font_name = StringProperty("Roboto")
    rtl = BooleanProperty(False)
    snapshot = ObjectProperty(Snapshot())

    def __init__(self, engine, config, *, kiosk_mode: bool = False, demo=None, notifier=None,
                 unit_factory=None, **kwargs):
        """`engine`, or `unit_factory`: a callable that builds the unit (and its engine) on a
        worker thread after the first frame, so the screen is up before the network and serial
        stacks are even loaded."""
        super().__init__(**kwargs)
        self.engine = engine
        self.unit_factory = unit_factory
        self.unit = None
        self._badge_seq = 0  # the last badge tap that filled the sign-in form
        self._pending_sign_in = None
        self.notifier = notifier  # sd_notify under systemd (kiosk run), else None
        self.config_ = config
        self.kiosk_mode = kiosk_mode
        self.demo = demo
        self.title = f"Hot-desk kiosk - {config.desk.name}"
        self.languages = fonts.usable_languages(config.signin.languages) or ["en"]
        threading.Thread(target=_warm, args=(self.languages,), name="ui-warm",
                         daemon=True).start()
        self.stay_default = config.signin.stay_signed_in_default
        self._unobserve = None
        self.start_error = None
        self.frames = 0
        self.set_language(config.signin.default_language
                          if config.signin.default_language in self.languages
                          else self.languages[0])

    # --- building ---------------------------------------------------------------------------

    def build(self):
        self.manager = ScreenManager(transition=NoTransition())
        self.screens = {}
        self._add_screens(WelcomeScreen())  # the others follow right after the first frame
        self.screens["welcome"].desk_name = self.config_.desk.name
        self.screens["welcome"].build_languages(self.languages)
        self.overlay = Overlay()
        self.kiosk_root = KioskRoot(size_hint=(None, None), size=(800, 480))
        self.kiosk_root.add_widget(self.manager)
        self.kiosk_root.add_widget(self.overlay)
        self.manager.size = self.overlay.size = (800, 480)
        if self.demo is not None:
            from kiosk.ui.demo import DemoLayout

            return DemoLayout(self.kiosk_root, self.demo)
        return self.kiosk_root

    def _add_screens(self, *screens) -> None:
        for screen in screens:
            self.manager.add_widget(screen)
            self.screens[screen.name] = screen
            screen.bind(on_pre_enter=self.on_screen_enter)

    def _build_other_screens(self, dt=None) -> None:
        if "signin" not in self.screens:
            self._add_screens(SignInScreen(), ProgressScreen(), SignedInScreen(),
                              OutOfOrderScreen())

    def on_start(self):
        Clock.schedule_once(self._build_other_screens, 0)
        Window.bind(on_touch_down=self._any_touch, on_key_down=self._any_key)
        Clock.schedule_interval(self._count_frame, 0)
        if self.kiosk_mode:
            Window.bind(on_request_close=lambda *args, **kwargs: True)  # no closing
            Window.show_cursor = False
        self._apply_trigger = Clock.create_trigger(self._apply_latest, 0)
        if self.engine is not None:
            self._unobserve = self.engine.observe(self._post)
        elif self.unit_factory is not None:  # once the first frame is on the screen
            Clock.schedule_once(lambda dt: threading.Thread(
                target=self._build_unit, name="unit-start", daemon=True).start(), 0.05)
        if self.notifier is not None:
            Clock.schedule_once(self._ready, 0)  # after the first frame
        Clock.schedule_interval(self._ui_alive, UI_ALIVE_S)

    def _ui_alive(self, dt=None) -> None:
        """The metrics' heartbeat, from this (the UI's) clock: a frozen screen goes stale."""
        metrics = getattr(self.unit, "metrics", None)
        if metrics is not None:
            metrics.ui_alive()

    def _build_unit(self) -> None:
        try:
            unit = self.unit_factory()
            unit.engine.start()
        except Exception as exc:
            log.exception("the kiosk could not start")
            Clock.schedule_once(lambda dt, error=exc: self._start_failed(error), 0)
            return
        Clock.schedule_once(lambda dt: self.attach(unit), 0)

    def _start_failed(self, exc: Exception) -> None:
        self.start_error = exc
        self.stop()

    def attach(self, unit) -> None:
        """The unit is up: follow its engine (and send a sign-in made meanwhile)."""
        self.unit = unit
        self.engine = unit.engine
        self._unobserve = self.engine.observe(self._post)
        if self._pending_sign_in is not None:
            pending, self._pending_sign_in = self._pending_sign_in, None
            pending()

    def _ready(self, dt) -> None:
        """Tell systemd the kiosk is up, and feed its watchdog from this (the UI's) clock, so
        that a frozen screen gets the kiosk restarted."""
        self.notifier.ready(status_line(self.snapshot) if self.engine is not None
                            else "starting: opening the phone, the GPIO and the session log")
        interval = self.notifier.watchdog_interval_s()
        if interval:
            Clock.schedule_interval(lambda dt: self.notifier.watchdog(), interval)

    def on_stop(self):
        if self._unobserve is not None:
            self._unobserve()
        if self.notifier is not None:
            self.notifier.stopping()

    def open_settings(self, *args):
        return False  # no settings panel on a kiosk

    def _count_frame(self, dt):
        self.frames += 1

    # --- language ---------------------------------------------------------------------------

    def set_language(self, language: str) -> None:
        if language not in self.languages:
            language = self.languages[0]
        font = fonts.font_for(language)
        self.font_name = str(font) if font else "Roboto"
        self.rtl = language in i18n.RTL_LANGUAGES
        self.language_raw_name = i18n.LANGUAGE_NAMES[language]
        self.language_name = self.display(self.language_raw_name)
        self.language = language
        if hasattr(self, "screens"):
            self._refresh(self.snapshot)

    def font_for_text(self, text: str, *_bindings) -> str:
        """The font for `text` as it is (a name, a reason), whatever the screen's language."""
        font = fonts.font_for_text(text, self.language)
        return str(font) if font else self.font_name

    def legible(self, text: str, fallback: str) -> str:
        """`text` if some font here can draw it, else `fallback` (a name in a script with no
        font on this unit is shown as the user ID, never as boxes)."""
        return text if fonts.font_for_text(text, self.language) is not None else fallback

    def font_for(self, language: str) -> str:
        font = fonts.font_for(language)
        return str(font) if font else "Roboto"

    def choose_language(self, language: str) -> None:
        self.set_language(language)
        if self.engine is not None:
            self.engine.set_language(language)

    def next_language(self) -> None:
        index = (self.languages.index(self.language) + 1) % len(self.languages)
        self.choose_language(self.languages[index])

    def tr(self, text: str, *_bindings, **values) -> str:
        """`text` in the current language (extra positional arguments only make kv rules
        re-evaluate when they change)."""
        return i18n.catalog(self.language).tr(text, **values)

    def raw(self, text: str, **values) -> str:
        """`text` in the current language in logical order: a piece of a longer sentence that
        `sentence` lays out once, whole (laying out the pieces one by one would put a
        right-to-left sentence's pieces in the wrong order)."""
        return i18n.catalog(self.language).raw(text, **values)

    def sentence(self, raw: str) -> str:
        """A sentence put together from `raw` pieces (and names), laid out for display in the
        current language's direction."""
        return i18n.display(raw, rtl=self.rtl)

    def labelled(self, label: str, value: str, *_bindings) -> str:
        """"Label: value" in the current language, laid out as one sentence (right to left in
        Arabic, where joining two separately ordered halves would put the colon astray)."""
        return self.sentence(f"{self.raw(label)}{i18n.colon(self.language)}{value}")

    def display(self, text: str) -> str:
        """Any text (a name, a description) laid out for display: Arabic shaped, RTL ordered."""
        return i18n.display(text)

    # --- navigation -------------------------------------------------------------------------

    def open_sign_in(self) -> None:
        self._build_other_screens()
        if self.snapshot.state is State.IDLE:
            self.manager.current = "signin"

    def show_welcome(self) -> None:
        self.manager.current = "welcome"

    def sign_in(self, user: str, password, *, option_domain: str, stay: bool) -> None:
        if self.engine is None:  # still starting: sign in the moment the engine is there
            self._pending_sign_in = lambda: self.sign_in(user, password,
                                                         option_domain=option_domain, stay=stay)
            self.manager.current = "progress"
            return
        future = self.engine.sign_in(user, password, option_domain=option_domain,
                                     language=self.language, stay_signed_in=stay)
        future.add_done_callback(
            lambda f: Clock.schedule_once(lambda dt: self._sign_in_done(f.result()), 0))

    def _sign_in_done(self, outcome) -> None:
        """A failed sign-in goes back to the form with the reason (and the wait, if any)."""
        if outcome.ok:
            return
        snapshot = self.engine.snapshot
        self.manager.current = "signin"
        self.screens["signin"].show_error(self._error_sentence(
            Snapshot(error=outcome.error, throttle_wait_s=snapshot.throttle_wait_s)))

    def _any_touch(self, window, touch):
        if self.snapshot.state is State.ACTIVE:
            self.engine.touch()
        return False

    def _any_key(self, *args):
        if self.snapshot.state is State.ACTIVE:
            self.engine.touch()
        if self.manager.current == "signin":
            self.screens["signin"].touched()
        return False

    # --- from the engine --------------------------------------------------------------------

    def _post(self, snapshot: Snapshot) -> None:
        """Called on the engine's thread: hand the snapshot to the Kivy thread. Snapshots are
        whole states, so when several arrive within a frame only the newest is drawn."""
        self._latest = snapshot
        self._apply_trigger()

    def _apply_latest(self, *args) -> None:
        self.apply(self._latest)

    def apply(self, snapshot: Snapshot) -> None:
        self._build_other_screens()
        previous = self.snapshot
        self.snapshot = snapshot
        if snapshot.language != self.language and snapshot.language in self.languages and (
                snapshot.state is not State.IDLE or previous.state is not State.IDLE):
            self.set_language(snapshot.language)
        self._route(previous, snapshot)
        self._refresh(snapshot)
        if self.notifier is not None:
            self.notifier.status(status_line(snapshot))

    def _route(self, previous: Snapshot, snapshot: Snapshot) -> None:
        badge = snapshot.badge
        if badge is not None and badge.kind == "fill" and badge.seq != self._badge_seq \
                and snapshot.state is State.IDLE:
            self._badge_seq = badge.seq  # a tap fills the form once
            self._build_other_screens()
            self.manager.current = "signin"
            self.screens["signin"].fill_from_badge(badge.user_id)
            return
        state = snapshot.state
        if state is State.OUT_OF_ORDER:
            target = "outoforder"
        elif state in (State.SIGNING_IN, State.SIGNING_OUT):
            target = "progress"
        elif state in (State.ACTIVE, State.RECONNECTING):
            target = "signedin"
        elif self.manager.current in ("signin", "welcome"):
            target = self.manager.current  # idle: stay where the person is
        elif self.manager.current == "progress" and previous.state is State.SIGNING_IN:
            target = "signin"  # a failed sign-in: _sign_in_done adds the reason
        else:
            target = "welcome"
        if self.manager.current != target:
            self.manager.current = target

    def _error_sentence(self, snapshot: Snapshot) -> str:
        if snapshot.error is None:
            return ""
        wait = snapshot.throttle_wait_s
        if snapshot.error == "throttled" or (snapshot.error == "invalid_credentials" and wait):
            sentence = self.raw(error_text("throttled"), seconds=math.ceil(wait or 0))
            if snapshot.error == "invalid_credentials":
                sentence = self.raw(error_text("invalid_credentials")) + " " + sentence
            return self.sentence(sentence)
        return self.tr(error_text(snapshot.error))

    def _refresh(self, snapshot: Snapshot) -> None:
        """Redraw the screen on show and the overlay; the others redraw when entered."""
        screen = self.screens.get(self.manager.current)
        if screen is not None and hasattr(screen, "show"):
            screen.show(snapshot)
        self._overlay(snapshot)

    def on_screen_enter(self, screen) -> None:
        if hasattr(screen, "show"):
            screen.show(self.snapshot)

    def _badge_overlay(self, snapshot: Snapshot) -> bool:
        """A badge tap that needs saying: sign out (the agent's own), taken, unknown, …"""
        badge, engine, overlay = snapshot.badge, self.engine, self.overlay
        if badge is None or snapshot.state not in (State.IDLE, State.ACTIVE):
            return False
        ok = [(self.tr("OK"), engine.dismiss_badge, "primary")]
        if badge.kind == "sign_out" and snapshot.state is State.ACTIVE:
            overlay.present("badge", self.tr("Sign out?"), self.tr("You tapped your badge."),
                            [(self.tr("Sign out"), engine.sign_out, "danger"),
                             (self.tr("Cancel"), engine.dismiss_badge, "quiet")])
        elif badge.kind == "taken" and snapshot.state is State.ACTIVE:
            overlay.present("badge", self.tr("This desk is taken"),
                            self.tr("{name} is signed in here.",
                                    name=self.legible(badge.name or "", badge.name or "")), ok)
        elif badge.kind in BADGE_NOTICES:
            overlay.present("badge", self.tr("Badge"), self.tr(BADGE_NOTICES[badge.kind]), ok)
        else:
            return False
        return True

    def _overlay(self, snapshot: Snapshot) -> None:
        overlay, engine = self.overlay, self.engine
        if snapshot.confirm == "off_hook":
            overlay.present("confirm", self.tr("You are on a call"),
                            self.tr("Signing out will end the call."),
                            [(self.tr("End call and sign out"),
                              lambda: engine.sign_out(confirmed=True), "danger"),
                             (self.tr("Stay on the call"), engine.cancel_sign_out, "quiet")])
        elif snapshot.warning is not None and snapshot.state is State.ACTIVE:
            warning = snapshot.warning
            if warning.waiting_for_hangup:
                message = self.tr("Waiting for your call to end before signing you out.")
            else:
                message = self.tr("You will be signed out in {seconds} s",
                                  seconds=math.ceil(warning.seconds_left))
            buttons = []
            if warning.can_extend and not warning.waiting_for_hangup:
                buttons.append((self.tr("Extend"), engine.extend, "primary"))
            buttons.append((self.tr("Sign out now"), engine.sign_out, "danger"))
            overlay.present("warning", self.tr(WARNINGS[warning.kind]), message, buttons,
                            urgent=True)
        elif self._badge_overlay(snapshot):
            pass
        elif snapshot.notice in NOTICES and snapshot.state is State.IDLE:
            overlay.present("notice", self.tr("Signed out"), self.tr(NOTICES[snapshot.notice]),
                            [(self.tr("OK"), engine.dismiss_notice, "primary")])
        elif overlay.visible:
            overlay.dismiss()


def status_line(snapshot: Snapshot) -> str:
    """What the kiosk is doing, for `systemctl status` (STATUS=)."""
    agent = snapshot.agent.user_id if snapshot.agent else ""
    text = {
        State.IDLE: "desk free",
        State.SIGNING_IN: "signing in",
        State.ACTIVE: f"signed in: {agent}",
        State.RECONNECTING: f"signed in: {agent}; reconnecting to the Call Center",
        State.SIGNING_OUT: f"signing out: {agent}",
        State.OUT_OF_ORDER: f"out of order: {snapshot.out_of_order}",
    }[snapshot.state]
    if snapshot.log_problem:
        text += f"; session log: {snapshot.log_problem}"
    return text

