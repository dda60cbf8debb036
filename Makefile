# The two commands of the quick start, and the rest of the developer loop.
# `make test` works on a fresh machine: it makes .venv and installs what it needs.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

# Kivy: no command-line parsing, no console spam. (`kiosk` itself draws offscreen when
# there is no display, and keeps Kivy's files out of $HOME.)
export KIVY_NO_ARGS := 1
export KIVY_NO_CONSOLELOG ?= 1

.PHONY: install test test-fast test-unit lint bench demo tour clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/kiosk demo

tour: $(STAMP)
	$(VENV)/bin/kiosk demo --tour tour

test: $(STAMP)
	$(PY) -m pytest -q

# The fast tier: the engine's pure core (state machine, flows, scopes, policies, the server
# view's reconciliation) and the codecs, without servers, phones or databases (under 30 s).
FAST_TESTS := tests/test_machine.py tests/test_core.py tests/test_xsi_codec.py \
	tests/test_phone_codec.py tests/test_identity.py tests/test_config.py tests/test_rooms.py
test-fast: $(STAMP)
	$(PY) -m pytest -q $(FAST_TESTS)

# The unit as deployed: a Debian 12 root booted by systemd-nspawn, install.sh run inside it, the
# simulators on this machine's loopback (root, systemd-container and debootstrap needed).
test-unit: $(STAMP)
	HOTDESK_UNIT_TIER=1 $(PY) -m pytest -q --timeout=1800 tests/deployed

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) -m tests.bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .hypothesis
