# Every target sets itself up: .venv is created and the package installed (editable) when
# it is missing or when pyproject.toml changed since the last install.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
HASH = $(shell sha256sum pyproject.toml | cut -c1-16)
BASE_STAMP := $(VENV)/.stamp-base
DEV_STAMP := $(VENV)/.stamp-dev
DEMO_DIR ?= pedpain-demo
PYTEST_ARGS ?=

.PHONY: demo test lint bench env env-dev clean

env:
	@if [ ! -x $(BIN)/python ]; then $(PYTHON) -m venv $(VENV); fi
	@if [ "$$(cat $(BASE_STAMP) 2>/dev/null)" != "$(HASH)" ]; then \
	  echo "Installing pedpain into $(VENV) (first run takes several minutes)..." >&2; \
	  $(PIP) install --quiet --disable-pip-version-check -e . && echo "$(HASH)" > $(BASE_STAMP); \
	fi

env-dev: env
	@if [ "$$(cat $(DEV_STAMP) 2>/dev/null)" != "$(HASH)" ]; then \
	  echo "Installing development tools into $(VENV)..." >&2; \
	  $(PIP) install --quiet --disable-pip-version-check -e '.[dev]' && echo "$(HASH)" > $(DEV_STAMP); \
	fi

demo: env
	$(BIN)/pedpain demo --workdir $(DEMO_DIR)

# Two or more worker processes (pytest-xdist), one test file per worker at a time so a
# file's module-scoped fixtures are built once; PYTEST_ARGS="-n 0" runs in one process.
test: env-dev
	$(BIN)/python -m pytest -n auto --dist loadfile $(PYTEST_ARGS)

lint: env-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -n 0 tests/test_layers.py  # the layer contract, no circles

bench: env-dev
	@set -e; for script in benchmarks/bench_*.py; do \
	  echo "== $$script"; $(BIN)/python $$script; \
	done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(DEMO_DIR)
