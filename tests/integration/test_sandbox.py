"""The README's main job: the sandbox runs end to end and never empties tables not its own."""

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

from saleor_retention_plugin.sandbox.report import columns

if TYPE_CHECKING:
    from collections.abc import Iterator

REPO_ROOT = Path(__file__).resolve().parents[2]
POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432"
# A reward code (PTS-USXB-VMN9-THB8-9E8Y) or a coupon code (VHJ-K8U0).
REWARD_CODE = re.compile(r"\b[A-Z]{2,5}(?:-[A-Z0-9]{4})+\b")


def run_sandbox(
    *args: str, extra_env: dict[str, str] | None = None, timeout: int = 300
) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-m", "saleor_retention_plugin.sandbox", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_sandbox_simulates_a_store_and_its_ledger_stays_consistent():
    result = run_sandbox("--weeks", "3", "--customers", "4", "--seed", "11")

    assert result.returncode == 0, result.stderr
    report = result.stdout
    assert "Database: embedded SQLite" in report
    for section in (
        "== default-channel (USD)",
        "== channel-cn (CNY)",
        "== Membership tiers and the points mall",
        "== Abandoned carts and reminders",
    ):
        assert section in report
    assert "Ledger audit: every cached balance matches its entries." in report
    assert "Prize draws re-derived from their published seeds" in report
    # It fits a terminal, and draws no progress bar when its output is not one.
    assert max(columns(line) for line in report.splitlines()) <= 100
    assert "Simulating [" not in result.stderr
    # Nothing failed along the way: a sweep that fails on a cart logs it and carries on.
    assert result.stderr == ""


def test_the_same_seed_tells_the_same_story_on_sqlite_and_on_postgresql(
    scratch_postgres_url, tmp_path
):
    story = ("--weeks", "3", "--customers", "4", "--seed", "5")
    on_sqlite = [run_sandbox(*story, "--json", str(tmp_path / f"sqlite{n}.json")) for n in (1, 2)]
    on_postgres = [
        run_sandbox(
            *story,
            *reset,
            "--json",
            str(tmp_path / f"postgres{n}.json"),
            extra_env={"DATABASE_URL": scratch_postgres_url},
        )
        for n, reset in ((1, ()), (2, ("--reset",)))
    ]

    for run in (*on_sqlite, *on_postgres):
        assert run.returncode == 0, run.stderr
    stories = {
        tuple(line for line in the_story(run.stdout) if str(tmp_path) not in line)
        for run in (*on_sqlite, *on_postgres)
    }
    assert len(stories) == 1, "the same seed told different stories"
    # Every figure of --json too, as text: a sum is "9466.500" on both databases.
    figures = {
        without_reward_codes((tmp_path / f"{database}{n}.json").read_text())
        for database in ("sqlite", "postgres")
        for n in (1, 2)
    }
    assert len(figures) == 1, "the same seed wrote different figures"


def without_reward_codes(figures: str) -> str:
    """--json's text with the reward and coupon codes masked: they are drawn at random."""
    return REWARD_CODE.sub("<code>", figures)


def the_story(report: str) -> list[str]:
    """The report without the lines that name the database or carry signatures."""
    return [line for line in without_signed_links(report) if not line.startswith("Database:")]


def without_signed_links(report: str) -> list[str]:
    # Unsubscribe and tracked click links are signed with the moment of signing; everything
    # else must match.
    return [
        line
        for line in report.splitlines()
        if "Unsubscribe" not in line
        and "退订" not in line
        and "/plugins/saleor.retention/click/" not in line
    ]


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        (("--weeks", "0"), "--weeks: must be from 1 to 520, not 0"),
        (("--customers", "-3"), "--customers: must be from 1 to 100000, not -3"),
        (("--customers", "many"), "--customers: must be a whole number, not 'many'"),
        (("--start", "2026-01-05+08:00"), "no time or UTC offset), not '2026-01-05+08:00'"),
        (("--start", "2026-01-05T09:00"), "not '2026-01-05T09:00'"),
        (("--start", "2026-02-30"), "not '2026-02-30'"),
        (("--start", "9999-12-28", "--weeks", "1"), "runs past the year 9999"),
        (("--json", "/nonexistent/story.json"), "--json: cannot write into '/nonexistent'"),
    ],
)
def test_bad_options_are_refused_in_one_line_and_change_nothing(tmp_path, options, complaint):
    result = run_sandbox(*options, "--json", str(tmp_path / "story.json"))

    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert complaint in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_sandbox_keeps_its_own_settings_whatever_the_shell_says(tmp_path):
    # A shell prepared for Saleor exports DJANGO_SETTINGS_MODULE=saleor.settings; the sandbox
    # must not run on those settings (and their database). These settings fail if imported.
    (tmp_path / "foreign_settings.py").write_text(
        'raise RuntimeError("the sandbox imported foreign settings")\n'
    )
    result = run_sandbox(
        "--weeks",
        "1",
        "--customers",
        "2",
        extra_env={
            "DJANGO_SETTINGS_MODULE": "foreign_settings",
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])
            ),
        },
    )

    assert result.returncode == 0, result.stderr
    assert "Database: embedded SQLite" in result.stdout


@pytest.fixture
def scratch_postgres_url() -> Iterator[str]:
    """A PostgreSQL database of its own, dropped at the end, that the sandbox may be run on."""
    name = f"retention_sandbox_guard_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_SERVER + "/postgres", autocommit=True) as server:
        server.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"{POSTGRES_SERVER}/{name}"
    finally:
        with psycopg.connect(POSTGRES_SERVER + "/postgres", autocommit=True) as server:
            server.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def fingerprint_of_every_table(database_url: str) -> dict[str, str]:
    """Each table's rows, hashed, to tell whether a run changed anything."""
    with psycopg.connect(database_url) as connection:
        tables = [
            name
            for (name,) in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            )
        ]
        fingerprints = {}
        for table in tables:
            query = sql.SQL(
                "SELECT count(*) || ':' "
                "|| coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM {} AS t"
            ).format(sql.Identifier(table))
            row = connection.execute(query).fetchone()
            assert row is not None
            fingerprints[table] = row[0]
        return fingerprints


def not_the_plugins(fingerprints: dict[str, str]) -> dict[str, str]:
    return {
        table: fingerprint
        for table, fingerprint in fingerprints.items()
        if not table.startswith("saleor_retention_plugin_")
    }


def test_on_a_database_that_already_holds_sandbox_data_only_reset_empties_the_plugins_tables(
    scratch_postgres_url,
):
    with psycopg.connect(scratch_postgres_url, autocommit=True) as connection:
        connection.execute("CREATE TABLE merchant_orders (id int PRIMARY KEY, note text)")
        connection.execute("INSERT INTO merchant_orders VALUES (1, 'a real order')")
    story = ("--weeks", "1", "--customers", "2", "--seed", "3")
    first = run_sandbox(*story, extra_env={"DATABASE_URL": scratch_postgres_url})
    assert first.returncode == 0, first.stderr
    before = fingerprint_of_every_table(scratch_postgres_url)
    assert not before["saleor_retention_plugin_loyaltyaccount"].startswith("0:")

    refused = run_sandbox(*story, extra_env={"DATABASE_URL": scratch_postgres_url})

    assert refused.returncode != 0
    assert "--reset" in refused.stderr
    assert fingerprint_of_every_table(scratch_postgres_url) == before

    reset = run_sandbox(*story, "--reset", extra_env={"DATABASE_URL": scratch_postgres_url})

    assert reset.returncode == 0, reset.stderr
    after = fingerprint_of_every_table(scratch_postgres_url)
    # Only the plugin's tables were emptied: the merchant's table and Django's own
    # (content types, permissions, migrations) keep every row, ids included.
    assert not_the_plugins(after) == not_the_plugins(before)
    with psycopg.connect(scratch_postgres_url) as connection:
        assert connection.execute("SELECT note FROM merchant_orders").fetchall() == [
            ("a real order",)
        ]
    # Emptied and renumbered, the same seed tells the first run's story again.
    assert without_signed_links(reset.stdout) == without_signed_links(first.stdout)


CELERY_CHECK = """
import os
os.environ["DJANGO_SETTINGS_MODULE"] = "saleor_retention_plugin.sandbox.settings"
os.environ["RETENTION_SANDBOX_SQLITE"] = ":memory:"
import django
django.setup()
from celery import shared_task
from kombu.exceptions import EncodeError
from saleor_retention_plugin.sandbox.celery_app import app

@shared_task(name="sandbox_check.echo")
def echo(value):
    return value

with app.producer_or_acquire() as first, app.producer_or_acquire() as second:
    print("one producer:", first is second)
print("runs eagerly:", echo.delay({"points": 3}).get())
try:
    echo.delay(object())
except EncodeError:
    print("arguments still go through the serializer")
"""


def test_the_sandbox_runs_tasks_through_celery_with_one_producer_and_the_json_serializer():
    result = subprocess.run(
        [sys.executable, "-c", CELERY_CHECK], cwd=REPO_ROOT, capture_output=True, text=True
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "one producer: True",
        "runs eagerly: {'points': 3}",
        "arguments still go through the serializer",
    ]
