"""`kiosk doctor`: a unit's checklist for facilities staff. Each check says ✓ or ✗, what it
found, and for a ✗ what to do about it.

The checks take their seams as keyword arguments (the display's device folder, the GPIO pin
factory, the clock-sync probe) so that tests can point them at simulators.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from kiosk import config as configuration

MIN_FREE_MB = 200
CERT_WARN_DAYS = 30
SERVICE_USER = "hotdesk"  # the kiosk's own user (systemd/hotdesk.sysusers)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    advice: str = ""

    def line(self) -> str:
        mark = "✓" if self.ok else "✗"
        text = f"{mark} {self.name}: {self.detail}"
        return text if self.ok or not self.advice else f"{text}\n    → {self.advice}"


def clock_synchronised() -> bool | None:
    """True/False from systemd's time sync, None when it cannot tell."""
    if Path("/run/systemd/timesync/synchronized").exists():
        return True
    try:
        out = subprocess.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    value = out.stdout.strip()
    return {"yes": True, "no": False}.get(value)


#: The checks' names as the report shows them.
NAMES = {"state_dir": "state directory", "session_log": "session log", "callcenter":
         "Call Center", "host": "desk host", "gpio": "GPIO", "badge": "badge reader",
         "events": "Xsi-Events", "directory": "badge directory"}


def _defaults() -> configuration.Config:
    """The documented defaults, for the checks that can run without this unit's settings."""
    return configuration.from_dict({
        "desk": {"id": "unconfigured", "host_user_id": "unconfigured@invalid.example"},
        "callcenter": {"url": "https://unconfigured.invalid"}})


class Doctor:
    def __init__(self, config_path: Path, *, dri_dir: Path = Path("/dev/dri"), pin_factory=None,
                 clock_synced: Callable[[], bool | None] = clock_synchronised,
                 environ=os.environ, service_user: str = SERVICE_USER):
        """`service_user`: whose rights the state folder is checked with (when the doctor runs
        as root, e.g. under sudo)."""
        self.config_path = Path(config_path)
        self.service_user = service_user
        self._host_refused = False  # one login attempt of the desk account per run
        self._running: dict | bool | None = False  # the running kiosk's status, asked once
        self.dri_dir = Path(dri_dir)
        self.pin_factory = pin_factory
        self.clock_synced = clock_synced
        self.environ = environ
        self.config: configuration.Config | None = None

    def run(self) -> list[Check]:
        checks = [self.check_config()]
        configured = self.config is not None
        if not configured:
            # Everything that does not need this unit's settings is still checked, with the
            # documented defaults (the state folder, the display, the phone's port, the pins,
            # the clock, the fonts); the Call Center and the desk host wait for the fix.
            self.config = _defaults()
        for check in (self.check_state_dir, self.check_session_log, self.check_display,
                      self.check_phone, self.check_gpio, self.check_badge,
                      self.check_directory, self.check_callcenter,
                      self.check_host, self.check_events, self.check_clock,
                      self.check_fonts):
            name = check.__name__.removeprefix("check_")
            if not configured and check in (self.check_callcenter, self.check_host,
                                            self.check_events):
                checks.append(Check(NAMES.get(name, name), False,
                                    "not checked: the configuration failed",
                                    "fix the configuration first"))
                continue
            try:
                result = check()
            except Exception as exc:  # a check must never take the doctor down
                result = Check(NAMES.get(name, name), False,
                               f"the check itself failed: {type(exc).__name__}: {exc}")
            if not configured:
                result = replace(result, detail=result.detail + " (with the defaults: the "
                                 "configuration failed)")
            checks.append(result)
        return checks

    # --- the checks -------------------------------------------------------------------------

    def check_config(self) -> Check:
        try:
            config = configuration.load(self.config_path)
            problems = configuration.check_files(config, environ=self.environ)
        except configuration.ConfigError as exc:
            return Check("configuration", False, "; ".join(str(p) for p in exc.problems),
                         f"fix {self.config_path} (kiosk config check {self.config_path})")
        if problems:
            return Check("configuration", False, "; ".join(str(p) for p in problems),
                         f"fix {self.config_path}")
        self.config = config
        return Check("configuration", True, f"{self.config_path}: {config.summary()}")

    def check_state_dir(self) -> Check:
        """As the kiosk's own user, and without creating anything."""
        folder = self.config.log.database.parent
        if not folder.is_dir():
            return Check("state directory", False, f"{folder} does not exist",
                         "sudo systemd-tmpfiles --create /usr/lib/tmpfiles.d/hotdesk.conf "
                         "(the install script does this)")
        who, writable = writable_by(self.service_user, folder)
        if not writable:
            return Check("state directory", False, f"{folder} is not writable by {who}",
                         f"chown hotdesk:hotdesk {folder} && chmod 0750 {folder} "
                         "(the install script does this)")
        free_mb = shutil.disk_usage(folder).free / 2**20
        if free_mb < MIN_FREE_MB:
            return Check("state directory", False, f"{folder}: only {free_mb:.0f} MB free",
                         "free space on the SD card (kiosk purge; journalctl --vacuum-size)")
        return Check("state directory", True,
                     f"{folder} writable by {who}, {free_mb:,.0f} MB free")

    def check_session_log(self) -> Check:
        import sqlite3

        path = self.config.log.database
        if not path.exists():
            return Check("session log", True, f"{path} not created yet (made at first start)")
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
            result = conn.execute("PRAGMA quick_check").fetchone()[0]
            opened = conn.execute("SELECT count(*) FROM sessions WHERE ended IS NULL").fetchone()
            owed = conn.execute("SELECT count(*) FROM outbox WHERE done IS NULL").fetchone()
            conn.close()
        except sqlite3.Error as exc:
            return Check("session log", False, f"{path}: {exc}",
                         "the kiosk moves a corrupt log aside by itself at its next start; "
                         "restart it (systemctl restart hotdesk-kiosk)")
        if result != "ok":
            return Check("session log", False, f"{path}: quick_check says {result}",
                         "restart the kiosk: it moves the corrupt log aside")
        return Check("session log", True, f"{path} healthy; {opened[0]} open session(s), "
                     f"{owed[0]} server clean-up(s) owed")

    def check_display(self) -> Check:
        cards = sorted(self.dri_dir.glob("card*")) if self.dri_dir.exists() else []
        if not cards:
            return Check("display", False, f"no DRM device in {self.dri_dir}",
                         "check the display ribbon cable and dtoverlay=vc4-kms-v3d in "
                         "/boot/firmware/config.txt")
        usable = [c for c in cards if os.access(c, os.R_OK | os.W_OK)]
        if not usable:
            return Check("display", False, f"{', '.join(map(str, cards))} not accessible",
                         "the kiosk's user must be in the video and render groups")
        return Check("display", True, f"{usable[0]} accessible")

    def _beside_kiosk(self) -> dict | None:
        """The running kiosk's status when one holds the unit's lock, else None."""
        from kiosk.session.lock import kiosk_running
        from kiosk.status import ask

        if self._running is False:
            running, answer = kiosk_running(), None
            try:
                answer = ask() if running else None
            except PermissionError:
                answer = {"state": "running, but this user may not ask it (permission denied "
                          "on its status socket: run the doctor with sudo)"}
            self._running = (answer or {"state": "running, but its status did not answer"}) \
                if running else None
        return self._running

    def check_phone(self) -> Check:
        from hardware.phone import DeskPhone, PhoneDisconnected, PhoneError

        if not self.config.phone.port:
            return Check("phone", True, "no HD-AT/1 phone configured (phone.port is empty): "
                         "calls ring on the desk host's own phone, which shows the desk's name")
        without = ("; without it the desk still works (calls ring on the desk host's phone, "
                   "which shows the desk's name): set phone.port = \"\" if this desk has no "
                   "HD-AT/1 phone")
        running = self._beside_kiosk()
        if running is not None:  # never open the port under a running kiosk
            phone = running.get("phone") or {}
            status = phone.get("status", "unknown")
            if status == "missing":
                return Check("phone", False, "not plugged in (asked the running kiosk)",
                             "check the USB-serial adapter and the udev rule for "
                             "/dev/deskphone" + without)
            detail = (f"{phone.get('model') or 'model unknown'}, serial "
                      f"{phone.get('serial') or '?'}; {status} (asked the running kiosk; the "
                      "port was not opened)")
            return Check("phone", status == "ok", detail,
                         "" if status == "ok" else "check the phone's power and serial lead; "
                         "kiosk status shows what the kiosk sees")
        port = self.config.phone.port
        try:
            with DeskPhone(port, baudrate=self.config.phone.baudrate) as phone:
                ident = phone.identify()
                state = phone.state()
        except PhoneDisconnected as exc:
            return Check("phone", False, str(exc),
                         "check the USB-serial adapter and the udev rule for /dev/deskphone "
                         "(hardware/README.md)" + without)
        except PhoneError as exc:
            return Check("phone", False, f"{port}: {exc}",
                         "check the phone is powered and its serial lead; the baud rate must be "
                         f"{self.config.phone.baudrate}")
        return Check("phone", True, f"{ident.manufacturer} {ident.model}, firmware "
                     f"{ident.revision}, serial {ident.serial}; "
                     f"{'registered' if state.registered else 'NOT registered'}")

    def check_badge(self) -> Check:
        return badge_check(self.config.badge.device, self._beside_kiosk())

    def check_directory(self) -> Check:
        return directory_check(self.config, self.environ)

    def check_gpio(self) -> Check:
        from hardware.panel import DeskPanel

        running = self._beside_kiosk()
        if running is not None:  # what the running kiosk found when it opened them
            gpio = running.get("gpio") or {}
            if gpio.get("status") == "ok":
                return Check("GPIO", True, "opened by the running kiosk (asked it; the pins "
                             "were not touched)")
            return Check("GPIO", False, "the running kiosk could not open its pins: "
                         f"{gpio.get('error') or gpio.get('status', 'it did not say')}",
                         "check the [gpio] pin numbers and python3-lgpio, then restart the "
                         "kiosk (systemctl restart hotdesk-kiosk)")

        gpio = self.config.gpio
        pins = [p for p in (gpio.led_red, gpio.led_green, gpio.led_blue, gpio.relay, gpio.hook,
                            gpio.sign_out_button) if p is not None]
        from gpiozero.exc import BadPinFactory, GPIOPinInUse

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # gpiozero's fallbacks: the verdict says it
                panel = DeskPanel(led_red=gpio.led_red, led_green=gpio.led_green,
                              led_blue=gpio.led_blue, relay=gpio.relay,
                              relay_active_high=gpio.relay_active_high, hook=gpio.hook,
                                  sign_out_button=gpio.sign_out_button, hold_s=gpio.hold_s,
                                  pin_factory=self.pin_factory)
        except GPIOPinInUse as exc:
            return Check("GPIO", False, f"a pin is in use: {exc}",
                         "stop the kiosk first (systemctl stop hotdesk-kiosk), or find the "
                         "other program holding the pin; check the [gpio] pin numbers")
        except BadPinFactory:
            return Check("GPIO", False, "no GPIO on this machine",
                         "on a Raspberry Pi install python3-lgpio (the install script does it)")
        except Exception as exc:
            return Check("GPIO", False, f"{type(exc).__name__}: {exc}",
                         "check the [gpio] pin numbers against hardware/README.md")
        panel.close()
        return Check("GPIO", True, f"BCM pins {', '.join(map(str, pins))} available")

    def check_callcenter(self) -> Check:
        url = urlsplit(self.config.callcenter.url)
        host, port = url.hostname, url.port or (443 if url.scheme == "https" else 80)
        timeout = self.config.callcenter.connect_timeout_s
        proxy = self.config.callcenter.proxy
        via = f" via the proxy {proxy}" if proxy else ""
        if proxy:
            raw = tunnel(proxy, host, port, timeout)
            if isinstance(raw, Check):
                return raw
        else:
            try:
                socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError as exc:
                return Check("Call Center", False, f"{host} does not resolve ({exc})",
                             "check DNS (resolvectl status) and callcenter.url")
            try:
                raw = socket.create_connection((host, port), timeout=timeout)
            except OSError as exc:
                return Check("Call Center", False, f"cannot connect to {host}:{port} ({exc})",
                             "check the network, the firewall, and callcenter.url")
        with raw:
            if url.scheme != "https":
                return Check("Call Center", True,
                             f"{host}:{port} reachable (plain HTTP to loopback)")
            context = ssl.create_default_context(
                cafile=str(self.config.callcenter.ca_bundle)
                if self.config.callcenter.ca_bundle else None)
            try:
                with context.wrap_socket(raw, server_hostname=host) as tls:
                    cert = tls.getpeercert()
            except ssl.SSLError as exc:
                return Check("Call Center", False, f"TLS to {host}: {exc.reason or exc}",
                             "the server's certificate is not trusted: set callcenter.ca_bundle "
                             "to your CA's PEM file, or fix the server's chain")
        expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(cert["notAfter"]), UTC)
        days = (expires - datetime.now(UTC)).days
        if days < CERT_WARN_DAYS:
            return Check("Call Center", False, f"{host}: certificate expires in {days} days",
                         "ask the Call Center's operators to renew the certificate")
        return self._with_running_kiosk(Check(
            "Call Center", True, f"{host}:{port} reachable{via}, TLS valid for {days} days"))

    def _with_running_kiosk(self, check: Check) -> Check:
        """The Call Center as the running kiosk finds it, beside what the doctor found."""
        running = self._beside_kiosk()
        callcenter = (running or {}).get("callcenter")
        if not callcenter:
            return check
        connection = callcenter.get("connection")
        detail = (f"{check.detail}; the running kiosk: connection {connection}, changes by "
                  f"{callcenter.get('events')}")
        if connection == "lost":
            return Check(check.name, False, detail, "the kiosk cannot reach the Call Center: "
                         f"kiosk status shows its last error ({running.get('last_error')})")
        return replace(check, detail=detail)

    def check_host(self) -> Check:
        from kiosk.callcenter import XsiClient
        from kiosk.errors import (
            CallCenterError,
            ConfigError,
            InvalidCredentials,
            NotFound,
            ServerBusy,
            Unreachable,
        )

        desk = self.config.desk
        running = self._beside_kiosk()
        if running and (running.get("callcenter") or {}).get("connection") == "ok":
            return Check("desk host", True, f"{desk.host_user_id}: the running kiosk is logged "
                         "in and the Call Center answers it (not asked again: no login spent)")
        try:
            password = configuration.host_password(self.config, environ=self.environ)
            source, _ = configuration.host_password_path(
                desk, environ=self.environ,
                beside=self.config.source.parent if self.config.source else None)
        except ConfigError as exc:
            return Check("desk host", False, str(exc),
                         "put the host's password in /etc/hotdesk/host-password (mode 600)")
        try:
            with XsiClient.from_config(self.config.callcenter, desk.host_user_id,
                                       password) as client:
                host = client.hoteling_host()
        except InvalidCredentials:
            self._host_refused = True
            return Check("desk host", False, f"{desk.host_user_id}: the password in {source} "
                         "was refused", f"correct {source} (the desk host's web-portal "
                         "password); each run of the doctor tries it once, and too many tries "
                         "lock the account")
        except (Unreachable, ServerBusy) as exc:
            return Check("desk host", False, f"{desk.host_user_id}: {exc}",
                         "fix the Call Center check first")
        except NotFound as exc:
            return Check("desk host", False, f"{desk.host_user_id}: {exc}",
                         f"check callcenter.url first: is {self.config.callcenter.url} the "
                         "XSP's Xsi-Actions service (not the web portal)? If it is, assign "
                         "the host the Hoteling Host service")
        except CallCenterError as exc:
            return Check("desk host", False, f"{desk.host_user_id}: {exc}",
                         "the host needs the Hoteling Host service assigned")
        finally:
            password.wipe()
        if not host.active:
            return Check("desk host", False, f"{desk.host_user_id}: Hoteling Host is not active",
                         "activate Hoteling Host for this user in the BroadWorks portal")
        guest = " ".join(p for p in (host.guest_first_name, host.guest_last_name) if p)
        return Check("desk host", True, f"{desk.host_user_id} accepted (password from "
                     f"{source}), Hoteling Host active"
                     + (f", guest now: {guest}" if guest else ", desk free"))

    def check_events(self) -> Check:
        """Whether the XSP offers Xsi-Events: a channel opened (and deleted) as the host."""
        from kiosk.callcenter.events import APPLICATION_ID, EventChannel
        from kiosk.errors import CallCenterError, ConfigError, NotFound

        if not self.config.callcenter.events:
            return Check("Xsi-Events", True, "off (callcenter.events = false): the kiosk polls "
                         f"every {self.config.session.heartbeat_s} s")
        desk = self.config.desk
        if self._host_refused:
            return Check("Xsi-Events", False, "not checked: the desk host's password was "
                         "refused (one login attempt per run)", "fix the desk host check first")
        running = self._beside_kiosk()
        callcenter = (running or {}).get("callcenter") or {}
        if callcenter.get("connection") == "ok":
            events = callcenter.get("events")
            return Check("Xsi-Events", True, f"the running kiosk: changes by {events}"
                         + (" (a channel is opened for each signed-in agent)"
                            if running.get("agent") is None else "")
                         + " (not asked again: no login spent)")
        try:
            password = configuration.host_password(self.config, environ=self.environ)
        except ConfigError:
            return Check("Xsi-Events", False, "not checked: no desk host password",
                         "fix the desk host check first")
        channel = EventChannel(self.config.callcenter, desk.host_user_id, password,
                               channel_set_id=f"hotdesk-doctor-{desk.id}",
                               application_id=f"{APPLICATION_ID}-doctor", packages=())
        try:
            channel.open()
        except NotFound:
            return Check("Xsi-Events", False, "the XSP does not offer Xsi-Events (404): the "
                         "kiosk follows the server by polling every heartbeat instead",
                         "ask the Call Center's operators to enable Xsi-Events, or set "
                         "callcenter.events = false")
        except CallCenterError as exc:
            return Check("Xsi-Events", False, f"no event channel: {exc}",
                         "fix the Call Center and desk host checks first; a proxy must let "
                         "a long-lived HTTPS answer through")
        finally:
            channel.close()
            password.wipe()
        return Check("Xsi-Events", True, "offered: changes are pushed to the kiosk")

    def check_clock(self) -> Check:
        synced = self.clock_synced()
        now = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
        if synced:
            return Check("clock", True, f"synchronised ({now})")
        return Check("clock", False, f"not known to be synchronised ({now})",
                     "enable time sync: timedatectl set-ntp true (a Pi has no battery clock)")

    def check_fonts(self) -> Check:
        from kiosk.ui import fonts

        wanted = list(self.config.signin.languages)
        usable = fonts.usable_languages(wanted)
        missing = [lang for lang in wanted if lang not in usable]
        if missing:
            packages = sorted({fonts.FONT_PACKAGES[fonts.script_of(lang)] for lang in missing})
            return Check("fonts", False,
                         f"no font for {', '.join(missing)}: left out of the language list",
                         f"apt-get install {' '.join(packages)} (the install script does it)")
        return Check("fonts", True, f"fonts for {', '.join(wanted)}")



def tunnel(proxy: str, host: str, port: int, timeout: float):
    """A socket tunnelled to host:port by the proxy's CONNECT, or a failed Check."""
    where = urlsplit(proxy)
    try:
        raw = socket.create_connection((where.hostname, where.port), timeout=timeout)
    except OSError as exc:
        return Check("Call Center", False, f"cannot connect to the proxy {proxy} ({exc})",
                     "check callcenter.proxy and the network to the proxy")
    try:
        raw.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n"
                    .encode())
        answer = b""
        while b"\r\n\r\n" not in answer and len(answer) < 8192:
            chunk = raw.recv(1024)
            if not chunk:
                break
            answer += chunk
    except OSError as exc:
        raw.close()
        return Check("Call Center", False, f"the proxy {proxy} did not answer ({exc})",
                     "check callcenter.proxy")
    status = answer.split(b"\r\n", 1)[0].decode("latin-1", "replace")
    if " 200" not in status:
        raw.close()
        return Check("Call Center", False, f"the proxy {proxy} refused to reach "
                     f"{host}:{port}: {status or 'no answer'}",
                     "ask the site's network team to allow the XSP through the proxy")
    return raw


def writable_by(service_user: str, folder: Path) -> tuple[str, bool]:
    """(whose rights were checked, whether they may write there). Run as root, the check
    runs `test -w` as the kiosk's own user; otherwise as the user running the doctor."""
    import pwd

    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam(service_user)
        except KeyError:
            pass  # no such user on this machine: the install script has not run
        else:
            groups = os.getgrouplist(user.pw_name, user.pw_gid)
            result = subprocess.run(["test", "-w", str(folder), "-a", "-x", str(folder)],
                                    user=user.pw_uid, group=user.pw_gid,
                                    extra_groups=groups, check=False)
            return user.pw_name, result.returncode == 0
    return pwd.getpwuid(os.geteuid()).pw_name, os.access(folder, os.W_OK | os.X_OK)


def as_json(checks: list[Check]) -> dict:
    return {"ok": all(c.ok for c in checks), "checks": [asdict(c) for c in checks]}


def badge_check(device, running: dict | None) -> Check:
    """The badge reader: asked of the running kiosk, else looked for (never grabbed here)."""
    name = "badge reader"
    if not device:
        return Check(name, True, "none configured (badge.device is empty)")
    if running is not None:
        badge = running.get("badge") or {}
        if badge.get("status") == "ok":
            return Check(name, True, f"{device} reading (asked the running kiosk)")
        return Check(name, False, f"{device}: {badge.get('error') or 'not reading'} (asked the "
                     "running kiosk)", "plug the reader in, check badge.device against "
                     "ls -l /dev/input/by-id/; without evdev, run systemd/install.sh again")
    try:
        import evdev  # noqa: F401
    except ImportError as exc:
        return Check(name, False, f"cannot read keyboard-wedge readers: {exc}",
                     "run systemd/install.sh again (it installs python3-evdev)")
    if not Path(device).exists():
        return Check(name, False, f"{device} not found",
                     "plug the reader in; check badge.device against ls -l /dev/input/by-id/")
    return Check(name, True, f"{device} present")


def directory_check(config, environ) -> Check:
    """The site's badge directory: its password readable, then one search (a number no badge
    has), bound and over verified TLS as the kiosk does it."""
    from kiosk.badges import DirectoryUnavailable, resolver_for

    name = "badge directory"
    url = config.badge.ldap_url
    if not url:
        return Check(name, True, "none configured (badge.ldap_url is empty)")
    resolver = resolver_for(config, environ)
    if resolver.problem:
        return Check(name, False, f"{url}: {resolver.problem}",
                     "put the bind account's password in /etc/hotdesk/ldap-password "
                     "(install -m 600 /dev/stdin …), then restart the kiosk")
    try:
        resolver.directory.lookup("0")
    except DirectoryUnavailable as exc:
        return Check(name, False, f"{url}: cannot be asked: {exc}",
                     "check the URL, the network, the bind DN and password, and that the "
                     "server's certificate is trusted (badge.ldap_ca_bundle)")
    who = config.badge.ldap_bind_dn or "anonymously"
    return Check(name, True, f"{url} answers (bound {'as ' if config.badge.ldap_bind_dn else ''}"
                 f"{who}, TLS verified, referrals not followed)")
