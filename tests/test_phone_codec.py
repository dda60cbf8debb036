"""The HD-AT/1 codec: escaping that keeps every argument one argument, and a robust splitter."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware.phone import at
from hardware.phone.at import ATSyntaxError, Form, Kind
from hardware.phone.sim import Identity, PhoneBrain, PhoneState


def brain() -> PhoneBrain:
    return PhoneBrain(PhoneState(), Identity(), notify=lambda text: None,
                      schedule=lambda delay, fn: None)


def test_quotes_backslashes_and_control_bytes_are_escaped():
    assert at.quote('Mai "Mia" \\ N\r\nAT+HDREL\x7f') == \
        '"Mai \\22Mia\\22 \\5C N\\0D\\0AAT+HDREL\\7F"'


def test_non_ascii_is_sent_as_utf8():
    assert at.encode_command("+HDMSG", "Zoë 王") == 'AT+HDMSG="Zoë 王"\r'.encode()


def test_command_forms():
    assert at.encode_command("") == b"AT\r"
    assert at.encode_command("E0") == b"ATE0\r"
    assert at.encode_command("+HDSTATE", query=True) == b"AT+HDSTATE?\r"
    assert at.encode_command("+HDLANG", test=True) == b"AT+HDLANG=?\r"
    assert at.encode_command("+HDREL", 1) == b"AT+HDREL=1\r"


def test_too_long_a_line_is_refused_before_sending():
    with pytest.raises(ValueError):
        at.encode_command("+HDMSG", "x" * 260)


def test_bad_command_names_are_refused():
    with pytest.raises(ValueError):
        at.encode_command("+HD;REL")


@pytest.mark.parametrize(("line", "expected"), [
    (b"AT", at.Command("", Form.ACTION)),
    (b"ate0", at.Command("E0", Form.ACTION)),
    (b"AT+HDSTATE?", at.Command("+HDSTATE", Form.READ)),
    (b"AT+HDLANG=?", at.Command("+HDLANG", Form.TEST)),
    (b'AT+HDLINE="a","b\\22c","",""', at.Command("+HDLINE", Form.SET, ("a", 'b"c', "", ""))),
    (b"AT+HDREL=1", at.Command("+HDREL", Form.SET, (1,))),
])
def test_parse_command(line, expected):
    assert at.parse_command(line) == expected


@pytest.mark.parametrize("line", [
    b'AT+HDMSG="a\rb"', b'AT+HDMSG="a\x01"', b'AT+HDMSG="unterminated', b'AT+HDMSG="\\4"',
    b'AT+HDMSG="\\GG"', b"AT+HDMSG=x", b'AT+HDMSG="a"b', b"HELLO", b"AT+HDMSG" + b"x" * 300,
])
def test_malformed_command_lines_are_syntax_errors(line):
    with pytest.raises(ATSyntaxError):
        at.parse_command(line)


@pytest.mark.parametrize(("raw", "kind"), [
    (b"OK", Kind.FINAL), (b"ERROR", Kind.FINAL), (b"+CME ERROR: 3", Kind.FINAL),
    (b"+HDHOOK: 1", Kind.URC), (b"+HDREG: 0", Kind.URC), (b"+HDBOOT", Kind.URC),
    (b"+HDSTATE: 1,0,1", Kind.INFO), (b"VX-400", Kind.INFO), (b"AT+HDSTATE?", Kind.ECHO),
    (b"\xff\xfe", Kind.GARBAGE), (b"abc\x1bdef", Kind.GARBAGE),
])
def test_classify(raw, kind):
    assert at.classify(raw, sent=b"AT+HDSTATE?\r").kind is kind


def test_cme_error_number():
    assert at.classify(b"+CME ERROR: 50").cme_error == 50
    assert at.classify(b"OK").cme_error is None


def test_an_info_line_that_looks_like_at_is_not_an_echo():
    assert at.classify(b"ATEN Corp", sent=b"AT+GMI\r").kind is Kind.INFO


def test_splitter_handles_crlf_framing_and_fragments():
    splitter = at.LineSplitter()
    assert splitter.feed(b"\r\nO") == []
    assert splitter.feed(b"K\r\n\r\n+HDHOOK: 1\r") == [b"OK", b"+HDHOOK: 1"]
    assert splitter.feed(b"\nATE0\r") == [b"ATE0"]


def test_splitter_cuts_a_runaway_line():
    splitter = at.LineSplitter(max_line=16)
    assert splitter.feed(b"x" * 40) == [b"x" * 16, b"x" * 16]


@given(st.lists(st.binary(max_size=64), max_size=20))
def test_arbitrary_bytes_never_crash_the_splitter_or_classifier(chunks):
    splitter = at.LineSplitter(max_line=128)
    for chunk in chunks:
        for line in splitter.feed(chunk):
            assert b"\r" not in line and b"\n" not in line and len(line) <= 128
            assert at.classify(line, sent=b"AT\r").kind in Kind


display_names = st.text(max_size=40).filter(lambda s: len(s.encode("utf-8")) <= 40)


@given(display_names)
def test_any_display_name_round_trips_through_the_phone_as_one_command(name):
    command = at.encode_command("+HDLINE", "mai@corp.example.au", name, "0391234567", "4567")
    # The phone ends a command at CR (and ignores a following LF): exactly one, at the end.
    assert command.count(b"\r") == 1 and command.endswith(b"\r") and b"\n" not in command
    phone = brain()
    assert phone.execute(command[:-1]) == ["OK"]
    assert len(phone.state.commands) == 1
    (info, final) = phone.execute(b"AT+HDLINE?")
    assert final == "OK"
    assert at.info_arguments(info, "+HDLINE") == [1, "mai@corp.example.au", name,
                                                  "0391234567", "4567"]


@given(st.binary(max_size=300))
def test_the_phone_parser_answers_anything_with_one_final_code(line):
    line = line.replace(b"\r", b"").replace(b"\n", b"")
    answer = brain().execute(line)
    if line.strip():
        final = answer[-1]
        assert final == "OK" or final == "ERROR" or final.startswith("+CME ERROR: ")
    else:
        assert answer == []
