"""The one place that chooses real or simulated parts.

`build_unit(config)` wires the real drivers for `kiosk run`: the Call Center at
`callcenter.url` with the desk host's password, the phone on `phone.port`, the GPIO panel on
gpiozero's default pin factory, the session log at `log.database`. A production unit whose
hardware is missing says so (the phone: out of order until it appears; the GPIO panel: an
error in the journal and the session log); it never falls back to a simulator.

`build_demo(workdir)` wires the simulators for `kiosk demo`: the simulated Call Center on
loopback with the demo directory, the simulated phone on a pty, gpiozero's mock pins and a
session log in `workdir`. Nothing else in the kiosk asks which of the two it is running on.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk import config as configuration
from kiosk.session.clock import Clock

if TYPE_CHECKING:  # the heavy stacks load when a unit is built, not when this is imported
    from kiosk.session import DeskEngine
    from kiosk.sessionlog import SessionLog

log = logging.getLogger(__name__)

DEMO_DESK = "desk12@demo.example"


@dataclass
class DemoAgent:
    user: str  # what to type (the append domain applies)
    password: str
    name: str
    badge: str = ""  # the demo badge that maps to this agent (the virtual desk taps it)


@dataclass
class Unit:
    """Everything a running kiosk holds; `close()` releases it all (twice is harmless)."""

    config: configuration.Config
    engine: DeskEngine
    session_log: SessionLog
    panel: object | None
    pin_factory: object | None = None
    callcenter_sim: object | None = None
    phone_sim: object | None = None
    demo_agents: list[DemoAgent] = field(default_factory=list)
    lock: object | None = None  # the unit's RuntimeLock: one kiosk per unit
    gpio_error: str | None = None  # why the GPIO panel could not be opened (kiosk status)
    journal: object | None = None  # the session log's copy to journald
    badge_reader: object | None = None  # the badge reader, where one is configured
    metrics: object | None = None  # the node_exporter textfile
    _closed: bool = False

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for part in (self.badge_reader, self.engine, self.metrics, self.journal, self.panel,
                     self.session_log,
                     self.phone_sim, self.callcenter_sim):
            if part is not None:
                with contextlib.suppress(Exception):
                    part.close()
        if self.lock is not None:
            self.lock.release()


def open_panel(config: configuration.Config, pin_factory=None):
    """The GPIO panel on the configured pins (raises what gpiozero raises)."""
    from hardware.panel import DeskPanel

    gpio = config.gpio
    return DeskPanel(led_red=gpio.led_red, led_green=gpio.led_green, led_blue=gpio.led_blue,
                     relay=gpio.relay, relay_active_high=gpio.relay_active_high, hook=gpio.hook,
                     sign_out_button=gpio.sign_out_button, hold_s=gpio.hold_s,
                     pin_factory=pin_factory)


def _phone_factory(config: configuration.Config):
    from hardware.phone import DeskPhone

    if not config.phone.port:
        return None  # no HD-AT/1 phone: any BroadWorks phone registered to the desk host
    return lambda: DeskPhone(config.phone.port, baudrate=config.phone.baudrate)


def build_unit(config: configuration.Config, *, clock: Clock | None = None,
               lock_path: str | Path | None = None, lock=None) -> Unit:
    """The real unit. Raises `ConfigError` (host password), `SessionLogError`, or
    `AlreadyRunning` when it cannot start at all, having closed whatever it had opened.
    `lock_path`: the unit's lock (default: in the runtime directory); `lock`: one already
    held (`kiosk run` takes it before anything else)."""
    from kiosk.callcenter import XsiClient
    from kiosk.session import DeskEngine
    from kiosk.session.lock import RuntimeLock
    from kiosk.sessionlog import SessionLog

    with contextlib.ExitStack() as opened:
        lock = lock or RuntimeLock(lock_path)  # first: a second kiosk touches nothing
        opened.callback(lock.release)
        password = configuration.host_password(config)
        host = XsiClient.from_config(config.callcenter, config.desk.host_user_id, password)
        opened.callback(host.session.close)
        session_log = SessionLog(config.log.database, desk=config.desk.id)
        opened.callback(session_log.close)
        journal, metrics = _site_tools(config, session_log)
        for part in (journal, metrics):
            if part is not None:
                opened.callback(part.close)
        gpio_error = None
        try:
            panel = open_panel(config)
        except Exception as exc:  # gpiozero raises many kinds: no pin factory, pin in use, ...
            log.error("GPIO panel unavailable (%s: %s); running without lights and button",
                      type(exc).__name__, exc)
            gpio_error = f"{type(exc).__name__}: {exc}"
            session_log.record("gpio_unavailable", error=gpio_error)
            panel = None
        if panel is not None:
            opened.callback(panel.close)
        engine = DeskEngine(config, host_client=host, session_log=session_log,
                            phone_factory=_phone_factory(config), panel=panel, clock=clock)
        if metrics is not None:
            engine.observe(metrics.observe)
            metrics.start()
        reader = _badge_reader(config, engine)
        opened.pop_all()  # all up: the unit owns them now
    return Unit(config=config, engine=engine, session_log=session_log, panel=panel, lock=lock,
                gpio_error=gpio_error, journal=journal, metrics=metrics, badge_reader=reader)


def _badge_reader(config: configuration.Config, engine: DeskEngine):
    """The badge lookup for the engine, and the reader (started) where one is configured."""
    from hardware.badge import BadgeReader
    from kiosk.badges import resolver_for

    engine.badge_resolver = resolver_for(config)
    if not config.badge.device:
        return None
    reader = BadgeReader(config.badge.device, min_length=config.badge.min_length,
                         max_length=config.badge.max_length,
                         max_key_gap_s=config.badge.max_key_gap_ms / 1000)
    reader.when_read = engine.badge_tapped
    reader.when_rejected = engine.badge_unreadable
    return reader.start()


def _site_tools(config: configuration.Config, session_log):
    """The copies a site's own tools read: session-log events to journald, and the desk's
    metrics for node_exporter's textfile collector (each off when its key is empty)."""
    from kiosk.journal import JournalCopy
    from kiosk.metrics import DeskMetrics

    journal = metrics = None
    if config.log.journal_socket is not None:
        journal = JournalCopy(config.log.journal_socket)
        session_log.when_recorded.append(journal)
    if config.log.metrics_file is not None:
        metrics = DeskMetrics(config.log.metrics_file, desk=config.desk.id,
                              session_log=session_log)
        session_log.when_recorded.append(metrics.event)
    return journal, metrics


def demo_config(workdir: Path, callcenter_url: str, phone_port: str) -> configuration.Config:
    """The embedded default: desk 12 of the demo directory, every language."""
    return configuration.from_dict({
        "desk": {"id": "demo-desk12", "name": "Demo desk 12", "host_user_id": DEMO_DESK},
        "callcenter": {"url": callcenter_url, "default_domain": "demo.example",
                       "connect_timeout_s": 2, "read_timeout_s": 5},
        "signin": {"languages": list(configuration.SUPPORTED_LANGUAGES)},
        "session": {"warn_before_s": 30, "heartbeat_s": 15},
        "phone": {"port": phone_port},
        "log": {"database": str(workdir / "sessions.db"),
                "journal_socket": "", "metrics_file": ""},  # the demo stays out of the system's
        "badge": {"table": str(workdir / "badges.json"), "key_file": str(workdir / "badge-key")},
    })


def build_demo(workdir: str | Path, *, latency_s: float = 0.0, clock: Clock | None = None,
               config_changes: dict | None = None) -> Unit:
    """The whole kiosk on simulators, in `workdir` (session log, phone link, lock); closes
    what it opened if a part fails."""
    from gpiozero.pins.mock import MockFactory

    from hardware.phone.sim import SimulatedPhone
    from kiosk.callcenter import XsiClient
    from kiosk.callcenter.sim import SimulatedCallCenter, load_directory
    from kiosk.paths import asset
    from kiosk.session import DeskEngine
    from kiosk.session.lock import RuntimeLock
    from kiosk.sessionlog import SessionLog

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    directory = load_directory(asset("demo", "directory.toml"))
    with contextlib.ExitStack() as opened:
        lock = RuntimeLock(workdir / "kiosk.lock")
        opened.callback(lock.release)
        callcenter = opened.enter_context(SimulatedCallCenter(directory))
        callcenter.faults.update(latency_s=latency_s)
        phone = SimulatedPhone(link=workdir / "deskphone", registration_delay_s=0.5).start()
        opened.callback(phone.close)
        config = demo_config(workdir, callcenter.url, phone.port)
        if config_changes:
            raw = {s: dict(v) for s, v in config_changes.items()}
            config = _merge(config, raw)
        host = directory.users[DEMO_DESK]
        host_client = XsiClient(config.callcenter.url, host.id, host.password,
                                timeout=config.callcenter.timeout)
        opened.callback(host_client.session.close)
        session_log = SessionLog(config.log.database, desk=config.desk.id)
        opened.callback(session_log.close)
        pin_factory = MockFactory()
        panel = open_panel(config, pin_factory)
        opened.callback(panel.close)
        engine = DeskEngine(config, host_client=host_client, session_log=session_log,
                            phone_factory=_phone_factory(config), panel=panel, clock=clock)
        opened.pop_all()
    agents = [DemoAgent(user.id.split("@")[0], user.password, user.name, f"00452{n:05d}")
              for n, user in enumerate(directory.users.values(), start=1)
              if user.guest is not None]
    _demo_badges(config, engine, {a.badge: f"{a.user}@demo.example" for a in agents})
    return Unit(config=config, engine=engine, session_log=session_log, panel=panel,
                pin_factory=pin_factory, callcenter_sim=callcenter, phone_sim=phone,
                demo_agents=agents, lock=lock)


def _demo_badges(config: configuration.Config, engine: DeskEngine, badges: dict) -> None:
    """The demo's badge table (a badge per demo agent), and the engine's lookup in it."""
    from kiosk.badges import BadgeTable, resolver_for

    table = BadgeTable(config.badge.table, key_file=config.badge.key_file)
    for number, user_id in badges.items():
        table.add(number, user_id)
    engine.badge_resolver = resolver_for(config)


def _merge(config: configuration.Config, changes: dict) -> configuration.Config:
    """`config` with some keys changed (for demo variants and benchmarks)."""
    from dataclasses import asdict

    raw = asdict(config)
    raw.pop("source", None)
    flat: dict = {}
    for section, body in raw.items():
        flat[section] = {}
        for key, value in body.items():
            if value is None:
                continue
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            elif key == "end_of_day":
                value = value.strftime("%H:%M")
            flat[section][key] = value
    for section, body in changes.items():
        flat.setdefault(section, {}).update(body)
    return configuration.from_dict(flat)
