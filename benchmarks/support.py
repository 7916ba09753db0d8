"""What every benchmark shares: its own PostgreSQL database, sizes, clocks and query counts.

The database is ``RETENTION_BENCH_DB`` (default ``retention_bench``) on the server that
``DATABASE_URL`` names (default ``postgres://postgres@127.0.0.1:5432/postgres``); it is
created when missing, migrated, and dropped by the runner (``python -m benchmarks``)
afterwards. A benchmark run on its own (``python -m benchmarks.ledger_path``) keeps it.

Sizes come from ``RETENTION_BENCH_SCALE``: ``full`` (the sizes the goals are stated at,
1 million rows, minutes) or ``small`` (a quick check that everything runs, seconds).
"""

from __future__ import annotations

import os
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_DB = "retention_bench"

_ready = False


@dataclass(frozen=True)
class Scale:
    name: str
    big: int  # "1 million other rows" at full scale
    small: int  # the "10 thousand" side of a comparison
    orders: int  # events timed through the ledger path
    history: int  # entries of the "large" account read
    accounts_small: int  # tier re-evaluation sizes
    accounts_big: int
    changed: int
    reeval_budget_s: float  # the big re-evaluation stops after this and extrapolates


SCALES = {
    "full": Scale("full", 1_000_000, 10_000, 300, 10_000, 1_000, 100_000, 100, 60.0),
    "small": Scale("small", 20_000, 2_000, 40, 1_000, 200, 2_000, 20, 10.0),
}


def scale() -> Scale:
    name = os.environ.get("RETENTION_BENCH_SCALE", "full")
    if name not in SCALES:
        raise SystemExit(f"RETENTION_BENCH_SCALE must be one of {sorted(SCALES)}, not {name!r}")
    return SCALES[name]


def database_name() -> str:
    return os.environ.get("RETENTION_BENCH_DB", DEFAULT_DB)


def server_url() -> str:
    """The server's URL pointing at its maintenance database (``postgres``)."""
    url = os.environ.get("RETENTION_BENCH_SERVER_URL") or os.environ.get(
        "DATABASE_URL", DEFAULT_SERVER_URL
    )
    return url.rsplit("/", 1)[0] + "/postgres"


def create_database() -> None:
    import psycopg

    name = database_name()
    with psycopg.connect(server_url(), autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')


def drop_database() -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(server_url(), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{database_name()}" WITH (FORCE)')


def setup_django() -> None:
    """Point Django at the benchmark database (created, migrated) with the test settings."""
    global _ready
    if _ready:
        return
    create_database()
    os.environ["DATABASE_URL"] = server_url().rsplit("/", 1)[0] + "/" + database_name()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import tests.celery_app  # noqa: F401  (tasks bound to an eager app)

    _ready = True


@contextmanager
def on_connection(wrapper: Any) -> Iterator[None]:
    """Inside, Django's default connection is ``wrapper`` (a ``DatabaseWrapper``).

    The ORM, ``transaction.atomic()`` and ``django.db.connection`` all look the default
    connection up on each use, so the code measured runs on ``wrapper``'s database.
    """
    from django.db import connections

    previous = connections["default"]
    connections["default"] = wrapper
    try:
        yield
    finally:
        connections["default"] = previous


@contextmanager
def second_database(suffix: str) -> Iterator[Any]:
    """A second database, ``<RETENTION_BENCH_DB>_<suffix>``, on a connection of its own.

    Created afresh and migrated; yields its ``DatabaseWrapper`` (use it with
    ``on_connection``) and drops the database afterwards, whatever happened.
    """
    import psycopg
    from django.core.management import call_command
    from django.db import connections

    default = connections["default"]
    name = f"{database_name()}_{suffix}"

    def drop() -> None:
        with psycopg.connect(server_url(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    drop()
    with psycopg.connect(server_url(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    wrapper = type(default)({**default.settings_dict, "NAME": name}, default.alias)
    try:
        with on_connection(wrapper):
            call_command("migrate", verbosity=0)
        yield wrapper
    finally:
        wrapper.close()
        drop()


def execute(sql: str, params: Any = None) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def scalar(sql: str, params: Any = None) -> Any:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


def empty_tables() -> None:
    """Empty every table of the plugin (the benchmark database holds nothing else)."""
    from django.apps import apps

    tables = ", ".join(
        model._meta.db_table
        for model in apps.get_app_config("saleor_retention_plugin").get_models()
    )
    execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


def analyze() -> None:
    execute("ANALYZE")


def timed(function: Callable[[], object]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def median_seconds(function: Callable[[], object], repeat: int) -> float:
    return statistics.median(timed(function) for _ in range(repeat))


class QueryCounter:
    """Counts the SQL statements Django sends (without keeping them: runs may send millions)."""

    def __init__(self) -> None:
        self.count = 0
        self.deadline: float | None = None

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if self.deadline is not None and time.perf_counter() > self.deadline:
            raise BudgetExceeded
        self.count += 1
        return execute(sql, params, many, context)


class BudgetExceeded(Exception):
    """A run took longer than its time budget: it stops and the figure is extrapolated."""


@contextmanager
def counting_queries(budget_seconds: float | None = None) -> Iterator[QueryCounter]:
    from django.db import connection

    counter = QueryCounter()
    if budget_seconds is not None:
        counter.deadline = time.perf_counter() + budget_seconds
    with connection.execute_wrapper(counter):
        yield counter


def ratio(numerator: float, denominator: float) -> float:
    return round(numerator / denominator, 2) if denominator else float("inf")


def verdict(met: bool) -> str:
    return "goal met" if met else "goal NOT met"
