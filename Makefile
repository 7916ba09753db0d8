# The project's virtualenv lives outside the checkout so that every clone (and CI's fresh
# one) shares it, together with anything installed into it by hand (such as Saleor).
VENV ?= $(HOME)/.venvs/saleor-retention-plugin
PYTHON ?= python3
export VENV

.PHONY: install sandbox test lint format

install:
	scripts/install

sandbox: install
	$(VENV)/bin/retention-sandbox

test: install
	scripts/test

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy saleor_retention_plugin tests benchmarks

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .
