# Two commands for a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
export PORTAL_INSTANCE_PATH ?= $(CURDIR)/instance

.PHONY: run test install install-dev i18n i18n-check migrate demo serve lint migration bench-smoke clean audit

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

i18n: $(VENV)/.installed
	$(BIN)/python tools/i18n.py build

i18n-check: $(VENV)/.installed
	$(BIN)/python tools/i18n.py check

migrate: i18n
	PORTAL_DEMO=1 $(BIN)/portal db upgrade

demo: migrate
	@if PORTAL_DEMO=1 $(BIN)/portal demo-needed; then PORTAL_DEMO=1 $(BIN)/portal demo; else echo "database not empty: demo data not loaded"; fi

# make run: venv, install, migrate SQLite, demo data when empty, serve on http://127.0.0.1:8000
run: demo
	PORTAL_DEMO=1 $(BIN)/gunicorn -c gunicorn.conf.py --bind 127.0.0.1:$(PORT) --workers 2 wsgi:app

# make test: dev dependencies, catalogs complete and compiled, the whole test suite, in
# PYTEST_WORKERS processes (pytest-xdist; a test file stays on one worker, each worker has its own
# database). PYTEST_WORKERS=0 runs it in this process.
PYTEST_WORKERS ?= 2
test: install-dev i18n-check i18n
	$(BIN)/python -m pytest -q $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadfile) $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check portal catalog commissions tests tools bench

# Regenerate the initial schema migration from the models (only until the first release).
migration: install
	$(BIN)/python tools/regen_migration.py

bench-smoke: install-dev
	$(BIN)/python bench/commissions.py --size tiny

clean:
	rm -rf $(VENV) instance build .pytest_cache

# Dependency audit with pip-audit: fails on a known vulnerability; says how many packages it could not
# look up (PyPI's JSON API or OSV unreachable, as on an intranet). CI runs it after the tests.
audit: install-dev
	$(BIN)/pip install -q pip-audit
	$(BIN)/pip-audit --skip-editable --progress-spinner off --format json --output $(VENV)/audit.json || true
	$(BIN)/python tools/audit_summary.py $(VENV)/audit.json
