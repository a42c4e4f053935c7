# The front door: `make run` serves the shop on http://127.0.0.1:5000, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
# `make run` is a development server: no SECRET_KEY needed, cookies allowed over plain HTTP.
DEV := FLASK_DEBUG=1

.PHONY: run test install install-test lint bench bench-search profile mutate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

run: install
	$(DEV) $(FLASK) db upgrade
	$(DEV) $(FLASK) catalog demo
	$(DEV) $(FLASK) run --host 127.0.0.1 --port 5000

test: install-test
	$(BIN)/python -m pytest

# Static checks (CI runs them before the tests): ruff, bandit (no medium or high finding),
# pip-audit where the package index answers.
lint: install-test
	$(BIN)/ruff check .
	$(BIN)/bandit -q -r storefront --severity-level medium
	scripts/audit-deps

# The shop under load, each scenario right after a bare-Flask floor, three rounds, and the
# same at 100,000 products (not part of `make test`; about 25 minutes). Figures go to
# bench/RESULTS.md; wrk comes from Debian when it is missing.
bench: install-test
	command -v wrk >/dev/null || (apt-get update -q && apt-get install -y -q wrk)
	$(BIN)/python bench/run.py

# Search time at 10,000 products on PostgreSQL, in-process (bench/search.py).
bench-search: install-test
	$(BIN)/python bench/search.py

# Where a request's time goes, in-process (pyinstrument): `make profile LABEL=after` writes
# that section of bench/PROFILE.md, which `make bench` appends to bench/RESULTS.md.
profile: install-test
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python bench/profile.py $(or $(LABEL),now)

# Mutation testing (not part of `make test`; several hours on 2 cores): mutmut plants small
# bugs in carts.py, accounts.py, rls.py, security.py and the auth views, one at a time, and runs
# the tests that reach each. The score and the survivors go to mutants/score.txt; survivors
# named in docs/mutation-equivalent.txt count as equivalent. Uses PostgreSQL and Redis like
# `make test`; a run stopped midway goes on from where it was at the next `make mutate`.
mutate: install-test
	$(BIN)/python -m pip install --quiet -e '.[mutate]'
	$(BIN)/mutmut run || true
	$(BIN)/python scripts/mutation-score | tee mutants/score.txt

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache tests/artifacts mutants
