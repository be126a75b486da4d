# Command 1: `make run`  — a fresh clone to a running platform (webserver + daemon) on the demo tenant.
# Command 2: `make test` — the whole test suite.
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 3000
export DAGSTER_HOME := $(CURDIR)/.dagster_home

.PHONY: install run demo-data lint test test-fast bench bench-full clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

# First start: write 7 days of demo files (ending yesterday) and load them once, so the UI opens on a
# populated warehouse. Later starts keep the data as it is.
demo-data: install
	@if [ ! -d data/landing ]; then \
	  $(VENV)/bin/workflow-platform demo-data --days 7 --customers 2000 && \
	  $(VENV)/bin/workflow-platform run --from $$(date -u -d '7 days ago' +%F) --to $$(date -u +%F); \
	fi

run: demo-data
	@echo "workflow_platform: open http://127.0.0.1:$(PORT)  (DAGSTER_HOME=$(DAGSTER_HOME))"
	$(VENV)/bin/dagster dev -h 127.0.0.1 -p $(PORT)

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

clean:
	rm -rf $(VENV) data .pytest_cache
