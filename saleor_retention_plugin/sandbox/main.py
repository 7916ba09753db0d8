"""``retention-sandbox``: run the simulated store and print what the ledger holds.

``retention-sandbox manage <command> [args]`` runs a Django management command (for example
``retention_ledger --verify`` or ``retention_graphql_schema``) on the sandbox's settings and
the database ``DATABASE_URL`` names: the way into a sandbox database outside Saleor, which
has no ``manage.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
from typing import TYPE_CHECKING

from .options import (
    MAX_CUSTOMERS,
    MAX_WEEKS,
    OneLineErrors,
    check_the_story_fits,
    count,
    json_file,
    start_day,
)

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterator
    from datetime import datetime

SANDBOX_SETTINGS = "saleor_retention_plugin.sandbox.settings"
# The plugin's commands that read its tables (retention_graphql_schema needs none).
COMMANDS_READING_TABLES = {"retention_ledger", "retention_outbox"}


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["manage"]:
        return manage(arguments[1:])
    parser = OneLineErrors(
        prog="retention-sandbox",
        description=(
            "Simulate a small Saleor store for some weeks through the plugin's real services and "
            "tasks, then print balances, pending and expired points and per-customer history. "
            "Uses a fresh SQLite database unless DATABASE_URL is set. On a DATABASE_URL "
            "database whose retention tables already hold data the sandbox refuses to run "
            "unless --reset is given; --reset empties only the retention plugin's own tables, "
            "never any other table of that database. A PostgreSQL database that does not "
            "exist yet is created."
        ),
        epilog=(
            "retention-sandbox manage <command> [args] runs a Django management command on "
            "the sandbox's settings and the DATABASE_URL database, e.g. "
            "'retention-sandbox manage retention_ledger --verify'."
        ),
    )
    parser.add_argument("--weeks", type=count(MAX_WEEKS), default=12, help="weeks to simulate (12)")
    parser.add_argument(
        "--customers",
        type=count(MAX_CUSTOMERS),
        default=8,
        help="customers per channel (8)",
    )
    parser.add_argument(
        "--seed", type=int, default=7, help="random seed; the same seed tells the same story"
    )
    parser.add_argument(
        "--start",
        type=start_day,
        default="2026-01-05",
        help="first simulated day, YYYY-MM-DD (from its midnight UTC)",
    )
    parser.add_argument(
        "--json",
        type=json_file,
        metavar="FILE",
        help="also write every figure (every account, lots expiring soon) to FILE as JSON",
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help=(
            "with DATABASE_URL: empty the retention plugin's tables (and only those) before "
            "simulating, e.g. to rerun on a database an earlier sandbox run filled"
        ),
    )
    parser.add_argument(
        "--dataset",
        choices=["simulated", "cdnow"],
        default="simulated",
        help="cdnow: import the real CDNOW purchase history and print its retention report",
    )
    parser.add_argument(
        "--html", help="also write the retention report as HTML (simulated: one file per channel)"
    )
    args = parser.parse_args(arguments)
    start = args.start
    if problem := check_the_story_fits(start, args.weeks):
        parser.error(problem)
    try:
        return run(args, start)
    except KeyboardInterrupt:
        # The scratch directory and a half-written --json file are gone by now.
        print("\nretention-sandbox: interrupted; nothing was left behind", file=sys.stderr)
        return 130


def run(args: argparse.Namespace, start: datetime) -> int:
    one_blas_thread()
    with tempfile.TemporaryDirectory(prefix="retention-sandbox-") as scratch:
        # Assigned, not defaulted: a shell set up for Saleor exports
        # DJANGO_SETTINGS_MODULE=saleor.settings, and the sandbox must never run on those.
        os.environ["RETENTION_SANDBOX_SQLITE"] = os.path.join(scratch, "sandbox.sqlite3")
        os.environ["DJANGO_SETTINGS_MODULE"] = SANDBOX_SETTINGS
        import django

        django.setup()
        from django.core.management import call_command

        from . import celery_app  # noqa: F401  (before any task is sent)
        from .progress import ProgressBar
        from .report import collect, render
        from .store import SimulatedStore, use_throwaway_sqlite

        database_url = os.environ.get("DATABASE_URL")
        if not database_url:
            use_throwaway_sqlite()
        print(f"Database: {database_url or 'embedded SQLite (a fresh file for this run)'}")
        if database_url:
            problem = reach_database(create=True)
            if problem:
                print(f"retention-sandbox: {problem}", file=sys.stderr)
                return 1
            filled = plugin_tables_holding_data()
            if filled and not args.reset:
                print(
                    "retention-sandbox: the retention tables of this database already hold data "
                    f"({', '.join(filled)}). Nothing was changed. Run again with --reset to "
                    "empty the retention plugin's tables (no other table is touched), or point "
                    "DATABASE_URL at another database.",
                    file=sys.stderr,
                )
                return 1
        # Ctrl-C while migrating (a few seconds) stops once the schema is in place: raised
        # in the middle of migrate, it was sometimes lost and the run went on.
        with stopping_between_events() as stop_requested:
            call_command("migrate", verbosity=0)
            if database_url and args.reset:
                empty_plugin_tables()
        if stop_requested():
            raise KeyboardInterrupt
        if args.dataset == "cdnow":
            from .cdnow import run_cdnow

            return run_cdnow(html=args.html, json_path=args.json)
        store = SimulatedStore(
            seed=args.seed, weeks=args.weeks, start=start, customers_per_channel=args.customers
        )
        store.plan()
        progress = ProgressBar(start, store.horizon)
        try:
            with stopping_between_events() as stop_requested:

                def tick(now: datetime) -> None:
                    if stop_requested():
                        raise KeyboardInterrupt
                    progress(now)

                store.run(progress=tick)
        except KeyboardInterrupt:
            progress.close()
            # How far the story got: what a long run's progress bar last showed.
            print(
                f"retention-sandbox: stopped at simulated {store.now:%Y-%m-%d %H:%M} UTC "
                f"of {store.horizon:%Y-%m-%d}",
                file=sys.stderr,
            )
            raise
        finally:
            progress.close()
        data = collect(store, now=store.end)
        if args.json:
            write_json(args.json, data)
        print(render(data, json_file=args.json))
        # The same retention report a merchant gets from retention_report, per channel.
        from .cdnow import print_store_reports

        print_store_reports(store, html=args.html)
    return 0


def one_blas_thread() -> None:
    """Let NumPy's and SciPy's OpenBLAS start one thread, unless the user chose a number.

    The segment refresh's model fits (L-BFGS-B on a handful of parameters) gain nothing from
    more, and on a busy two-core machine the second, waiting thread made a fit of 1,000
    customers cost 0.7 CPU s instead of 0.05 (the same estimates). OpenBLAS reads
    ``OPENBLAS_NUM_THREADS`` when it loads: call this before NumPy is imported.
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


@contextlib.contextmanager
def stopping_between_events() -> Iterator[Callable[[], bool]]:
    """Ctrl-C while simulating stops at the next event, not wherever the signal lands (in a
    transaction, or a finaliser that would swallow it); the cleanup then runs as usual.
    """
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield lambda: bool(received)
    finally:
        signal.signal(signal.SIGINT, previous)


def write_json(path: str, data: dict[str, object]) -> None:
    """Write through a temporary file beside it: an interrupted run leaves no half file."""
    directory = os.path.dirname(os.path.abspath(path))
    with tempfile.NamedTemporaryFile(
        "w", dir=directory, prefix=".retention-sandbox-", suffix=".json", delete=False
    ) as file:
        try:
            json.dump(data, file, indent=2, default=str, ensure_ascii=False)
        except BaseException:
            os.unlink(file.name)
            raise
    os.replace(file.name, path)


def manage(argv: list[str]) -> int:
    """Run ``django-admin <argv>`` on the sandbox's settings and ``DATABASE_URL``.

    Exits 2 without ``DATABASE_URL`` (a default sandbox run keeps its SQLite file only for
    that run) and 1 when the database cannot be reached; otherwise Django's own exit code.
    """
    if not argv or argv[0] in {"-h", "--help"}:
        print(
            "usage: retention-sandbox manage <command> [args]\n\n"
            "Runs a Django management command on the sandbox's settings and the database "
            "DATABASE_URL names, e.g.\n"
            "  DATABASE_URL=postgres://postgres@127.0.0.1:5432/retention_sandbox "
            "retention-sandbox manage retention_ledger --verify"
        )
        return 0 if argv else 2
    if not os.environ.get("DATABASE_URL"):
        print(
            "retention-sandbox manage: set DATABASE_URL to the sandbox's database (without it "
            "each sandbox run uses a temporary SQLite file that is deleted when the run ends).",
            file=sys.stderr,
        )
        return 2
    os.environ["DJANGO_SETTINGS_MODULE"] = SANDBOX_SETTINGS
    import django

    django.setup()
    problem = reach_database(create=False)
    if problem:
        print(f"retention-sandbox manage: {problem}", file=sys.stderr)
        return 1
    if argv[0] in COMMANDS_READING_TABLES and not plugin_tables():
        print(
            "retention-sandbox manage: this database has no retention tables yet; run the "
            "sandbox on it first (or 'retention-sandbox manage migrate').",
            file=sys.stderr,
        )
        return 1
    from django.core.management import execute_from_command_line

    execute_from_command_line(["retention-sandbox manage", *argv])
    return 0


def reach_database(*, create: bool) -> str | None:
    """Connect to the configured database; create a missing PostgreSQL one if ``create``.

    Returns None when connected, else one line saying what is wrong and what to do.
    """
    from django.core.exceptions import ImproperlyConfigured
    from django.db import DatabaseError, OperationalError, connection

    name = connection.settings_dict["NAME"]
    try:
        connection.ensure_connection()
        return None
    except ImproperlyConfigured as error:
        return f"cannot use DATABASE_URL: {first_line(error)}"
    except OperationalError as error:
        missing = connection.vendor == "postgresql" and "does not exist" in str(error)
        if not missing:
            return f"cannot connect to the DATABASE_URL database: {first_line(error)}"
        if not create:
            return (
                f"database {name!r} does not exist; run the sandbox on it first "
                "(DATABASE_URL=... retention-sandbox creates it)"
            )
    try:
        # The maintenance database, as Django's own test runner reaches it to create one.
        with connection._nodb_cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {connection.ops.quote_name(name)}")
        connection.ensure_connection()
    except DatabaseError as error:
        return f"database {name!r} does not exist and could not be created: {first_line(error)}"
    print(f"Created database {name!r}")
    return None


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def plugin_tables() -> list[str]:
    """The existing tables of the retention plugin's own models, nothing else."""
    from django.apps import apps
    from django.db import connection

    models = apps.get_app_config("saleor_retention_plugin").get_models(include_auto_created=True)
    own = {model._meta.db_table for model in models if model._meta.managed}
    existing = set(connection.introspection.table_names())
    return sorted(own & existing)


def plugin_tables_holding_data() -> list[str]:
    from django.db import connection

    filled = []
    with connection.cursor() as cursor:
        for table in plugin_tables():
            cursor.execute(f"SELECT 1 FROM {connection.ops.quote_name(table)} LIMIT 1")
            if cursor.fetchone() is not None:
                filled.append(table)
    return filled


def empty_plugin_tables() -> None:
    """Empty the plugin's tables and restart their ids; unlike ``flush``, no other table."""
    from django.core.management.color import no_style
    from django.db import connection, transaction

    statements = connection.ops.sql_flush(no_style(), plugin_tables(), reset_sequences=True)
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
