# Command 1: `make run`  — a fresh clone to a running platform (webserver + daemon) on the demo tenant.
# Command 2: `make test` — the whole test suite.
# Needs: python3 (3.11 or newer, with its venv module), make and a POSIX shell; nothing else from the system.
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 3000
DEMO_DAYS ?= 7
DEMO_CUSTOMERS ?= 2000
export DAGSTER_HOME := $(CURDIR)/.dagster_home

.PHONY: install run demo-data deliver-late lint test test-fast bench bench-full reset clean

$(VENV)/.installed: pyproject.toml
	@python3 -c 'import sys; sys.exit(None if sys.version_info >= (3, 11) else "workflow_platform needs Python 3.11 or newer; python3 is " + sys.version.split()[0])'
	@python3 -c 'import ensurepip, venv' 2>/dev/null || { echo "python3 has no venv module (on Debian/Ubuntu: apt-get install python3-venv)"; exit 1; }
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

# First start: write DEMO_DAYS days of demo files (ending yesterday, UTC) and load them once, so the UI opens on a
# populated warehouse. data/.demo-loaded records that it finished; a first start that was interrupted (or whose
# load failed) is started over by the next `make run`, and landing files without that record are left alone
# with a message (workflow_platform/demo/first_start.py). Later starts keep the data as it is.
demo-data: install
	@$(PY) -m workflow_platform.demo.first_start --days $(DEMO_DAYS) --customers $(DEMO_CUSTOMERS) --dagster-home "$(DAGSTER_HOME)"

run: demo-data
	@echo "workflow_platform: open http://127.0.0.1:$(PORT)  (DAGSTER_HOME=$(DAGSTER_HOME)); every sensor and schedule starts on; Ctrl-C to stop"
	$(VENV)/bin/dagster dev -h 127.0.0.1 -p $(PORT)

# The demo's late file: move the file the first start held back (data/late/) into data/landing/; the courier group's
# sensor then loads it in a catch-up run and alerts that it came late.
deliver-late: install
	$(VENV)/bin/workflow-platform demo-data --deliver-late

# Style (ruff) and the package's layers: no module imports from a layer above its own (import-linter;
# the contracts are in pyproject.toml, the layers in docs/architecture.md).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

# Two workers, each taking whole test modules (module fixtures stay shared; every test uses its own folders,
# ports and Dagster instance).
PYTEST := $(PY) -m pytest -q -n 2 --dist loadfile

test: lint
	$(PYTEST)

# Everything but the tests marked slow (a real daemon on the clock, the browser, crash injection); CI runs `make test`.
test-fast: install
	$(PYTEST) -m "not slow"

# Every benchmark at a CI-friendly size -> bench/out/report.md + report.json (bench-full: the targets' sizes).
bench: install
	$(PY) bench/report.py

bench-full: install
	$(PY) bench/report.py --size full

# Back to the state of a fresh clone but for the virtualenv (stop `make run` first): the data folder data/ (landing
# files, the warehouse, exports, the first-start record) and the Dagster home's runs, logs, schedule and sensor
# states (its dagster.yaml stays). The next `make run` does the first start again.
reset:
	rm -rf data
	@[ ! -d "$(DAGSTER_HOME)" ] || find "$(DAGSTER_HOME)" -mindepth 1 -maxdepth 1 ! -name dagster.yaml -exec rm -rf {} +
	@[ -z "$$WORKFLOW_PLATFORM_DATA" ] || echo "note: WORKFLOW_PLATFORM_DATA=$$WORKFLOW_PLATFORM_DATA is not removed (only data/ of this checkout is)"

# reset, and the virtualenv and build leftovers too: the next `make run` installs again (a few minutes).
clean: reset
	rm -rf $(VENV) .pytest_cache workflow_platform.egg-info
