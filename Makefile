# The project's virtualenv lives outside the checkout so that every clone (and CI's fresh
# one) shares it, together with anything installed into it by hand (such as Saleor).
# Lint runs in a virtualenv of its own beside it ($(VENV)-lint), fully pinned by
# requirements/lint.txt, so its verdict never depends on what Saleor pins.
VENV ?= $(HOME)/.venvs/saleor-retention-plugin
LINT_VENV ?= $(VENV)-lint
PYTHON ?= python3
export VENV LINT_VENV PYTHON

.PHONY: install install-lint sandbox test lint lint-ruff lint-mypy check-migrations format

install:
	scripts/install

install-lint:
	scripts/install --lint

# ARGS go to retention-sandbox: make sandbox ARGS="--weeks 4", ARGS=--help, ARGS="manage ...".
sandbox: install
	$(VENV)/bin/retention-sandbox $(ARGS)

# ARGS go to pytest: make test ARGS="-x -k ledger".
test: install
	scripts/test $(ARGS)

lint: lint-ruff lint-mypy check-migrations

lint-ruff: install-lint
	$(LINT_VENV)/bin/ruff check .
	$(LINT_VENV)/bin/ruff format --check .

# `python -m` from the checkout: mypy's Django plugin imports the package from here.
lint-mypy: install-lint
	$(LINT_VENV)/bin/python -m mypy saleor_retention_plugin tests benchmarks

# Models and migrations agree; an in-memory database, so no server is needed.
check-migrations: install-lint
	DATABASE_URL=sqlite:// $(LINT_VENV)/bin/python -m django makemigrations \
		saleor_retention_plugin --check --dry-run --settings tests.settings

format: install-lint
	$(LINT_VENV)/bin/ruff format .
	$(LINT_VENV)/bin/ruff check --fix .
