# `make demo` and `make test` each set up .venv themselves on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Three install steps: the demo needs the project only; the docs need MkDocs; the tests also
# need the test tools (pytest, ruff, mypy, KerasTuner and Optuna's integration for the
# benchmarks' comparisons) and the docs' (`make test` builds the docs).
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed
# The docs site's tools (MkDocs, Material, mkdocstrings); `make test` builds the docs too.
DOCS_STAMP := $(VENV)/.installed-docs

.PHONY: demo test test-fast lint docs clean postgres

$(RUN_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP) $(DOCS_STAMP)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(DOCS_STAMP): $(RUN_STAMP)
	$(PY) -m pip install --quiet -e '.[docs]'
	touch $(DOCS_STAMP)

demo: $(RUN_STAMP)
	$(PY) examples/digits_mlp.py

# The whole suite, slow end-to-end tests included (CI runs this), in two parts:
# the tests without the `ray` marker run two at a time (-n 2: one pytest worker
# per core), then the `ray` tests, whose Ray is sized to the whole machine, one
# at a time. (Tried two at a time, each pytest worker with its own Ray:
# 601 s against 767 s, with 3 failures: the submit test's `ray start --head`
# exited beside the other Ray, and the worker-reuse test saw no earlier model.)
# --durations lists the slowest tests in the CI log, where the suite's time goes.
# tests/test_docs.py builds the docs site with --strict, so a broken link or API reference fails CI too.
test: $(STAMP) postgres
	$(PY) -m pytest -m "not ray" -n 2 --durations=10
	$(PY) -m pytest -m ray --durations=25

# The shared-MLflow-server tests start Debian's PostgreSQL server (/usr/lib/postgresql/N/bin,
# run as the `postgres` account): installed here when absent (CI runs as root).
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql; }

# Everything but the slow end-to-end tests, two at a time.
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow" -n 2

# The docs site into site/: --strict fails on a broken link, a missing reference or a page
# left out of the nav. (NO_MKDOCS_2_WARNING quiets Material's notice about its successor.)
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

lint: $(STAMP)
	$(VENV)/bin/ruff check automl search_spaces trainers tests examples benchmarks docs
	$(VENV)/bin/mypy automl search_spaces trainers

clean:
	rm -rf $(VENV) automl_runs mlflow.db mlruns .pytest_cache site
