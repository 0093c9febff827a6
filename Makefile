# Two entry points for a fresh machine: `make demo` and `make test`.
# Each creates .venv when it is missing and installs the package into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the tests use: Chromium opens the run's HTML page (tests/test_report_page.py);
# Alertmanager posts its alerts to `serve` (tests/test_serve_alertmanager.py).
SYSTEM_PACKAGES := chromium fonts-liberation prometheus-alertmanager

.PHONY: demo test lint bench clean system-deps

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# A --sandbox run keeps no journal, so the demo shows the whole flow every time; it also writes
# the run's report (one HTML page) and says where.
demo: $(STAMP)
	$(BIN)/masgsm-notify run pipelines/demo.yaml --sandbox --html pipelines/results/demo-report.html

# Installs the missing SYSTEM_PACKAGES where it can (as root, with apt-get). Elsewhere it says
# what is missing and goes on: the tests that need them skip, saying why (CI fails instead).
system-deps:
	@missing=""; \
	for package in $(SYSTEM_PACKAGES); do \
	  dpkg -s $$package >/dev/null 2>&1 || missing="$$missing $$package"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing$$missing (Debian packages the tests use)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends $$missing) || echo "Could not install$$missing." >&2; \
	else \
	  echo "Not installed:$$missing; 'sudo make system-deps' installs them (the tests that" \
	    "need them skip)." >&2; \
	fi

test: lint system-deps
	$(BIN)/python -m pytest -q -rs -m "not soak"

lint: $(STAMP)
	$(BIN)/ruff check masgsm_notify tests benchmarks
	$(BIN)/ruff format --check masgsm_notify tests benchmarks
	$(BIN)/mypy masgsm_notify

bench: $(STAMP)
	$(BIN)/python benchmarks/pipeline_bench.py
	$(BIN)/python benchmarks/records_bench.py
	$(BIN)/python benchmarks/report_bench.py
	$(BIN)/python benchmarks/serve_bench.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache
