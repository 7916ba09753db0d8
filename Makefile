# The project's virtualenv lives outside the checkout so that every clone (and CI's fresh
# one) shares it, together with anything installed into it by hand (such as Saleor).
# Lint runs in a virtualenv of its own beside it ($(VENV)-lint), fully pinned by
# requirements/lint.txt, so its verdict never depends on what Saleor pins.
VENV ?= $(HOME)/.venvs/saleor-retention-plugin
LINT_VENV ?= $(VENV)-lint
PYTHON ?= python3
export VENV LINT_VENV PYTHON

.PHONY: install install-lint sandbox test lint format

install:
	scripts/install

install-lint:
	scripts/install --lint

sandbox: install
	$(VENV)/bin/retention-sandbox

test: install
	scripts/test

# `python -m mypy` from the checkout: mypy's Django plugin imports the package from here.
lint: install-lint
	$(LINT_VENV)/bin/ruff check .
	$(LINT_VENV)/bin/ruff format --check .
	$(LINT_VENV)/bin/python -m mypy saleor_retention_plugin tests benchmarks

format: install-lint
	$(LINT_VENV)/bin/ruff format .
	$(LINT_VENV)/bin/ruff check --fix .
