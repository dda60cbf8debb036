"""Configuration: every rule, accepted (`test_ok__…`) and refused (`test_fail__…`) by key."""

from __future__ import annotations

import os
from datetime import time
from pathlib import Path

import pytest

from kiosk import config as configuration
from kiosk.errors import ConfigError
from kiosk.secret import Secret
from tests.conftest import MINIMAL_CONFIG

BASE = {
    "desk": {"id": "desk12", "host_user_id": "desk12@corp.example.au"},
    "callcenter": {"url": "https://xsp.example.au/com.broadsoft.xsi-actions/v2.0"},
}


def with_value(dotted: str, value):
    section, key = dotted.split(".")
    raw = {s: dict(body) for s, body in BASE.items()}
    raw.setdefault(section, {})[key] = value
    return raw


def problems_of(raw) -> list[str]:
    with pytest.raises(ConfigError) as info:
        configuration.from_dict(raw)
    return [str(p) for p in info.value.problems]


# key, a value the rule accepts, a value it refuses, words the refusal must contain
RULES = [
    ("desk.id", "floor3-desk.12_a", "desk 12", "must be 1 to 32"),
    ("desk.id", "x" * 32, "x" * 33, "must be 1 to 32"),
    ("desk.name", "Level 3, desk 12", "   ", "must not be empty"),
    ("desk.host_user_id", "desk12@corp.example.au", "desk12", "full user ID"),
    ("desk.host_user_id", "desk12@corp.example.au", "desk/12@corp.example.au", "full user ID"),
    ("desk.host_password_file", "/etc/hotdesk/host-password", 12, "must be a string"),
    ("callcenter.url", "https://xsp.example.au", "ftp://xsp.example.au/", "https://"),
    ("callcenter.url", "http://127.0.0.1:8080", "http://xsp.example.au", "loopback"),
    ("callcenter.url", "http://localhost:8080/", "https://", "https://"),
    ("callcenter.url", "http://[::1]:8080", "https://host:99999/", "valid URL"),
    ("callcenter.url", "https://xsp.example.au/com.broadsoft.xsi-actions/v2.0/",
     "https://xsp.example.au/v2.0", "the path '/v2.0' is neither"),
    ("callcenter.url", "https://xsp.example.au", "https://xsp.example.au/?x=1", "query"),
    ("callcenter.url", "https://xsp.example.au", "https://xsp.example.au/#top", "fragment"),
    ("callcenter.url", "https://xsp.example.au", " https://xsp.example.au", "spaces"),
    ("callcenter.url", "https://xsp.example.au", "https://xsp.example.au\n", "spaces"),
    ("callcenter.url", "https://xsp.example.au", "https://xsp.example.au/portal", "neither"),
    ("callcenter.ca_bundle", "/etc/ssl/corp.pem", ["a"], "must be a string"),
    ("callcenter.connect_timeout_s", 1, 0, "greater than 0"),
    ("callcenter.read_timeout_s", 2.5, -1.0, "greater than 0"),
    ("callcenter.read_timeout_s", 2.5, "10", "must be a number"),
    ("callcenter.default_domain", "corp.example.au", "corp example", "domain name"),
    ("callcenter.initial_acd_state", "Unavailable", "Busy", "Available, Unavailable"),
    ("signin.append_domain", False, "yes", "true or false"),
    ("signin.stay_signed_in_default", False, 1, "true or false"),
    ("signin.languages", ["fr", "zh_CN", "ar"], [], "at least one"),
    ("signin.languages", ["en"], ["en", "klingon"], "unknown language 'klingon'"),
    ("signin.languages", ["en"], ["en", "fr", "en"], "lists 'en' more than once"),
    ("signin.languages", ["en"], "en", "must be a list"),
    ("signin.languages", ["en"], [1], "list of strings"),
    ("signin.default_language", "en", "fr", "must be one of signin.languages"),
    ("signin.max_failures", 1, 0, "at least 1"),
    ("signin.max_failures", 3, True, "whole number"),
    ("signin.cooldown_s", 1, 0, "at least 1"),
    ("signin.form_timeout_s", 10, 9, "at least 10"),
    ("session.association_limit_hours", 999, 1000, "from 1 to 999"),
    ("session.association_limit_hours", 1, 0, "from 1 to 999"),
    ("session.idle_sign_out_min", 0, -1, "at least 0"),
    ("session.end_of_day", "19:30", "7pm", "HH:MM"),
    ("session.end_of_day", "", "24:00", "HH:MM"),
    ("session.warn_before_s", 20, 5, "must be at least 20 (got 5)"),
    ("session.allow_extend", False, "no", "true or false"),
    ("session.heartbeat_s", 5, 4, "at least 5"),
    ("phone.port", "", 7000, "string"),
    ("phone.baudrate", 9600, 12345, "standard rate"),
    ("gpio.led_red", 2, 1, "from 2 to 27"),
    ("gpio.led_green", 26, 28, "from 2 to 27"),
    ("gpio.led_blue", 5, 40, "from 2 to 27"),
    ("gpio.relay", False, True, "whole number or false"),
    ("gpio.relay", 24, 0, "from 2 to 27"),
    ("gpio.relay_active_high", False, 0, "true or false"),
    ("gpio.hook", 24, 30, "from 2 to 27"),
    ("gpio.sign_out_button", False, "25", "whole number or false"),
    ("gpio.hold_s", 0.5, 0.4, "from 0.5 to 10"),
    ("gpio.hold_s", 10, 10.5, "from 0.5 to 10"),
    ("log.database", "/tmp/s.db", "", "must not be empty"),
    ("log.retention_days", 1, 0, "at least 1"),
]


@pytest.mark.parametrize(("key", "good", "bad", "words"), RULES, ids=[r[0] for r in RULES])
def test_ok__value(key, good, bad, words):
    config = configuration.from_dict(with_value(key, good))
    section, name = key.split(".")
    got = getattr(getattr(config, section), name)
    if isinstance(got, Path):
        got = str(got)
    elif isinstance(got, tuple):
        got = list(got)
    elif isinstance(got, time):
        got = got.strftime("%H:%M")
    elif got is None and good is False:  # a pin that is not fitted
        got = False
    elif got is None and good == "":  # an end of day that is "never"
        got = ""
    elif key == "callcenter.url":  # either form gives the Actions base
        good = good.rstrip("/").removesuffix("/com.broadsoft.xsi-actions/v2.0") \
            + "/com.broadsoft.xsi-actions/v2.0"
    assert got == good


@pytest.mark.parametrize(("key", "good", "bad", "words"), RULES, ids=[r[0] for r in RULES])
def test_fail__value(key, good, bad, words):
    problems = problems_of(with_value(key, bad))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{key}: ")
    assert words in problems[0]


def test_ok__defaults_fill_every_optional_key():
    config = configuration.from_dict(BASE)
    assert config.desk.name == "desk12"
    assert config.desk.host_password_file is None
    assert config.callcenter.timeout == (3.05, 10.0)
    assert config.callcenter.initial_acd_state == "Available"
    assert config.signin.languages == ("en",)
    assert config.signin.default_language == "en"
    assert (config.signin.max_failures, config.signin.cooldown_s) == (3, 30)
    assert config.session.end_of_day is None
    assert config.session.warn_before_s == 60
    assert config.phone.port == "/dev/deskphone"
    assert config.phone.baudrate == 115200
    assert (config.gpio.led_red, config.gpio.led_green, config.gpio.led_blue) == (17, 27, 22)
    assert config.gpio.relay == 23
    assert config.gpio.hook is None
    assert config.gpio.sign_out_button == 25
    assert config.log.database == Path("/var/lib/hotdesk/sessions.db")
    assert config.log.retention_days == 365


def test_ok__default_language_is_first_of_languages():
    config = configuration.from_dict(with_value("signin.languages", ["fr", "en"]))
    assert config.signin.default_language == "fr"


def test_ok__end_of_day_parsed_as_time():
    config = configuration.from_dict(with_value("session.end_of_day", "07:05"))
    assert config.session.end_of_day == time(7, 5)


def test_ok__absent_pins_are_none():
    raw = with_value("gpio.relay", False)
    raw["gpio"]["sign_out_button"] = False
    config = configuration.from_dict(raw)
    assert config.gpio.relay is None and config.gpio.sign_out_button is None


def test_ok__host_domain_is_lowercased():
    config = configuration.from_dict(with_value("desk.host_user_id", "Desk12@Corp.Example.AU"))
    assert config.desk.host_user_id == "Desk12@corp.example.au"


def test_ok__config_is_frozen():
    config = configuration.from_dict(BASE)
    with pytest.raises(AttributeError):
        config.desk.id = "other"  # type: ignore[misc]


@pytest.mark.parametrize("key", ["desk.id", "desk.host_user_id", "callcenter.url"])
def test_fail__required_key_missing(key):
    section, name = key.split(".")
    raw = {s: dict(body) for s, body in BASE.items()}
    del raw[section][name]
    assert problems_of(raw) == [f"{key}: is required"]


def test_fail__unknown_key_is_named_with_a_suggestion():
    assert problems_of(with_value("session.warn_befor_s", 30)) == [
        "session.warn_befor_s: unknown key (did you mean session.warn_before_s?)"
    ]


def test_fail__unknown_section():
    raw = dict(BASE, sesion={"heartbeat_s": 20})
    assert problems_of(raw) == ["sesion: unknown section (did you mean session?)"]


def test_fail__section_that_is_not_a_table():
    raw = dict(BASE, phone="dev/ttyUSB0")
    assert problems_of(raw) == ["phone: must be a table ([phone])"]


def test_fail__pins_must_be_distinct():
    raw = with_value("gpio.relay", 17)
    assert problems_of(raw) == ["gpio.relay: pin 17 is already used by gpio.led_red"]


def test_fail__every_problem_is_reported_at_once():
    raw = with_value("session.warn_before_s", 5)
    raw["phone"] = {"baudrate": 1234}
    raw["desk"]["id"] = "bad id!"
    keys = sorted(p.split(":")[0] for p in problems_of(raw))
    assert keys == ["desk.id", "phone.baudrate", "session.warn_before_s"]


def test_fail__toml_syntax_error_names_the_line(write_config):
    path = write_config('[desk]\nid = "desk12"\nhost_user_id = \n')
    with pytest.raises(ConfigError) as info:
        configuration.load(path)
    (problem,) = info.value.problems
    assert problem.key == "toml"
    assert "line 3" in problem.message


def test_fail__missing_file_says_where(tmp_path):
    with pytest.raises(ConfigError) as info:
        configuration.load(tmp_path / "nope.toml")
    assert str(tmp_path / "nope.toml") in str(info.value)


def test_ok__default_path_honours_environment():
    assert configuration.default_path({}) == Path("/etc/hotdesk/kiosk.toml")
    assert configuration.default_path({"HOTDESK_CONFIG": "/x/k.toml"}) == Path("/x/k.toml")


# --- the desk host's password ---------------------------------------------------------------


def desk_with_password_file(path) -> configuration.DeskConfig:
    return configuration.from_dict(with_value("desk.host_password_file", str(path))).desk


def test_ok__host_password_from_private_file(tmp_path):
    path = tmp_path / "host-password"
    path.write_text("s3cret-host\n")
    path.chmod(0o600)
    password = configuration.read_host_password(desk_with_password_file(path))
    assert isinstance(password, Secret)
    assert password.reveal() == "s3cret-host"


def test_fail__host_password_file_readable_by_others(tmp_path):
    path = tmp_path / "host-password"
    path.write_text("s3cret-host\n")
    path.chmod(0o644)
    with pytest.raises(ConfigError) as info:
        configuration.read_host_password(desk_with_password_file(path))
    message = str(info.value)
    assert message.startswith("desk.host_password_file: ")
    assert "readable by group or others" in message and "chmod 600" in message
    assert "s3cret-host" not in message


def test_ok__host_password_from_systemd_credential(tmp_path):
    (tmp_path / "host-password").write_text("from-credential")
    desk = configuration.from_dict(BASE).desk
    password = configuration.read_host_password(desk, environ={"CREDENTIALS_DIRECTORY":
                                                               str(tmp_path)})
    assert password.reveal() == "from-credential"


def test_fail__no_password_file_and_no_credential():
    desk = configuration.from_dict(BASE).desk
    with pytest.raises(ConfigError, match="CREDENTIALS_DIRECTORY"):
        configuration.read_host_password(desk, environ={})


def test_fail__check_files_reports_missing_ca_bundle(tmp_path):
    config = configuration.from_dict(with_value("callcenter.ca_bundle", str(tmp_path / "ca.pem")))
    problems = configuration.check_files(config, environ=os.environ)
    assert [p.key for p in problems] == ["callcenter.ca_bundle"]


@pytest.mark.parametrize("url", [
    "https://XSP.example.au", "https://xsp.example.au/",
    "https://xsp.example.au/com.broadsoft.xsi-actions/v2.0",
    "https://xsp.example.au/com.broadsoft.xsi-actions/v2.0/"])
def test_ok__callcenter_url_as_the_root_or_the_actions_base(url):
    config = configuration.from_dict(with_value("callcenter.url", url))
    assert config.callcenter.url == "https://xsp.example.au/com.broadsoft.xsi-actions/v2.0"
    assert "server https://xsp.example.au/com.broadsoft.xsi-actions/v2.0" in config.summary()


def test_callcenter_url_derives_the_events_bases():
    from kiosk.callcenter.urls import XsiUrls

    urls = XsiUrls.parse("https://xsp.example.au:8443/com.broadsoft.xsi-actions/v2.0")
    assert urls.events == "https://xsp.example.au:8443/com.broadsoft.xsi-events/v2.0"
    assert urls.stream == ("https://xsp.example.au:8443/com.broadsoft.async/"
                           "com.broadsoft.xsi-events/v2.0")


def test_fail__credentials_in_the_url_are_refused_and_never_echoed():
    found = problems_of(with_value("callcenter.url", "https://desk12:s3cret-pw@xsp.example.au/"))
    assert len(found) == 1 and found[0].startswith("callcenter.url: must not carry")
    assert "s3cret-pw" not in found[0] and "desk12" not in found[0]
    assert "https://***@xsp.example.au/" in found[0]


def test_fail__every_language_problem_at_once():
    (problem,) = problems_of(with_value("signin.languages", ["en", "klingon", "fr", "en", "xx"]))
    assert problem.startswith("signin.languages: unknown languages 'klingon', 'xx'")
    assert "lists 'en' more than once" in problem


def test_fail__a_ca_bundle_that_is_not_pem(tmp_path):
    bundle = tmp_path / "ca.der"
    bundle.write_bytes(b"\x30\x82\x01\x0a not pem")
    config = configuration.from_dict(with_value("callcenter.ca_bundle", str(bundle)))
    (problem,) = configuration.check_files(config)
    assert problem.key == "callcenter.ca_bundle" and "no PEM certificate" in problem.message


def test_relative_paths_are_relative_to_the_configuration_not_the_current_folder(
        tmp_path, monkeypatch):
    """`config check` said OK from one folder, and the same file broke under systemd."""
    folder = tmp_path / "etc"
    folder.mkdir()
    path = folder / "kiosk.toml"
    path.write_text(MINIMAL_CONFIG + 'ca_bundle = "certs/ca.pem"\n'
                    '[log]\ndatabase = "state/sessions.db"\n'
                    '[phone]\nport = "deskphone"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # anywhere but the configuration's folder
    config = configuration.load(path)
    assert config.callcenter.ca_bundle == folder.resolve() / "certs/ca.pem"
    assert config.log.database == folder.resolve() / "state/sessions.db"
    assert config.phone.port == str(folder.resolve() / "deskphone")


def test_absolute_paths_and_serial_urls_are_kept_as_written(write_config):
    config = configuration.load(write_config(MINIMAL_CONFIG + 'ca_bundle = "/etc/ssl/ca.pem"\n'
                               '[phone]\nport = "socket://127.0.0.1:7000"\n'))
    assert config.callcenter.ca_bundle == Path("/etc/ssl/ca.pem")
    assert config.phone.port == "socket://127.0.0.1:7000"
