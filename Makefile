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

# Every benchmark (benchmarks/__main__.py): one line each, JSON in .benchmarks/results.json.
# BENCH_ARGS="--scale small" for a quick check, "--only NAME" for one; RETENTION_BENCH_DB
# names the database it creates and drops (default retention_bench).
.PHONY: bench reliability
bench: install
	$(VENV)/bin/python -m benchmarks $(BENCH_ARGS)

# The reliability suite (tests/reliability): duplicates, concurrency, crashes, security.
reliability: install
	$(VENV)/bin/python -m pytest tests/reliability $(RELIABILITY_ARGS)
