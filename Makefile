# `make demo` and `make test` each set up .venv themselves on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Two install steps: the demo needs the project only; the tests also need the test tools
# (pytest, ruff, mypy, KerasTuner and Optuna's integration for the benchmarks' comparisons).
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint clean

$(RUN_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(RUN_STAMP)
	$(PY) examples/digits_mlp.py

# The whole suite, slow end-to-end tests included (CI runs this), in two parts:
# the tests without the `ray` marker run two at a time (-n 2: one pytest worker
# per core), then the `ray` tests, whose Ray is sized to the whole machine, one
# at a time. (Tried two at a time, each pytest worker with its own Ray:
# 601 s against 767 s, with 3 failures: the submit test's `ray start --head`
# exited beside the other Ray, and the worker-reuse test saw no earlier model.)
# --durations lists the slowest tests in the CI log, where the suite's time goes.
test: $(STAMP)
	$(PY) -m pytest -m "not ray" -n 2 --durations=10
	$(PY) -m pytest -m ray --durations=25

# Everything but the slow end-to-end tests, two at a time.
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow" -n 2

lint: $(STAMP)
	$(VENV)/bin/ruff check automl search_spaces trainers tests examples benchmarks
	$(VENV)/bin/mypy automl search_spaces trainers

clean:
	rm -rf $(VENV) automl_runs mlflow.db mlruns .pytest_cache
