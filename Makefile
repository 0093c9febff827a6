# Two entry points for a fresh machine: `make demo` and `make test`.
# Each creates .venv when it is missing and installs the package into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean system-deps

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# A --sandbox run keeps no journal, so the demo shows the whole flow every time.
demo: $(STAMP)
	$(BIN)/masgsm-notify run pipelines/demo.yaml --sandbox

# Debian's Alertmanager, which the serve tests drive. Installed when missing and possible (root
# with apt-get); otherwise those tests are skipped, saying why.
ALERTMANAGER := /usr/bin/prometheus-alertmanager

system-deps:
	@if [ -x $(ALERTMANAGER) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-alertmanager \
		|| echo "Could not install prometheus-alertmanager: the tests that need it will be skipped."; \
	else \
		echo "prometheus-alertmanager is missing (install it as root: apt-get install prometheus-alertmanager); the tests that need it will be skipped."; \
	fi

test: $(STAMP) system-deps
	$(BIN)/ruff check masgsm_notify tests benchmarks
	$(BIN)/python -m pytest -q -m "not soak"

lint: $(STAMP)
	$(BIN)/ruff check masgsm_notify tests benchmarks
	$(BIN)/ruff format --check masgsm_notify tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/pipeline_bench.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
