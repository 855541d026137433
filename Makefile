# Everything sets itself up: a fresh machine needs only python3 (>=3.10), pip and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test lint demo e2e clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

lint: setup
	$(BIN)/ruff check airflow_toloka tests dags_examples scripts
	$(BIN)/ruff format --check airflow_toloka tests dags_examples scripts

# pytest exits 5 when it collected nothing: that is a broken suite, not a pass.
test: setup lint
	@$(BIN)/python -m pytest -q -rfEs; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

# The real Airflow stack on PostgreSQL (installed from Debian's packages if missing; needs root).
e2e: setup
	$(BIN)/python -m pytest -q -rfEs -m stack tests/stack

demo: setup
	$(BIN)/python scripts/demo.py

clean:
	rm -rf $(VENV) .venv-kit .demo .pytest_cache .ruff_cache
