# Everything sets itself up: a fresh machine needs only python3 (>=3.10), pip and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The lowest Airflow that pyproject.toml allows (3.2), in its own venv pinned by its own constraints file:
# make test runs the unit and integration suites there too, make e2e one real-triggerer stack test.
LOWEST_VENV := .venv-af32
LOWEST_BIN := $(LOWEST_VENV)/bin
LOWEST_STAMP := $(LOWEST_VENV)/.installed

.PHONY: setup setup-lowest test test-lowest lint demo e2e e2e-lowest bench dist clean

setup: $(STAMP)

# The dev extra names toloka-emulator, which is not on an index: ./emulator, in the same pip call, provides it.
$(STAMP): pyproject.toml emulator/pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ./emulator -e '.[dev]'
	touch $(STAMP)

setup-lowest: $(LOWEST_STAMP)

$(LOWEST_STAMP): pyproject.toml emulator/pyproject.toml constraints-airflow-3.2.txt
	$(PYTHON) -m venv $(LOWEST_VENV)
	$(LOWEST_BIN)/pip install --quiet --upgrade pip
	$(LOWEST_BIN)/pip install --quiet -c constraints-airflow-3.2.txt -e ./emulator -e '.[dev]'
	touch $(LOWEST_STAMP)

lint: setup
	$(BIN)/ruff check airflow_toloka emulator tests dags_examples scripts benchmarks
	$(BIN)/ruff format --check airflow_toloka emulator tests dags_examples scripts benchmarks

# pytest exits 5 when it collected nothing: that is a broken suite, not a pass.
test: setup lint
	@$(BIN)/python -m pytest -q -rfEs; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc
	@$(MAKE) --no-print-directory test-lowest

# On Airflow 3.2: the unit and integration suites, a retried upload through `airflow dags test` (3.2 has no
# task_state_store, so the retry finds its batches by their operation ids alone), and the OpenLineage events of a
# DAG run (3.2's task runner calls the lineage listener as 3.3's does).
LOWEST_TESTS = tests/unit tests/integration \
	tests/e2e/test_example_dags.py::test_retry_after_a_crash_midway_creates_each_task_once \
	tests/e2e/test_lineage.py
test-lowest: setup-lowest
	@echo "On Airflow 3.2 ($(LOWEST_VENV)):"
	@$(LOWEST_BIN)/python -m pytest -q -rfEs $(LOWEST_TESTS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests on Airflow 3.2: failing"; exit 1; fi; exit $$rc

# The real Airflow stack on PostgreSQL, twice: LocalExecutor with one triggerer, then CeleryExecutor on Redis with
# two workers and two HA triggerers (PostgreSQL, Redis and, for the browser test, Chromium and its chromedriver
# from Debian's packages if missing; needs root; screenshots in .artifacts/screenshots/).
# Each configuration is its own pytest session, so only one stack runs at a time.
STACK_PYTEST = $(BIN)/python -m pytest -q -rfEs -m stack
e2e: setup
	@$(STACK_PYTEST) tests/stack --ignore=tests/stack/celery; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no stack tests: failing"; exit 1; fi; \
	$(STACK_PYTEST) tests/stack/celery; rc2=$$?; \
	if [ $$rc2 -eq 5 ]; then echo "pytest collected no Celery stack tests: failing"; exit 1; fi; \
	[ $$rc -eq 0 ] && exit $$rc2; exit $$rc
	@$(MAKE) --no-print-directory e2e-lowest

# On Airflow 3.2, a real triggerer: an example DAG's deferred uploads wait in the triggerer process of the
# LocalExecutor stack (PostgreSQL, api-server, scheduler, dag-processor, triggerer).
e2e-lowest: setup-lowest
	@echo "On Airflow 3.2 ($(LOWEST_VENV)):"
	@$(LOWEST_BIN)/python -m pytest -q -rfEs -m stack tests/stack/test_example_dags.py::test_image_classification; \
	rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no stack test on Airflow 3.2: failing"; exit 1; fi; \
	exit $$rc

# This provider against toloka-kit 1.2.3 (its own .venv-kit), same run; figures in .bench/ (see README).
BENCH_ARGS ?= --sizes 10000,100000,1000000
$(VENV)/.bench-installed: $(STAMP)
	$(BIN)/pip install --quiet -c constraints.txt -e ./emulator -e '.[dev,bench]'
	touch $@

bench: $(VENV)/.bench-installed
	$(BIN)/python benchmarks/run.py --out .bench $(BENCH_ARGS)

# An sdist and a wheel in dist/, the version from airflow_toloka/__init__.py. The wheel holds the provider only (no
# tests, no emulator, no example DAGs); tests/e2e/test_wheel.py installs it into a fresh virtualenv.
dist: setup
	rm -rf dist
	$(BIN)/python -m build --outdir dist .

demo: setup
	$(BIN)/python scripts/demo.py

clean:
	rm -rf $(VENV) $(LOWEST_VENV) .venv-kit .venv-emulator emulator/build build dist .demo .bench .pytest_cache .ruff_cache
