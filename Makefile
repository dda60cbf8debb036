# The two commands of the quick start, and the rest of the developer loop.
# `make test` works on a fresh machine: it makes .venv and installs what it needs.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

# No display here? Let SDL (Kivy) draw offscreen; no Kivy config written to $HOME.
ifeq ($(DISPLAY)$(WAYLAND_DISPLAY),)
export SDL_VIDEODRIVER ?= offscreen
endif
export KIVY_NO_ARGS := 1
export KIVY_NO_CONSOLELOG ?= 1

.PHONY: install test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .hypothesis
