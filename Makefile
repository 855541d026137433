# Everything sets itself up: a fresh machine needs only python3 (>=3.10), pip and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test lint demo e2e bench clean

setup: $(STAMP)

# The dev extra names toloka-emulator, which is not on an index: ./emulator, in the same pip call, provides it.
$(STAMP): pyproject.toml emulator/pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ./emulator -e '.[dev]'
	touch $(STAMP)

lint: setup
	$(BIN)/ruff check airflow_toloka emulator tests dags_examples scripts benchmarks
	$(BIN)/ruff format --check airflow_toloka emulator tests dags_examples scripts benchmarks

# pytest exits 5 when it collected nothing: that is a broken suite, not a pass.
test: setup lint
	@$(BIN)/python -m pytest -q -rfEs; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

# The real Airflow stack on PostgreSQL, twice: LocalExecutor with one triggerer, then CeleryExecutor on Redis with
# two workers and two HA triggerers (PostgreSQL and Redis from Debian's packages if missing; needs root).
# Each configuration is its own pytest session, so only one stack runs at a time.
STACK_PYTEST = $(BIN)/python -m pytest -q -rfEs -m stack
e2e: setup
	@$(STACK_PYTEST) tests/stack --ignore=tests/stack/celery; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no stack tests: failing"; exit 1; fi; \
	$(STACK_PYTEST) tests/stack/celery; rc2=$$?; \
	if [ $$rc2 -eq 5 ]; then echo "pytest collected no Celery stack tests: failing"; exit 1; fi; \
	[ $$rc -eq 0 ] && exit $$rc2; exit $$rc

# This provider against toloka-kit 1.2.3 (its own .venv-kit), same run; figures in .bench/ (see README).
BENCH_ARGS ?= --sizes 10000,100000,1000000
$(VENV)/.bench-installed: $(STAMP)
	$(BIN)/pip install --quiet -c constraints.txt -e ./emulator -e '.[dev,bench]'
	touch $@

bench: $(VENV)/.bench-installed
	$(BIN)/python benchmarks/run.py --out .bench $(BENCH_ARGS)

demo: setup
	$(BIN)/python scripts/demo.py

clean:
	rm -rf $(VENV) .venv-kit .venv-emulator emulator/build .demo .bench .pytest_cache .ruff_cache
