"""``retention-sandbox``: run the simulated store and print what the ledger holds."""

from __future__ import annotations

import argparse
import os
import tempfile
from datetime import UTC, datetime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="retention-sandbox",
        description=(
            "Simulate a small Saleor store for some weeks through the plugin's real services and "
            "tasks, then print balances, pending and expired points and per-customer history. "
            "Uses a fresh SQLite database unless DATABASE_URL is set."
        ),
    )
    parser.add_argument("--weeks", type=int, default=12, help="weeks to simulate (default 12)")
    parser.add_argument(
        "--customers", type=int, default=8, help="customers per channel (default 8)"
    )
    parser.add_argument(
        "--seed", type=int, default=7, help="random seed; the same seed tells the same story"
    )
    parser.add_argument("--start", default="2026-01-05", help="first simulated day, YYYY-MM-DD")
    args = parser.parse_args(argv)
    if args.weeks < 1 or args.customers < 1:
        parser.error("--weeks and --customers must be at least 1")
    try:
        start = datetime.fromisoformat(args.start).replace(tzinfo=UTC)
    except ValueError:
        parser.error(f"--start must be a date such as 2026-01-05, not {args.start!r}")

    with tempfile.TemporaryDirectory(prefix="retention-sandbox-") as scratch:
        os.environ.setdefault("RETENTION_SANDBOX_SQLITE", os.path.join(scratch, "sandbox.sqlite3"))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saleor_retention_plugin.sandbox.settings")
        import django

        django.setup()
        from django.core.management import call_command

        from . import celery_app  # noqa: F401  (before any task is sent)
        from .report import ledger_report
        from .store import SimulatedStore

        database = os.environ.get("DATABASE_URL") or "embedded SQLite (a fresh file for this run)"
        print(f"Database: {database}")
        call_command("migrate", verbosity=0)
        if os.environ.get("DATABASE_URL"):
            call_command("flush", interactive=False, verbosity=0)
        store = SimulatedStore(
            seed=args.seed, weeks=args.weeks, start=start, customers_per_channel=args.customers
        )
        store.plan()
        store.run()
        print(ledger_report(store, now=store.end))
    return 0
