"""The sandbox's own database: created when it is missing, and the way in for the commands.

Outside Saleor there is no ``manage.py``; the README shows how to run the management
commands on the sandbox's database. These tests run those README lines as written, on a
database of their own (``make -o install`` so that the test does not reinstall the
virtualenv it runs in).
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest
from psycopg import sql

if TYPE_CHECKING:
    from collections.abc import Iterator

REPO_ROOT = Path(__file__).resolve().parents[2]
README = (REPO_ROOT / "README.md").read_text()
SERVER = "postgres://postgres@127.0.0.1:5432"
README_DATABASE_URL = f"{SERVER}/retention_sandbox"
MANAGE_LINES = [
    line.split("  #", 1)[0].strip()
    for line in README.splitlines()
    if line.startswith(f'DATABASE_URL={README_DATABASE_URL} make sandbox ARGS="manage ')
]


def run(line: str, database_url: str | None) -> subprocess.CompletedProcess[str]:
    """Run a README command line in the checkout, on ``database_url`` instead of its own."""
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env["VENV"] = sys.prefix
    line = line.replace(f"DATABASE_URL={README_DATABASE_URL} ", "")
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    line = re.sub(r"^make ", "make -s -o install ", line)
    return subprocess.run(
        ["bash", "-c", line],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def database_exists(name: str) -> bool:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as server:
        found = server.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        return found.fetchone() is not None


def drop_database(name: str) -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as server:
        server.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="module")
def sandbox_database() -> Iterator[str]:
    """A database name that does not exist yet; dropped at the end whatever happened."""
    name = f"retention_sandbox_{secrets.token_hex(4)}"
    assert not database_exists(name)
    try:
        yield name
    finally:
        drop_database(name)


@pytest.fixture(scope="module")
def filled_sandbox(sandbox_database: str) -> tuple[str, subprocess.CompletedProcess[str]]:
    """The sandbox run once, briefly, on a database that did not exist."""
    result = run('make sandbox ARGS="--weeks 1 --customers 2"', f"{SERVER}/{sandbox_database}")
    return sandbox_database, result


def test_make_sandbox_creates_a_database_that_does_not_exist(filled_sandbox):
    name, result = filled_sandbox

    assert result.returncode == 0, result.stderr
    assert f"Created database '{name}'" in result.stdout
    assert database_exists(name)


def test_the_readme_shows_how_to_run_the_commands_on_the_sandbox_database():
    commands = {line.split('ARGS="manage ', 1)[1].split()[0] for line in MANAGE_LINES}

    assert commands == {"retention_ledger", "retention_graphql_schema"}


@pytest.mark.parametrize("line", MANAGE_LINES)
def test_every_documented_command_runs_on_the_sandbox_database(filled_sandbox, line):
    name, sandbox = filled_sandbox
    assert sandbox.returncode == 0, sandbox.stderr

    result = run(line, f"{SERVER}/{name}")

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    if "retention_ledger" in line:
        assert "Every cached balance matches its entries." in result.stdout
    else:
        assert "type Query" in result.stdout


def test_a_command_on_a_database_that_does_not_exist_says_so_in_one_line():
    name = f"retention_sandbox_missing_{secrets.token_hex(4)}"

    result = run('make sandbox ARGS="manage retention_ledger --verify"', f"{SERVER}/{name}")

    assert result.returncode != 0
    assert f"database '{name}' does not exist" in result.stderr
    assert "Traceback" not in result.stderr
    assert not database_exists(name)


def test_an_unreachable_database_server_is_one_line_not_a_traceback():
    result = run('make sandbox ARGS="--weeks 1"', "postgres://postgres@127.0.0.1:1/retention")

    assert result.returncode != 0
    assert "retention-sandbox: cannot connect to the DATABASE_URL database" in result.stderr
    assert "Traceback" not in result.stderr


def test_commands_need_the_sandbox_database_named():
    result = run('make sandbox ARGS="manage retention_ledger --verify"', None)

    assert result.returncode != 0
    assert "retention-sandbox manage: set DATABASE_URL" in result.stderr


def test_a_command_on_a_database_without_the_plugins_tables_says_so_in_one_line():
    name = f"retention_sandbox_empty_{secrets.token_hex(4)}"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as server:
        server.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        result = run('make sandbox ARGS="manage retention_ledger --verify"', f"{SERVER}/{name}")
    finally:
        drop_database(name)

    assert result.returncode != 0
    assert "this database has no retention tables yet" in result.stderr
    assert "Traceback" not in result.stderr
