"""The daily tier re-evaluation against the shop's size: ``python -m benchmarks.tier_reevaluation``.

Claim checked (issue 12): the daily run's cost follows the accounts whose qualifying
window changed, not the number of accounts. The same 100 due accounts (their only order
left the 12-month window) are re-evaluated beside 1,000 and 100,000 accounts that nothing
happened to; the run finds them by the partial index ``retention_reevaluation_due_idx``.
Prints one JSON line per size and a one-line summary.

Uses PostgreSQL (``DATABASE_URL``, default ``postgres://postgres@127.0.0.1:5432/``) and a
database of its own, ``retention_benchmark_tiers``, which it empties first.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

BENCH_DB = "retention_benchmark_tiers"
CHANNEL = "bench"
DUE = 100
SIZES = (1_000, 100_000)


def setup_django() -> None:
    import psycopg

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    with psycopg.connect(base, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (BENCH_DB,)
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{BENCH_DB}"')
    os.environ["DATABASE_URL"] = base.rsplit("/", 1)[0] + "/" + BENCH_DB
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed(accounts: int, now: datetime) -> None:
    """``accounts`` Silver members; the first ``DUE`` ordered 13 months ago (their order
    left the window today), the others last month."""
    from django.db import connection

    from saleor_retention_plugin.conf import MembershipSettings
    from saleor_retention_plugin.domain.tiers import leaves_window_at
    from saleor_retention_plugin.models import (
        CustomerTier,
        LoyaltyAccount,
        MembershipTier,
        QualifyingOrder,
    )
    from saleor_retention_plugin.services import tiers

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE saleor_retention_plugin_loyaltyaccount, "
            "saleor_retention_plugin_membershiptier RESTART IDENTITY CASCADE"
        )
    tiers.seed_default_tiers(CHANNEL, MembershipSettings())
    silver = MembershipTier.objects.get(channel_slug=CHANNEL, code="silver")
    batch = 5_000
    for start in range(0, accounts, batch):
        rows = LoyaltyAccount.objects.bulk_create(
            LoyaltyAccount(channel_slug=CHANNEL, customer_id=i, balance=0)
            for i in range(start, min(start + batch, accounts))
        )
        placed = [
            now - timedelta(days=400) if index < DUE else now - timedelta(days=30)
            for index in range(start, start + len(rows))
        ]
        QualifyingOrder.objects.bulk_create(
            QualifyingOrder(
                account=row,
                order_id=f"order-{row.customer_id}",
                points_earned=1500,
                amount_spent=Decimal(1500),
                currency="USD",
                placed_at=when,
            )
            for row, when in zip(rows, placed, strict=True)
        )
        CustomerTier.objects.bulk_create(
            CustomerTier(
                account=row,
                channel_slug=CHANNEL,
                tier=silver,
                achieved_at=when,
                last_evaluated_at=when,
                next_reevaluation_at=leaves_window_at(when, 12),
            )
            for row, when in zip(rows, placed, strict=True)
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def measure(accounts: int) -> dict[str, object]:
    from saleor_retention_plugin.conf import MembershipSettings
    from saleor_retention_plugin.services import tiers

    now = datetime.now(UTC)
    seed(accounts, now)
    started = time.perf_counter()
    report = tiers.reevaluate_channel(CHANNEL, settings=MembershipSettings(), now=now)
    seconds = time.perf_counter() - started
    assert report.evaluated == DUE, report
    return {
        "benchmark": "tier_reevaluation",
        "accounts": accounts,
        "due": DUE,
        "evaluated": report.evaluated,
        "grace_started": report.grace_started,
        "seconds": round(seconds, 3),
    }


def main() -> None:
    setup_django()
    results = [measure(size) for size in SIZES]
    for result in results:
        print(json.dumps(result))
    small, large = results
    ratio = float(large["seconds"]) / float(small["seconds"])  # type: ignore[arg-type]
    print(
        f"tier re-evaluation: {DUE} due accounts in {small['seconds']} s beside "
        f"{SIZES[0]:,} accounts, {large['seconds']} s beside {SIZES[1]:,} (ratio {ratio:.2f})"
    )


if __name__ == "__main__":
    main()
