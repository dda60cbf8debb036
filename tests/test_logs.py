"""Logging: journald-friendly lines, and no password ever reaches a log record."""

from __future__ import annotations

import io
import logging
import os
import pickle

import pytest

from kiosk.logs import setup_logging
from kiosk.secret import Secret


@pytest.fixture
def captured():
    stream = io.StringIO()
    handler = setup_logging(logging.DEBUG, stream=stream, environ={})
    yield stream
    logging.getLogger().removeHandler(handler)


def test_a_live_password_is_scrubbed_from_messages(captured):
    password = Secret("correct horse battery")
    logging.getLogger("kiosk.test").warning("sign-in with %s failed", password.reveal())
    text = captured.getvalue()
    assert "correct horse battery" not in text
    assert "sign-in with *** failed" in text


def test_a_password_inside_a_traceback_is_scrubbed(captured):
    password = Secret("tr0ub4dor&3")
    try:
        raise RuntimeError(f"server said no to {password.reveal()}")
    except RuntimeError:
        logging.getLogger("kiosk.test").exception("failure")
    text = captured.getvalue()
    assert "tr0ub4dor&3" not in text
    assert "RuntimeError: server said no to ***" in text


def test_a_wiped_password_is_no_longer_scrubbed(captured):
    password = Secret("temporary-pw")
    password.wipe()
    logging.getLogger("kiosk.test").info("temporary-pw is just text now")
    assert "temporary-pw is just text now" in captured.getvalue()


def test_secret_never_formats_its_value():
    password = Secret("hunter2-x")
    assert str(password) == "***"
    assert repr(password) == "Secret('***')"
    assert f"{password}" == "***"
    assert "hunter2" not in repr({"password": password})
    with pytest.raises(TypeError):
        pickle.dumps(password)
    assert password == "hunter2-x" and password != "hunter2-y"


def test_terminal_lines_carry_time_level_and_logger(captured):
    logging.getLogger("kiosk.phone").info("phone ready")
    line = captured.getvalue().strip()
    assert line.endswith("INFO    kiosk.phone: phone ready")
    assert line[:4].isdigit()


def test_journald_lines_carry_priority_prefix(tmp_path):
    path = tmp_path / "journal"
    with open(path, "w") as stream:
        st = os.fstat(stream.fileno())
        handler = setup_logging(logging.INFO, stream=stream,
                                environ={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
        try:
            logging.getLogger("kiosk.engine").warning("heartbeat lost\nsecond line")
            logging.getLogger("kiosk.engine").error("phone gone")
        finally:
            logging.getLogger().removeHandler(handler)
    lines = path.read_text().splitlines()
    assert lines == ["<4>kiosk.engine: heartbeat lost", "<4>second line",
                     "<3>kiosk.engine: phone gone"]
