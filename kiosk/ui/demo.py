"""`kiosk demo`'s window: the kiosk at its real 800×480, a virtual desk beside it (the phone's
display, the handset, the status light, the hold-to-sign-out button) and a banner with the
demo credentials. The virtual desk is a developer's tool beside the product, in English."""

from __future__ import annotations

from pathlib import Path

from kivy.app import App
from kivy.clock import Clock
from kivy.lang import Builder
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout

from kiosk.ui import fonts

#: The languages in English, for the banner (a language's own name needs the font it lacks).
ENGLISH_NAMES = {"en": "English", "fr": "French", "de": "German", "es": "Spanish",
                 "it": "Italian", "vi": "Vietnamese", "zh_CN": "Chinese", "ar": "Arabic"}

Builder.load_file(str(Path(__file__).with_suffix(".kv")))


SUPERVISOR_CODE = "20"  # Meeting, in the demo directory


class DemoLayout(BoxLayout):
    phone_text = StringProperty("")
    agent_signed_in = BooleanProperty(False)
    off_hook = BooleanProperty(False)
    light = ListProperty([0, 0, 0, 1])
    banner = StringProperty("")
    hold_s = NumericProperty(2.0)

    def __init__(self, kiosk_root, unit, **kwargs):
        super().__init__(**kwargs)
        self.unit = unit
        self.ids.top.add_widget(kiosk_root, index=len(self.ids.top.children))
        self.hold_s = unit.config.gpio.hold_s
        agents = " · ".join(f"{a.user} / {a.password}" for a in unit.demo_agents)
        self.banner = (f"Demo on simulators. Sign in with a user part and its password "
                       f"(append domain demo.example): {agents}")
        for language in unit.config.signin.languages:
            if fonts.font_for(language) is None:
                package = fonts.FONT_PACKAGES[fonts.script_of(language)]
                self.banner += (f"\n{ENGLISH_NAMES[language]} ({language}) is left out: no "
                                f"font for it here (apt-get install {package})")
        self._relay_was = False
        Clock.schedule_interval(self._poll, 0.25)
        self._poll(0)

    def _poll(self, dt):
        """Mirror the simulated phone and the mock pins (in-memory reads, no I/O)."""
        state = self.unit.phone_sim.snapshot()
        self.off_hook = state["off_hook"]
        line = state["line"]
        lines = [f"{'● registered' if state['registered'] else '○ registering…'}"]
        if line:
            name = App.get_running_app().legible(line["display_name"], line["user_id"])
            lines += [name, line["user_id"],
                      f"number {line['number'] or '-'}  ext {line['extension'] or '-'}"]
        else:
            lines += ["Desk default line", self.unit.config.desk.name]
        lines += [f"language: {state['language']}"]
        if state["message"]:
            lines.append(f"message: {state['message']}")
        lines.append("handset: " + ("OFF HOOK" if state["off_hook"] else "on hook"))
        self.phone_text = "\n".join(lines)
        agent = self.unit.engine.snapshot.agent
        self.agent_signed_in = agent is not None and agent.role == "agent"
        factory = self.unit.pin_factory
        gpio = self.unit.config.gpio
        red, green, blue = (factory.pin(n).state for n in (gpio.led_red, gpio.led_green,
                                                            gpio.led_blue))
        self.light = [float(red), float(green), float(blue), 1] if (red or green or blue) \
            else [0.15, 0.15, 0.15, 1]
        if gpio.relay is not None:
            relay = bool(factory.pin(gpio.relay).state) == gpio.relay_active_high
            if relay and not self._relay_was:
                self.unit.phone_sim.set_silent(True)  # power cut
            elif self._relay_was and not relay:
                self.unit.phone_sim.set_silent(False)  # power back: the phone boots
                self.unit.phone_sim.reboot()
            self._relay_was = relay

    def supervisor_unavailable(self):
        """A supervisor sets the signed-in agent Unavailable (Meeting) on the Call Center,
        behind the kiosk's back: the Call Center pushes it (within a second; at the next
        heartbeat when the event channel is down)."""
        agent = self.unit.engine.snapshot.agent
        if agent is not None and agent.role == "agent":
            self.unit.callcenter_sim.supervisor_sets(agent.user_id, "Unavailable",
                                                           SUPERVISOR_CODE)

    def tap_badge(self, user: str) -> None:
        """The simulated badge reader: `user`'s demo badge is tapped (as a reader types it)."""
        agent = next((a for a in self.unit.demo_agents if a.user == user), None)
        if agent is not None and agent.badge:
            self.unit.engine.badge_tapped(agent.badge)

    def toggle_handset(self):
        if self.off_hook:
            self.unit.phone_sim.hang_up()
        else:
            self.unit.phone_sim.lift()

    def button_down(self):
        pin = self.unit.config.gpio.sign_out_button
        if pin is not None:
            self.unit.pin_factory.pin(pin).drive_low()

    def button_up(self):
        pin = self.unit.config.gpio.sign_out_button
        if pin is not None:
            self.unit.pin_factory.pin(pin).drive_high()
