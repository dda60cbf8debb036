"""The kiosk's configuration: one TOML file read into frozen dataclasses, validated once.

`load(path)` returns a `Config` or raises `ConfigError` listing **every** problem found, each
named by its dotted key (``session.warn_before_s: must be at least 20 (got 5)``). An unknown key
is a problem too: a typo must not pass silently.

Each key is declared once, as a field of its section (`DeskConfig`, `CallCenterConfig`, …) with
its type, default, check and conversion (`key(...)`); `KEYS`, the loader and the builder are
derived from those fields. The README's reference is checked against `KEYS` by the test suite.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
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
    """One configuration key: its type, default, check and how the value is turned into what
    the kiosk uses. Declared once, as the metadata of its field in a section below (`key`)."""

    name: str  # dotted: "section.key"
    types: tuple[type, ...]
    default: Any
    check: Callable[[Any], str | None] = lambda value: None
    optional_pin: bool = False  # `false` means "not fitted"
    #: (value, every value by name, the configuration file's folder) -> what the field holds
    convert: Callable[[Any, dict, Path | None], Any] | None = None

    @property
    def section(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def key(self) -> str:
        return self.name.split(".", 1)[1]


def key(types: tuple[type, ...], default: Any = REQUIRED, check=None, *, convert=None,
        optional_pin: bool = False):
    """A section's field that is a configuration key (its name is the field's)."""
    return field(metadata={"key": dict(types=types, default=default, optional_pin=optional_pin,
                                       check=check or (lambda value: None), convert=convert)})


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


# --- the configuration, as the rest of the kiosk sees it ---------------------------------


def _path(value: str, values: dict, base: Path | None) -> Path | None:
    """A path from the configuration, None when empty: a relative one is relative to the
    configuration file's folder (the same under systemd as from any shell)."""
    return _resolved(value, base) if value else None


def _required_path(value: str, values: dict, base: Path | None) -> Path:
    return _resolved(value, base)


def _port(value: str, values: dict, base: Path | None) -> str:
    """A device path like a file path; a pyserial URL (`socket://…`) as it is."""
    if not value or "://" in value:
        return value
    return str(_resolved(value, base))


def _or(other: str) -> Callable[[Any, dict, Path | None], Any]:
    """A derived default: the value of key `other` (its first, for a list)."""
    def derived(value, values: dict, base: Path | None):
        if value is not DERIVED:
            return value
        fallback = values[other]
        return fallback[0] if isinstance(fallback, list) else fallback
    return derived


@dataclass(frozen=True)
class DeskConfig:
    id: str = key((str,), check=_desk_id)
    name: str = key((str,), DERIVED, _nonempty, convert=_or("desk.id"))
    host_user_id: str = key((str,), check=_full_user_id,
                            convert=lambda v, _, b: normalise_user_id(v, append_domain=False))
    # empty = the systemd credential `host-password`
    host_password_file: Path | None = key((str,), "", convert=_path)


@dataclass(frozen=True)
class CallCenterConfig:
    # `http://` only to loopback
    url: str = key((str,), check=_callcenter_url,
                   convert=lambda v, _, b: XsiUrls.parse(v).actions)
    ca_bundle: Path | None = key((str,), "", convert=_path)
    # the site's proxy (`http://host:port`), through CONNECT; "" = none
    proxy: str = key((str,), "", _proxy_url)
    connect_timeout_s: float = key((int, float), 3.05, _positive)
    read_timeout_s: float = key((int, float), 10.0, _positive)
    default_domain: str = key((str,), "", _optional_domain, convert=lambda v, _, b: v.lower())
    initial_acd_state: str = key((str,), "Available", _one_of(ACD_INITIAL_STATES))
    events: bool = key((bool,), True)

    @property
    def timeout(self) -> tuple[float, float]:
        """The `(connect, read)` timeout pair for requests."""
        return (self.connect_timeout_s, self.read_timeout_s)


@dataclass(frozen=True)
class SignInConfig:
    append_domain: bool = key((bool,), True)
    stay_signed_in_default: bool = key((bool,), True)
    languages: tuple[str, ...] = key((list,), ["en"], _languages,
                                     convert=lambda v, _, b: tuple(v))
    default_language: str = key((str,), DERIVED, convert=_or("signin.languages"))
    max_failures: int = key((int,), 3, _at_least(1))
    cooldown_s: int = key((int,), 30, _at_least(1))
    form_timeout_s: int = key((int,), 60, _at_least(10))


@dataclass(frozen=True)
class SessionConfig:
    association_limit_hours: int = key((int,), 10, _between(1, 999))
    idle_sign_out_min: int = key((int,), 0, _at_least(0))
    end_of_day: time | None = key((str,), "", _end_of_day,
                                  convert=lambda v, _, b: _parse_hhmm(v) if v else None)
    warn_before_s: int = key((int,), 60, _at_least(20))  # WCAG 2.2.1
    allow_extend: bool = key((bool,), True)
    hangup_wait_max_min: int = key((int,), 120, _at_least(1))
    heartbeat_s: int = key((int,), 15, _at_least(5))
    resync_s: int = key((int,), 300, _at_least(10))


@dataclass(frozen=True)
class PhoneConfig:
    port: str = key((str,), "/dev/deskphone", convert=_port)  # empty = no HD-AT/1 phone
    baudrate: int = key((int,), 115200, _baudrate)


@dataclass(frozen=True)
class GpioConfig:
    led_red: int = key((int,), 17, _bcm_pin)
    led_green: int = key((int,), 27, _bcm_pin)
    led_blue: int = key((int,), 22, _bcm_pin)
    relay: int | None = key((int,), 23, _bcm_pin, optional_pin=True)
    relay_active_high: bool = key((bool,), True)
    hook: int | None = key((int,), None, _bcm_pin, optional_pin=True)
    sign_out_button: int | None = key((int,), 25, _bcm_pin, optional_pin=True)
    hold_s: float = key((int, float), 2.0, _between(0.5, 10))


@dataclass(frozen=True)
class LogConfig:
    database: Path = key((str,), "/var/lib/hotdesk/sessions.db", _nonempty,
                         convert=_required_path)
    retention_days: int = key((int,), 365, _at_least(1))
    journal_socket: Path | None = key((str,), "/run/systemd/journal/socket", convert=_path)
    metrics_file: Path | None = key((str,), "/run/hotdesk/metrics/hotdesk.prom", convert=_path)


@dataclass(frozen=True)
class BadgeConfig:
    device: str = key((str,), "", convert=_port)
    min_length: int = key((int,), 4, _at_least(1))
    max_length: int = key((int,), 20, _at_least(1))
    max_key_gap_ms: int = key((int,), 100, _at_least(1))
    table: Path = key((str,), "/etc/hotdesk/badges.json", convert=_required_path)
    key_file: Path = key((str,), "/etc/hotdesk/badge-key", convert=_required_path)
    ldap_url: str = key((str,), "", _ldap_url)
    ldap_bind_dn: str = key((str,), "")
    ldap_password_file: Path | None = key((str,), "", convert=_path)
    ldap_base: str = key((str,), "")
    ldap_filter: str = key((str,), "(employeeNumber={badge})", _ldap_filter)
    ldap_attribute: str = key((str,), "mail")
    ldap_cache_s: int = key((int,), 3600, _at_least(0))
    ldap_ca_bundle: Path | None = key((str,), "", convert=_path)


@dataclass(frozen=True)
class Config:
    desk: DeskConfig
    callcenter: CallCenterConfig
    signin: SignInConfig
    session: SessionConfig
    phone: PhoneConfig
    gpio: GpioConfig
    log: LogConfig
    badge: BadgeConfig
    source: Path | None = field(default=None, compare=False)

    def summary(self) -> str:
        """One line for people: desk, server, languages."""
        return (
            f"desk {self.desk.id} ({self.desk.name}), host {self.desk.host_user_id}, "
            f"server {self.callcenter.url}, languages {', '.join(self.signin.languages)}"
        )


def _keys() -> tuple[Key, ...]:
    """Every key, from the sections' fields, in the order declared."""
    return tuple(Key(f"{section}.{item.name}", **item.metadata["key"])
                 for section, kind in SECTION_TYPES.items() for item in fields(kind))


SECTION_TYPES = {"desk": DeskConfig, "callcenter": CallCenterConfig, "signin": SignInConfig,
                 "session": SessionConfig, "phone": PhoneConfig, "gpio": GpioConfig,
                 "log": LogConfig, "badge": BadgeConfig}
KEYS = _keys()
KEYS_BY_NAME = {k.name: k for k in KEYS}
SECTIONS = tuple(SECTION_TYPES)


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


def _resolved(value: str, base: Path | None) -> Path:
    """A path from the configuration: a relative one is relative to the configuration file's
    folder (the same under systemd as from any shell), never to the current folder."""
    path = Path(value).expanduser()
    return path if path.is_absolute() or base is None else (base / path)


def _build(values: dict[str, Any], source: Path | None) -> Config:
    """The sections from the checked values, each converted as its key says."""
    base = Path(source).resolve().parent if source is not None else None
    sections = {}
    for name, kind in SECTION_TYPES.items():
        converted = {}
        for item in fields(kind):
            spec = KEYS_BY_NAME[f"{name}.{item.name}"]
            value = values[spec.name]
            converted[item.name] = spec.convert(value, values, base) if spec.convert \
                else value
        sections[name] = kind(**converted)
    return Config(**sections, source=source)


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
