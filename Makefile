# Two entry points for a fresh machine: `make demo` and `make test`.
# Each creates .venv when it is missing and installs the package into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# A fresh journal each time, so the demo always shows the whole flow (a kept journal would
# make a second run send nothing: that is the journal doing its job).
demo: $(STAMP)
	rm -f $(VENV)/demo.journal.sqlite*
	$(BIN)/masgsm-notify run pipelines/demo.yaml --sandbox --journal $(VENV)/demo.journal.sqlite

test: $(STAMP)
	$(BIN)/ruff check masgsm_notify tests benchmarks
	$(BIN)/python -m pytest -q -m "not soak"

lint: $(STAMP)
	$(BIN)/ruff check masgsm_notify tests benchmarks
	$(BIN)/ruff format --check masgsm_notify tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/pipeline_bench.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
