"""The touchscreen: scenarios in a real offscreen Kivy window (one process, see
`ui_scenarios.py`), and the catalogues, fonts and colours checked without a window."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest

from kiosk.config import SUPPORTED_LANGUAGES
from kiosk.ui import fonts, i18n, theme
from kiosk.ui.messages import ERRORS, NOTICES
from tests.conftest import ROOT

# --- in a real window -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    out = tmp_path_factory.mktemp("ui")
    result = subprocess.run([sys.executable, str(ROOT / "tests" / "ui_scenarios.py"), str(out)],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    results_file = out / "results.json"
    assert results_file.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(results_file.read_text()), out


def scenario(ui, name):
    results, _ = ui
    outcome = results[name]
    assert outcome["ok"], outcome.get("trace") or outcome
    return outcome["data"]


def test_full_sign_in_by_touch_and_sign_out(ui):
    data = scenario(ui, "full_sign_in_and_out")
    assert data["name"] == "Zoë Müller"
    assert data["phone_user"] == data["seated"] == "zoe@demo.example"
    assert data["password_field"] == ""  # the form forgot the password
    assert data["seated_after"] is None and data["phone_after"] is None


def test_wrong_password_is_translated_and_shows_the_wait(ui):
    errors = scenario(ui, "wrong_password_in_french")["errors"]
    assert errors[0] == "Identifiant ou mot de passe incorrect."
    assert errors[2].endswith("Réessayez dans 30 s.")
    assert errors[3] == "Trop de mots de passe erronés. Réessayez dans 30 s."


def test_evicted_notice(ui):
    data = scenario(ui, "evicted_notice")
    assert data["message"] == "An administrator released this desk, so you were signed out."
    assert data["screen"] == "welcome"


def test_a_badge_tap_fills_the_user_id_and_the_password_is_typed(ui):
    data = scenario(ui, "badge_taps")
    assert data["user"] == "zoe@demo.example" and data["password_empty"]
    assert data["keyboard_on_password"]
    assert data["hint"] == "Badge read. Now type your password."
    assert data["offer"] == "Sign out?"
    assert data["unknown"] == "This badge is not known here. Type your user ID."
    # an outage of the site's directory is said as one, not as an unknown badge
    assert data["outage"] == "Badges cannot be looked up just now. Type your user ID."


def test_reconnecting_banner_keeps_the_phone(ui):
    data = scenario(ui, "reconnecting_banner")
    assert data["banner"].startswith("Connection lost. Reconnecting")
    assert data["phone_user"] == "zoe@demo.example"


def test_warning_counts_down_and_extends(ui):
    data = scenario(ui, "warning_countdown_and_extend")
    assert data["first"] == "You will be signed out in 25 s"
    assert data["later"] == "You will be signed out in 20 s"
    assert data["state"] == "active" and not data["warning_after"]


def test_systemd_ready_after_first_frame_and_watchdog_from_the_ui_clock(ui):
    data = scenario(ui, "systemd_notify")
    assert data["ready"].startswith("READY=1\nSTATUS=")
    assert data["interval_s"] == 0.2  # fed every 0.2 s for WatchdogSec=0.4 s (and it was fed)
    assert "STATUS=signed in: zoe@demo.example" in data["statuses"]
    assert "STATUS=desk free" in data["statuses"]


def test_a_supervisor_sees_no_acd_buttons(ui):
    data = scenario(ui, "supervisor_without_acd")
    assert data["name"] == "Sam Supervisor"
    assert data["acd_opacity"] == 0 and data["acd_disabled"] and data["acd_height"] == 0
    assert data["acd_text"] == ""
    assert data["queues_row"] == "Not applicable"


def test_escape_and_window_close_do_not_exit_in_kiosk_mode(ui):
    data = scenario(ui, "escape_and_close_do_not_exit")
    assert data["still_running"] and data["close_refused"]
    assert data["settings"] is False


def test_ui_stays_responsive_while_a_request_is_in_flight(ui):
    data = scenario(ui, "responsive_while_the_server_is_slow")
    assert data["held"]  # the association was out, and held there
    assert data["frames_while_held"] >= 30  # frames kept coming meanwhile
    assert data["screen"] == "progress"
    assert ("associate", "running") in [tuple(step) for step in data["steps"]]


def test_every_text_on_every_screen_in_every_language_has_its_glyphs(ui):
    """Language names, agents' names in other scripts, reasons: the font actually set on each
    visible widget covers its text, on every screen, after cycling through the languages."""
    data = scenario(ui, "legible_everywhere")
    assert data["visited"] == [lang for lang in SUPPORTED_LANGUAGES if fonts.font_for(lang)]
    assert data["problems"] == []


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_every_language_renders_with_a_font_that_covers_it(ui, language):
    if fonts.font_for(language) is None:
        pytest.skip(f"no font for {language} on this machine (install fonts-noto-cjk)")
    fonts_used = scenario(ui, "every_language")["fonts"][language]
    expected = str(fonts.font_for(language))
    assert fonts_used["signin"] == fonts_used["signedin"] == expected
    catalogue = i18n.catalog(language)
    text = "".join(catalogue.entries.values()) + i18n.LANGUAGE_NAMES[language]
    text += "0123456789 @.-_ zoe@demo.example"  # what fields and numbers show
    shaped = i18n.display(text) if language in i18n.RTL_LANGUAGES else text
    assert fonts.missing_glyphs(fonts.font_for(language), shaped) == set()
    _, out = ui
    assert (out / fonts_used["screenshot"]).stat().st_size > 5000
    # rows run right to left in Arabic: the user ID field is on the right
    assert fonts_used["user_field_left"] is (language not in i18n.RTL_LANGUAGES)


# --- catalogues ------------------------------------------------------------------------------


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_every_string_is_translated(language):
    entries = i18n.parse_po((i18n.locales_dir() / f"{language}.po").read_text("utf-8"))
    missing = [m for m in i18n.source_messages() if not entries.get(m)]
    assert missing == []
    unused = set(entries) - set(i18n.source_messages())
    assert unused == set()


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_placeholders_are_kept(language):
    for msgid, msgstr in i18n.catalog(language).entries.items():
        assert set(re.findall(r"\{\w+\}", msgid)) == set(re.findall(r"\{\w+\}", msgstr)), msgid


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="gettext's msgfmt is not installed")
@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_msgfmt_check_is_clean(language, tmp_path):
    po = i18n.locales_dir() / f"{language}.po"
    result = subprocess.run(["msgfmt", "--check", "-o", str(tmp_path / "out.mo"), str(po)],
                            capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_every_engine_code_has_a_sentence():
    from kiosk.identity import CODES

    codes = {f"user_id.{c}" for c in CODES} | {
        "invalid_credentials", "throttled", "not_permitted", "no_hoteling", "rejected",
        "not_found", "server_busy", "unreachable", "protocol", "internal", "log_failed",
        "phone_busy", "phone_missing", "phone_silent", "phone_rejected", "phone_error",
        "one_agent_per_desk", "out_of_order"}
    assert codes <= set(ERRORS)
    for reason in ("limit", "end_of_day", "idle", "connection_lost", "button", "admin"):
        assert f"signed_out_{reason}" in NOTICES
    for why in ("moved", "released", "credentials_rejected"):
        assert f"evicted_{why}" in NOTICES


def test_po_parser_reads_continuations_and_skips_fuzzy():
    text = ('msgid ""\nmsgstr "header"\n\nmsgid "a"\nmsgstr ""\n"b"\n"c"\n\n'
            '#, fuzzy\nmsgid "x"\nmsgstr "y"\n\nmsgid "q\\"uote"\nmsgstr "r"\n')
    assert i18n.parse_po(text) == {"a": "bc", 'q"uote': "r"}


def _arabic(text: str) -> bool:
    return any("\u0600" <= ch <= "\u06ff" or "\ufb50" <= ch <= "\ufeff" for ch in text)


@pytest.mark.parametrize(("logical", "visual_start", "latin"), [
    # a user ID inside a sentence, and the sentence's full stop at its (left) end
    ("المستخدم zoe@demo.example.", ".zoe@demo.example ", "zoe@demo.example"),
    # accented Latin names keep their letters in order
    ("مرحبا Réunion و Tiếng Việt.", ".Tiếng Việt ", "Réunion"),
    # digits and times
    ("الساعة 10:30 اليوم", None, "10:30"),
    ("انتظر 30 ث.", ".", "30"),
])
def test_mixed_right_to_left_text_keeps_latin_runs_whole(logical, visual_start, latin):
    shown = i18n.display(logical, rtl=True)
    assert latin in shown
    if visual_start is not None:
        assert shown.startswith(visual_start), shown
    assert "unionéR" not in shown and "tệng ViếTi" not in shown


def test_brackets_are_mirrored_in_right_to_left_text():
    shown = i18n.display("غير متاح (غداء)", rtl=True)
    # drawn left to right, the bracketed word (last in reading order) is leftmost, and
    # its brackets still open towards it
    assert shown.startswith("(") and shown.index(")") < shown.index(" ")
    assert shown.count("(") == shown.count(")") == 1
    assert i18n.display("الحالة (Lunch)", rtl=True).startswith("(Lunch) ")


def test_a_name_takes_its_direction_from_its_first_letter():
    shown = i18n.display("ليلى حداد")
    assert _arabic(shown) and shown.endswith("\ufedf")  # its first letter drawn rightmost
    assert i18n.display("Zoë Müller") == "Zoë Müller"


def test_arabic_is_shaped_and_ordered_for_display():
    shown = i18n.display("مرحبا zoe@demo.example 42")
    assert shown.startswith("zoe@demo.example 42 ")  # the Latin run keeps its own order...
    assert not any("\u0600" <= ch <= "\u06ff" for ch in shown)  # presentation forms only
    assert "\ufee3" in shown[-1:]  # ...and the first Arabic word is drawn rightmost
    assert i18n.display("في 12:30").startswith("12:30")
    assert i18n.display("plain English") == "plain English"


# --- fonts and colours -----------------------------------------------------------------------


def test_font_cmap_reader_agrees_on_known_glyphs():
    latin = fonts.font_for("en")
    assert {ord("A"), ord("é"), ord("ệ")} <= fonts.coverage(latin)
    assert ord("中") not in fonts.coverage(latin)


def test_a_language_without_a_font_is_left_out(monkeypatch, caplog):
    monkeypatch.setitem(fonts.CANDIDATES, "zh_CN", [ROOT / "no-such-font.ttc"])
    assert fonts.usable_languages(["en", "zh_CN", "ar"]) == ["en", "ar"]
    assert "no font for zh_CN on this machine" in caplog.text
    assert "apt-get install fonts-noto-cjk" in caplog.text


@pytest.mark.parametrize(("foreground", "background"), theme.PAIRS)
def test_text_contrast_is_at_least_4_5(foreground, background):
    assert theme.contrast(foreground, background) >= 4.5


def test_touch_targets_are_at_least_48dp():
    assert theme.TARGET_DP >= 48
    for kv in (ROOT / "kiosk" / "ui").glob("*.kv"):
        for match in re.finditer(r"height: dp\((\d+)\)", kv.read_text()):
            value = int(match.group(1))
            assert value >= 48 or value <= 44, (kv.name, value)  # labels may be smaller
