# The two commands a new user runs: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q
PLUGIN_DIRS := $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))

.PHONY: demo test test-deps lint typecheck pytest bench record clean help

help:  ## List the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.demo-installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[server]'
	@touch $@

$(VENV)/.dev-installed: pyproject.toml $(addsuffix /pyproject.toml,$(PLUGIN_DIRS)) | $(BIN)/python
	$(PIP) install -e '.[dev]' $(foreach dir,$(PLUGIN_DIRS),-e ./$(dir))
	@touch $@ $(VENV)/.demo-installed

$(VENV)/.bench-installed: $(VENV)/.dev-installed
	$(PIP) install -e '.[dev,bench]'
	@touch $@

demo: $(VENV)/.demo-installed  ## Run the whole pipeline against the local sandbox
	$(BIN)/msgrelay demo

test: test-deps lint typecheck pytest  ## ruff, import layers, mypy and pytest, as CI runs them

test-deps:  ## The Debian packages the tests drive (chromium, postgresql, redis-server): scripts/install-test-deps
	sh scripts/install-test-deps

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

pytest: $(VENV)/.dev-installed
	$(BIN)/python -m pytest

bench: $(VENV)/.bench-installed  ## Benchmarks against named peers; writes bench/RESULTS.md
	$(BIN)/python bench/run.py

record: $(VENV)/.dev-installed  ## Re-record every cassette from the sandbox (or live, with API keys set)
	$(BIN)/python -m pytest --record-mode=rewrite -m vcr tests

clean:  ## Remove the virtualenv and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
