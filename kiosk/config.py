"""The kiosk's configuration: one TOML file read into frozen dataclasses, validated once.

`load(path)` returns a `Config` or raises `ConfigError` listing **every** problem found, each
named by its dotted key (``session.warn_before_s: must be at least 20 (got 5)``). An unknown key
is a problem too: a typo must not pass silently.

`KEYS` is the single table of keys, types, defaults and rules; the README's reference is checked
against it by the test suite.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any

from kiosk.callcenter.urls import XsiUrlError, XsiUrls
from kiosk.errors import ConfigError, Problem
from kiosk.identity import is_full_user_id, is_host_name, normalise_user_id
from kiosk.paths import CONFIG_DEFAULT_PATH as DEFAULT_PATH
from kiosk.paths import CONFIG_ENV_VAR as ENV_VAR
from kiosk.secret import Secret

HOST_PASSWORD_CREDENTIAL = "host-password"  # noqa: S105 - a credential name, not a secret
LDAP_PASSWORD_CREDENTIAL = "ldap-password"  # noqa: S105 - a credential name, not a secret

#: The languages the kiosk has catalogues for (gettext names).
SUPPORTED_LANGUAGES = ("en", "fr", "de", "es", "it", "vi", "zh_CN", "ar")
ACD_INITIAL_STATES = ("Available", "Unavailable")
STANDARD_BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)

REQUIRED = object()  # a key without a default
DERIVED = object()  # a default computed from another key


@dataclass(frozen=True)
class Key:
    """One configuration key: its type, default, rule (as documented) and check."""

    name: str  # dotted: "section.key"
    types: tuple[type, ...]
    default: Any
    rule: str
    check: Callable[[Any], str | None] = lambda value: None
    optional_pin: bool = False  # `false` means "not fitted"

    @property
    def section(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def key(self) -> str:
        return self.name.split(".", 1)[1]


# --- rules --------------------------------------------------------------------------------


def _at_least(minimum: float) -> Callable[[Any], str | None]:
    return lambda v: None if v >= minimum else f"must be at least {minimum} (got {v})"


def _between(low: float, high: float) -> Callable[[Any], str | None]:
    return lambda v: None if low <= v <= high else f"must be from {low} to {high} (got {v})"


def _positive(v: float) -> str | None:
    return None if v > 0 else f"must be greater than 0 (got {v})"


def _desk_id(v: str) -> str | None:
    if re.fullmatch(r"[A-Za-z0-9._-]{1,32}", v):
        return None
    return f"must be 1 to 32 letters, digits, '.', '_' or '-' (got {v!r})"


def _full_user_id(v: str) -> str | None:
    return None if is_full_user_id(v) else f"must be a full user ID, user@domain (got {v!r})"


def _callcenter_url(v: str) -> str | None:
    try:
        XsiUrls.parse(v)
    except XsiUrlError as exc:
        return str(exc)
    return None


def _optional_domain(v: str) -> str | None:
    return None if v == "" or is_host_name(v) else f"must be a domain name (got {v!r})"


def _one_of(choices: tuple) -> Callable[[Any], str | None]:
    return lambda v: None if v in choices else f"must be one of {', '.join(choices)} (got {v!r})"


def _languages(v: list) -> str | None:
    if not v:
        return "must list at least one language"
    problems = []
    unknown = [x for x in dict.fromkeys(v) if x not in SUPPORTED_LANGUAGES]
    if unknown:
        names = ", ".join(repr(x) for x in unknown)
        problems.append(f"unknown language{'s' if len(unknown) > 1 else ''} {names}; "
                        f"known: {', '.join(SUPPORTED_LANGUAGES)}")
    repeated = [x for x in dict.fromkeys(v) if v.count(x) > 1]
    if repeated:
        problems.append(f"lists {', '.join(repr(x) for x in repeated)} more than once")
    return "; ".join(problems) or None


def _end_of_day(v: str) -> str | None:
    if v == "" or _parse_hhmm(v) is not None:
        return None
    return f"must be HH:MM (24-hour local time) or empty (got {v!r})"


def _parse_hhmm(v: str) -> time | None:
    m = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", v)
    return time(int(m.group(1)), int(m.group(2))) if m else None


def _baudrate(v: int) -> str | None:
    if v in STANDARD_BAUDRATES:
        return None
    return f"must be a standard rate such as 9600 or 115200 (got {v})"


def _bcm_pin(v: int) -> str | None:
    return None if 2 <= v <= 27 else f"must be a BCM GPIO number from 2 to 27 (got {v})"


def _ldap_url(v: str) -> str | None:
    if v and not v.startswith(("ldaps://", "ldap://")):
        return "`ldaps://host` (or `ldap://host`, then StartTLS)"
    return None


def _ldap_filter(v: str) -> str | None:
    if "{badge}" not in v or not (v.startswith("(") and v.endswith(")")):
        return "an LDAP filter with `{badge}`, e.g. `(employeeNumber={badge})`"
    return None


def _proxy_url(v: str) -> str | None:
    from urllib.parse import urlsplit

    if not v:
        return None
    try:
        parts = urlsplit(v)
        port = parts.port
    except ValueError:
        return "`http://host:port`, e.g. http://proxy.corp.example:3128"
    if parts.scheme != "http" or not parts.hostname or port is None:
        return "`http://host:port`, e.g. http://proxy.corp.example:3128 (HTTPS goes through it " \
               "by CONNECT)"
    if parts.username or parts.password:
        return "without credentials in the URL: they would sit in a readable file (use a " \
               "proxy that allows this unit by address)"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "`http://host:port` only, no path"
    return None


def _nonempty(v: str) -> str | None:
    return None if v.strip() else "must not be empty"


KEYS: tuple[Key, ...] = (
    Key("desk.id", (str,), REQUIRED, "`[A-Za-z0-9._-]{1,32}`", _desk_id),
    Key("desk.name", (str,), DERIVED, "shown on screen; defaults to `desk.id`", _nonempty),
    Key("desk.host_user_id", (str,), REQUIRED, "the desk's hoteling host, a full `user@domain`",
        _full_user_id),
    Key("desk.host_password_file", (str,), "",
        "file holding the host's password, not readable by group or others; "
        "empty = the systemd credential `host-password`"),
    Key("callcenter.url", (str,), REQUIRED,
        "Xsi-Actions base, `https://…/com.broadsoft.xsi-actions/v2.0`; `http://` only to loopback",
        _callcenter_url),
    Key("callcenter.ca_bundle", (str,), "", "PEM file to trust; empty = the system trust store"),
    Key("callcenter.proxy", (str,), "",
        "`http://host:port`: the site's proxy, through CONNECT (Actions and Events alike); "
        "empty = none (the environment's proxy variables are ignored)", _proxy_url),
    Key("callcenter.connect_timeout_s", (int, float), 3.05, "> 0", _positive),
    Key("callcenter.read_timeout_s", (int, float), 10.0, "> 0", _positive),
    Key("callcenter.default_domain", (str,), "",
        "appended when the agent types only the user part", _optional_domain),
    Key("callcenter.initial_acd_state", (str,), "Available", "`Available` or `Unavailable`",
        _one_of(ACD_INITIAL_STATES)),
    Key("callcenter.events", (bool,), True,
        "follow the agent's desk and ACD state by Xsi-Events push; `false` = polling only"),
    Key("signin.append_domain", (bool,), True, "append `callcenter.default_domain` to a bare user"),
    Key("signin.stay_signed_in_default", (bool,), True, "*Stay signed in* ticked at first"),
    Key("signin.languages", (list,), ["en"],
        "at least one of " + ", ".join(f"`{x}`" for x in SUPPORTED_LANGUAGES), _languages),
    Key("signin.default_language", (str,), DERIVED,
        "one of `signin.languages`; defaults to the first"),
    Key("signin.max_failures", (int,), 3, "≥ 1; failed passwords before a cool-down", _at_least(1)),
    Key("signin.cooldown_s", (int,), 30, "≥ 1; doubles on each further failure", _at_least(1)),
    Key("signin.form_timeout_s", (int,), 60, "≥ 10; an untouched form is wiped", _at_least(10)),
    Key("session.association_limit_hours", (int,), 10, "1–999", _between(1, 999)),
    Key("session.idle_sign_out_min", (int,), 0, "≥ 0; 0 = never", _at_least(0)),
    Key("session.end_of_day", (str,), "", "`HH:MM` local time; empty = never", _end_of_day),
    Key("session.warn_before_s", (int,), 60, "≥ 20 (WCAG 2.2.1)", _at_least(20)),
    Key("session.allow_extend", (bool,), True, "offer a one-tap extension in the warning"),
    Key("session.hangup_wait_max_min", (int,), 120,
        "≥ 1; how long a due sign-out waits for an off-hook handset", _at_least(1)),
    Key("session.heartbeat_s", (int,), 15, "≥ 5", _at_least(5)),
    Key("session.resync_s", (int,), 300, "≥ 10", _at_least(10)),
    Key("phone.port", (str,), "/dev/deskphone",
        "a device path or any pyserial URL; empty = no HD-AT/1 phone"),
    Key("phone.baudrate", (int,), 115200, "a standard rate", _baudrate),
    Key("gpio.led_red", (int,), 17, "BCM 2–27; all pins distinct", _bcm_pin),
    Key("gpio.led_green", (int,), 27, "BCM 2–27", _bcm_pin),
    Key("gpio.led_blue", (int,), 22, "BCM 2–27", _bcm_pin),
    Key("gpio.relay", (int,), 23, "BCM 2–27, or `false` for no relay", _bcm_pin, optional_pin=True),
    Key("gpio.relay_active_high", (bool,), True, "relay closes when the pin is high"),
    Key("gpio.hook", (int,), None, "BCM 2–27, or absent / `false` for no hook switch", _bcm_pin,
        optional_pin=True),
    Key("gpio.sign_out_button", (int,), 25, "BCM 2–27, or `false` for no button", _bcm_pin,
        optional_pin=True),
    Key("gpio.hold_s", (int, float), 2.0, "0.5–10; how long the button is held to sign out",
        _between(0.5, 10)),
    Key("log.database", (str,), "/var/lib/hotdesk/sessions.db", "the session log (SQLite)",
        _nonempty),
    Key("log.retention_days", (int,), 365, "≥ 1; `kiosk purge` removes older sessions",
        _at_least(1)),
    Key("log.journal_socket", (str,), "/run/systemd/journal/socket",
        "journald's native socket: every session-log event is copied there; empty = off"),
    Key("log.metrics_file", (str,), "/run/hotdesk/metrics/hotdesk.prom",
        "node_exporter's textfile collector reads it; empty = off"),
    Key("badge.device", (str,), "",
        "the badge reader, a `/dev/input/by-id/…-event-kbd` path; empty = no reader"),
    Key("badge.min_length", (int,), 4, "≥ 1; the shortest badge number accepted",
        _at_least(1)),
    Key("badge.max_length", (int,), 20, "≥ `badge.min_length`; the longest", _at_least(1)),
    Key("badge.max_key_gap_ms", (int,), 100,
        "≥ 1; a read's keys come at most this far apart (a reader, not a person typing)",
        _at_least(1)),
    Key("badge.table", (str,), "/etc/hotdesk/badges.json",
        "badge → user ID, kept by `kiosk badges` (keyed hashes, never a number)"),
    Key("badge.key_file", (str,), "/etc/hotdesk/badge-key", "the key of those hashes"),
    Key("badge.ldap_url", (str,), "",
        "the site's directory, `ldaps://host` (or `ldap://host` with StartTLS); empty = none",
        _ldap_url),
    Key("badge.ldap_bind_dn", (str,), "", "who the kiosk binds as; empty = anonymous"),
    Key("badge.ldap_password_file", (str,), "", "that account's password, in a file"),
    Key("badge.ldap_base", (str,), "", "where to search, e.g. `ou=people,dc=corp,dc=example`"),
    Key("badge.ldap_filter", (str,), "(employeeNumber={badge})",
        "the search, with `{badge}` for the number", _ldap_filter),
    Key("badge.ldap_attribute", (str,), "mail", "the attribute holding the Call Center user ID"),
    Key("badge.ldap_cache_s", (int,), 3600, "≥ 0; how long an answer is kept", _at_least(0)),
    Key("badge.ldap_ca_bundle", (str,), "", "PEM file to trust; empty = the system store"),
)

KEYS_BY_NAME = {k.name: k for k in KEYS}
SECTIONS = tuple(dict.fromkeys(k.section for k in KEYS))


# --- the configuration, as the rest of the kiosk sees it ---------------------------------


@dataclass(frozen=True)
class DeskConfig:
    id: str
    name: str
    host_user_id: str
    host_password_file: Path | None


@dataclass(frozen=True)
class CallCenterConfig:
    url: str
    ca_bundle: Path | None
    connect_timeout_s: float
    read_timeout_s: float
    default_domain: str
    initial_acd_state: str
    events: bool = True
    proxy: str = ""  # the site's proxy (`http://host:port`), through CONNECT; "" = none

    @property
    def timeout(self) -> tuple[float, float]:
        """The `(connect, read)` timeout pair for requests."""
        return (self.connect_timeout_s, self.read_timeout_s)


@dataclass(frozen=True)
class SignInConfig:
    append_domain: bool
    stay_signed_in_default: bool
    languages: tuple[str, ...]
    default_language: str
    max_failures: int
    cooldown_s: int
    form_timeout_s: int


@dataclass(frozen=True)
class SessionConfig:
    association_limit_hours: int
    idle_sign_out_min: int
    end_of_day: time | None
    warn_before_s: int
    allow_extend: bool
    heartbeat_s: int
    hangup_wait_max_min: int
    resync_s: int


@dataclass(frozen=True)
class PhoneConfig:
    port: str
    baudrate: int


@dataclass(frozen=True)
class GpioConfig:
    led_red: int
    led_green: int
    led_blue: int
    relay: int | None
    relay_active_high: bool
    hook: int | None
    sign_out_button: int | None
    hold_s: float


@dataclass(frozen=True)
class LogConfig:
    database: Path
    retention_days: int
    journal_socket: Path | None = None  # None: no copy to the journal
    metrics_file: Path | None = None  # None: no metrics file


@dataclass(frozen=True)
class BadgeConfig:
    device: str = ""
    min_length: int = 4
    max_length: int = 20
    max_key_gap_ms: int = 100
    table: Path = Path("/etc/hotdesk/badges.json")
    key_file: Path = Path("/etc/hotdesk/badge-key")
    ldap_url: str = ""
    ldap_bind_dn: str = ""
    ldap_password_file: Path | None = None
    ldap_base: str = ""
    ldap_filter: str = "(employeeNumber={badge})"
    ldap_attribute: str = "mail"
    ldap_cache_s: int = 3600
    ldap_ca_bundle: Path | None = None


@dataclass(frozen=True)
class Config:
    desk: DeskConfig
    callcenter: CallCenterConfig
    signin: SignInConfig
    session: SessionConfig
    phone: PhoneConfig
    gpio: GpioConfig
    log: LogConfig
    badge: BadgeConfig = field(default_factory=lambda: BadgeConfig())
    source: Path | None = field(default=None, compare=False)

    def summary(self) -> str:
        """One line for people: desk, server, languages."""
        return (
            f"desk {self.desk.id} ({self.desk.name}), host {self.desk.host_user_id}, "
            f"server {self.callcenter.url}, languages {', '.join(self.signin.languages)}"
        )


# --- loading ------------------------------------------------------------------------------


def default_path(environ: Mapping[str, str] = os.environ) -> Path:
    """Where to read the configuration when no `--config` is given."""
    return Path(environ.get(ENV_VAR) or DEFAULT_PATH)


def load(path: str | os.PathLike) -> Config:
    """Read and validate the file at `path`. Raises `ConfigError` naming every problem."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(Problem("file", f"{path} does not exist"), path=str(path)) from None
    except OSError as exc:
        raise ConfigError(Problem("file", f"cannot read {path}: {exc.strerror}"),
                          path=str(path)) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(Problem("file", f"is not UTF-8 text (byte {exc.start})"),
                          path=str(path)) from None
    return loads(text, source=path)


def loads(text: str, *, source: Path | None = None) -> Config:
    """Validate configuration given as TOML text."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(Problem("toml", f"syntax error: {exc}"),
                          path=str(source) if source else None) from None
    return from_dict(raw, source=source)


def from_dict(raw: Mapping[str, Any], *, source: Path | None = None) -> Config:
    """Validate an already-parsed configuration mapping."""
    problems: list[Problem] = []
    values: dict[str, Any] = {}

    for section, body in raw.items():
        if section not in SECTIONS:
            problems.append(Problem(section, "unknown section" + _did_you_mean(section, SECTIONS)))
        elif not isinstance(body, dict):
            problems.append(Problem(section, "must be a table ([" + section + "])"))
        else:
            for key in body:
                name = f"{section}.{key}"
                if name not in KEYS_BY_NAME:
                    problems.append(
                        Problem(name, "unknown key" + _did_you_mean(name, list(KEYS_BY_NAME)))
                    )

    for spec in KEYS:
        body = raw.get(spec.section, {})
        if not isinstance(body, dict) or spec.key not in body:
            if spec.default is REQUIRED:
                problems.append(Problem(spec.name, "is required"))
            else:
                values[spec.name] = spec.default
            continue
        value, problem = _check_value(spec, body[spec.key])
        if problem:
            problems.append(Problem(spec.name, problem))
        else:
            values[spec.name] = value

    problems.extend(_cross_checks(values))
    if problems:
        raise ConfigError(problems, path=str(source) if source else None)
    return _build(values, source)


def _did_you_mean(name: str, choices) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _type_name(types: tuple[type, ...]) -> str:
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "a string",
             list: "a list"}
    if float in types:
        return "a number"
    return names[types[0]]


def _check_value(spec: Key, value: Any) -> tuple[Any, str | None]:
    if spec.optional_pin and value is False:
        return None, None
    # TOML booleans are Python ints; a number key must not accept `true`.
    ok = isinstance(value, spec.types) and not (isinstance(value, bool) and bool not in spec.types)
    if not ok:
        wanted = _type_name(spec.types) + (" or false" if spec.optional_pin else "")
        return None, f"must be {wanted} (got {value!r})"
    if list in spec.types and not all(isinstance(x, str) for x in value):
        return None, "must be a list of strings"
    if float in spec.types:
        value = float(value)
    return value, spec.check(value)


def _cross_checks(values: dict[str, Any]) -> list[Problem]:
    problems = []
    shortest, longest = values.get("badge.min_length"), values.get("badge.max_length")
    if isinstance(shortest, int) and isinstance(longest, int) and longest < shortest:
        problems.append(Problem("badge.max_length", f"must be at least badge.min_length "
                                f"({shortest}), got {longest}"))
    languages = values.get("signin.languages")
    default_language = values.get("signin.default_language")
    if (languages and default_language not in (DERIVED, None)
            and default_language not in languages):
        problems.append(Problem("signin.default_language",
                                f"must be one of signin.languages (got {default_language!r})"))
    pins: dict[int, str] = {}
    for name in ("gpio.led_red", "gpio.led_green", "gpio.led_blue", "gpio.relay", "gpio.hook",
                 "gpio.sign_out_button"):
        pin = values.get(name)
        if pin is None:
            continue
        if pin in pins:
            problems.append(Problem(name, f"pin {pin} is already used by {pins[pin]}"))
        else:
            pins[pin] = name
    return problems


def _path_or_none(value: str, base: Path | None = None) -> Path | None:
    return _resolved(value, base) if value else None


def _resolved(value: str, base: Path | None) -> Path:
    """A path from the configuration: a relative one is relative to the configuration file's
    folder (the same under systemd as from any shell), never to the current folder."""
    path = Path(value).expanduser()
    return path if path.is_absolute() or base is None else (base / path)


def _port(value: str, base: Path | None) -> str:
    """A device path like a file path; a pyserial URL (`socket://…`) as it is."""
    if not value or "://" in value:
        return value
    return str(_resolved(value, base))


def _build(v: dict[str, Any], source: Path | None) -> Config:
    languages = tuple(v["signin.languages"])
    base = Path(source).resolve().parent if source is not None else None
    return Config(
        desk=DeskConfig(
            id=v["desk.id"],
            name=v["desk.id"] if v["desk.name"] is DERIVED else v["desk.name"],
            host_user_id=normalise_user_id(v["desk.host_user_id"], append_domain=False),
            host_password_file=_path_or_none(v["desk.host_password_file"], base),
        ),
        callcenter=CallCenterConfig(
            url=XsiUrls.parse(v["callcenter.url"]).actions,
            ca_bundle=_path_or_none(v["callcenter.ca_bundle"], base),
            connect_timeout_s=v["callcenter.connect_timeout_s"],
            read_timeout_s=v["callcenter.read_timeout_s"],
            default_domain=v["callcenter.default_domain"].lower(),
            initial_acd_state=v["callcenter.initial_acd_state"],
            events=v["callcenter.events"],
            proxy=v["callcenter.proxy"],
        ),
        signin=SignInConfig(
            append_domain=v["signin.append_domain"],
            stay_signed_in_default=v["signin.stay_signed_in_default"],
            languages=languages,
            default_language=(languages[0] if v["signin.default_language"] is DERIVED
                              else v["signin.default_language"]),
            max_failures=v["signin.max_failures"],
            cooldown_s=v["signin.cooldown_s"],
            form_timeout_s=v["signin.form_timeout_s"],
        ),
        session=SessionConfig(
            association_limit_hours=v["session.association_limit_hours"],
            idle_sign_out_min=v["session.idle_sign_out_min"],
            end_of_day=_parse_hhmm(v["session.end_of_day"]) if v["session.end_of_day"] else None,
            warn_before_s=v["session.warn_before_s"],
            allow_extend=v["session.allow_extend"],
            hangup_wait_max_min=v["session.hangup_wait_max_min"],
            heartbeat_s=v["session.heartbeat_s"],
            resync_s=v["session.resync_s"],
        ),
        phone=PhoneConfig(port=_port(v["phone.port"], base), baudrate=v["phone.baudrate"]),
        gpio=GpioConfig(
            led_red=v["gpio.led_red"],
            led_green=v["gpio.led_green"],
            led_blue=v["gpio.led_blue"],
            relay=v["gpio.relay"],
            relay_active_high=v["gpio.relay_active_high"],
            hook=v["gpio.hook"],
            sign_out_button=v["gpio.sign_out_button"],
            hold_s=v["gpio.hold_s"],
        ),
        log=LogConfig(database=_resolved(v["log.database"], base),
                      retention_days=v["log.retention_days"],
                      journal_socket=_path_or_none(v["log.journal_socket"], base),
                      metrics_file=_path_or_none(v["log.metrics_file"], base)),
        badge=BadgeConfig(
            device=_port(v["badge.device"], base),
            min_length=v["badge.min_length"], max_length=v["badge.max_length"],
            max_key_gap_ms=v["badge.max_key_gap_ms"],
            table=_resolved(v["badge.table"], base), key_file=_resolved(v["badge.key_file"], base),
            ldap_url=v["badge.ldap_url"], ldap_bind_dn=v["badge.ldap_bind_dn"],
            ldap_password_file=_path_or_none(v["badge.ldap_password_file"], base),
            ldap_base=v["badge.ldap_base"], ldap_filter=v["badge.ldap_filter"],
            ldap_attribute=v["badge.ldap_attribute"], ldap_cache_s=v["badge.ldap_cache_s"],
            ldap_ca_bundle=_path_or_none(v["badge.ldap_ca_bundle"], base)),
        source=source,
    )


# --- files the configuration points at -----------------------------------------------------


def check_files(config: Config, *, environ: Mapping[str, str] = os.environ) -> list[Problem]:
    """Problems with the files the configuration names (password file, CA bundle)."""
    problems = []
    if config.desk.host_password_file is not None:
        try:
            host_password(config, environ=environ)
        except ConfigError as exc:
            problems.extend(exc.problems)
    # the directory's password, where there is one to read (a configuration checked away
    # from its unit, as Ansible's validation does, finds none beside it: said at run time)
    if config.badge.ldap_url and _ldap_password_path(config, environ) is not None:
        try:
            ldap_password(config, environ=environ)
        except ConfigError as exc:
            problems.extend(exc.problems)
    bundle = config.callcenter.ca_bundle
    if bundle is not None and not bundle.is_file():
        problems.append(Problem("callcenter.ca_bundle", f"{bundle} does not exist"))
    elif bundle is not None:
        try:
            pem = bundle.read_bytes()
        except OSError as exc:
            problems.append(Problem("callcenter.ca_bundle", f"cannot read {bundle}: "
                                                            f"{exc.strerror}"))
        else:
            if b"-----BEGIN CERTIFICATE-----" not in pem:
                problems.append(Problem("callcenter.ca_bundle",
                                        f"{bundle} holds no PEM certificate (-----BEGIN "
                                        "CERTIFICATE-----); convert a DER file with "
                                        "openssl x509 -inform der"))
    return problems


def host_password(config: Config, *, environ: Mapping[str, str] = os.environ) -> Secret:
    """The desk host's password for this configuration (see `read_host_password`)."""
    return read_host_password(config.desk, environ=environ,
                              beside=config.source.parent if config.source else None)


def host_password_path(desk: DeskConfig, *, environ: Mapping[str, str] = os.environ,
                       beside: Path | None = None) -> tuple[Path, bool]:
    """Which file the desk host's password is read from (see `read_host_password`), and
    whether its mode is checked. Raises ConfigError when there is none."""
    if desk.host_password_file is not None:
        return desk.host_password_file, True
    if environ.get("CREDENTIALS_DIRECTORY"):
        return Path(environ["CREDENTIALS_DIRECTORY"]) / HOST_PASSWORD_CREDENTIAL, False
    if beside is not None and (Path(beside) / HOST_PASSWORD_CREDENTIAL).exists():
        return Path(beside) / HOST_PASSWORD_CREDENTIAL, True
    where = f", nor {Path(beside) / HOST_PASSWORD_CREDENTIAL}" if beside else ""
    raise ConfigError(Problem("desk.host_password_file", "is empty and there is no systemd "
                              f"credential '{HOST_PASSWORD_CREDENTIAL}' ($CREDENTIALS_DIRECTORY "
                              f"is not set){where}"))


def read_host_password(desk: DeskConfig, *, environ: Mapping[str, str] = os.environ,
                       beside: Path | None = None) -> Secret:
    """The desk host's password: from `desk.host_password_file`; else the systemd credential
    (the service); else the file `host-password` in the folder `beside` (the configuration's:
    `/etc/hotdesk/host-password`, where the install guide puts it and the service's credential
    comes from), which is how the admin commands find it over SSH.

    Refuses a file that group or others may read: it is the key that frees the desk.
    """
    path, checked = host_password_path(desk, environ=environ, beside=beside)
    return read_secret_file("desk.host_password_file", path, checked=checked)


def read_secret_file(key: str, path: Path, *, checked: bool, empty_ok: bool = False) -> Secret:
    """A password from a file: refused when group or others may read it (`checked`), missing,
    unreadable (named as a permission problem when it is one) or empty; `ConfigError` on `key`."""
    try:
        mode = path.stat().st_mode
        if checked and mode & (stat.S_IRGRP | stat.S_IROTH):
            raise ConfigError(Problem(key, f"{path} is readable by group or others "
                                      f"(mode {stat.S_IMODE(mode):04o}); run: chmod 600 {path}"))
        value = path.read_text(encoding="utf-8").rstrip("\r\n")
    except FileNotFoundError:
        raise ConfigError(Problem(key, f"{path} does not exist")) from None
    except PermissionError:
        raise ConfigError(Problem(key, f"cannot read {path}: permission denied (it is root's: "
                                  "run this with sudo)")) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(Problem(key, f"cannot read {path}: {reason}")) from None
    if not value and not empty_ok:
        raise ConfigError(Problem(key, f"{path} is empty"))
    return Secret(value)


def ldap_password(config: Config, *, environ: Mapping[str, str] = os.environ) -> Secret | None:
    """The directory account's password (`badge.ldap_bind_dn`), or None for an anonymous
    bind: from `badge.ldap_password_file` (mode 600); else the systemd credential
    `ldap-password` (the service; install.sh keeps `/etc/hotdesk/ldap-password`, empty when
    the directory takes anonymous binds); else that file beside the configuration."""
    badge = config.badge
    if not badge.ldap_url:
        return None
    key = "badge.ldap_password_file"
    found = _ldap_password_path(config, environ)
    if found is None:
        if badge.ldap_bind_dn:
            raise ConfigError(Problem(key, "badge.ldap_bind_dn is set but there is no password: "
                                      f"put it in /etc/hotdesk/{LDAP_PASSWORD_CREDENTIAL} "
                                      "(install -m 600 /dev/stdin …) or name a file here"))
        return None
    path, checked = found
    password = read_secret_file(key, path, checked=checked, empty_ok=not badge.ldap_bind_dn)
    return password or None


def _ldap_password_path(config: Config, environ: Mapping[str, str]) -> tuple[Path, bool] | None:
    """Where the directory's password is read from, and whether its mode is checked."""
    if config.badge.ldap_password_file is not None:
        return config.badge.ldap_password_file, True
    credentials = environ.get("CREDENTIALS_DIRECTORY")
    if credentials and (Path(credentials) / LDAP_PASSWORD_CREDENTIAL).exists():
        return Path(credentials) / LDAP_PASSWORD_CREDENTIAL, False
    beside = config.source.parent if config.source else None
    if beside is not None and (beside / LDAP_PASSWORD_CREDENTIAL).exists():
        return beside / LDAP_PASSWORD_CREDENTIAL, True
    return None
