# `make demo` and `make test` each set up .venv themselves on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/digits_mlp.py

# The whole suite, slow end-to-end tests included (CI runs this), in two parts:
# the tests that start no Ray run two at a time (-n 2: one pytest worker per core),
# then those that start Ray, which size it to the whole machine, one at a time.
# --durations lists the slowest tests in the CI log, where the suite's time goes.
test: $(STAMP)
	$(PY) -m pytest -m "not slow and not ray" -n 2 --durations=10
	$(PY) -m pytest -m "slow or ray" --durations=25

# Everything but the tests that start Ray.
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow" -n 2

lint: $(STAMP)
	$(VENV)/bin/ruff check automl search_spaces trainers tests examples benchmarks
	$(VENV)/bin/mypy automl search_spaces trainers

clean:
	rm -rf $(VENV) automl_runs mlflow.db mlruns .pytest_cache
