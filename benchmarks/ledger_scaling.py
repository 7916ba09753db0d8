"""How the ledger's background work scales: run ``python -m benchmarks.ledger_scaling``.

Claims checked here (ratios measured in one run, since the machine is shared and noisy):

* The expiry sweep's cost follows the number of lots that are due, not the size of the
  ledger: sweeping the same 200 due lots next to 2,000 or 100,000 live lots takes about
  the same time (the partial index ``retention_lot_expiring_idx`` drives it).
* Crediting an order costs the same whether the customer's history holds 10 or 5,000
  entries.

Uses PostgreSQL (``DATABASE_URL``, default ``postgres://postgres@127.0.0.1:5432/``) and a
database of its own, ``retention_benchmark``, which it empties first.
"""

from __future__ import annotations

import functools
import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

BENCH_DB = "retention_benchmark"


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
    import tests.celery_app  # noqa: F401  (tasks bound to an eager app)


def empty_ledger() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE saleor_retention_plugin_pointslot, saleor_retention_plugin_pointsentry, "
            "saleor_retention_plugin_loyaltyaccount RESTART IDENTITY CASCADE"
        )


def seed_lots(live: int, due: int, now: datetime) -> None:
    """``live`` lots expiring next year and ``due`` lots that expired an hour ago."""
    from saleor_retention_plugin.models import LoyaltyAccount, PointsEntry, PointsLot

    batch = 5_000
    created = 0
    while created < live + due:
        size = min(batch, live + due - created)
        accounts = LoyaltyAccount.objects.bulk_create(
            [
                LoyaltyAccount(channel_slug="bench", customer_id=created + i + 1, balance=10)
                for i in range(size)
            ]
        )
        entries = PointsEntry.objects.bulk_create(
            [
                PointsEntry(
                    account=account,
                    kind="earn",
                    points=10,
                    idempotency_key=f"bench:{account.pk}",
                    created_at=now - timedelta(days=400),
                )
                for account in accounts
            ]
        )
        PointsLot.objects.bulk_create(
            [
                PointsLot(
                    account=account,
                    entry=entry,
                    points=10,
                    remaining=10,
                    available_at=now - timedelta(days=400),
                    expires_at=now - timedelta(hours=1)
                    if created + index < due
                    else now + timedelta(days=365),
                )
                for index, (account, entry) in enumerate(zip(accounts, entries, strict=True))
            ]
        )
        created += size
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def expiry_sweep(live: int, due: int = 200) -> float:
    from saleor_retention_plugin.services.ledger import expire_due_points

    now = datetime.now(UTC)
    empty_ledger()
    seed_lots(live, due, now)
    seconds = timed(lambda: expire_due_points(now))
    from saleor_retention_plugin.models import PointsLot

    assert not PointsLot.objects.expired_by(now).exists()
    return seconds


def credit_with_history(history: int, orders: int = 50) -> float:
    from saleor_retention_plugin.conf import LedgerSettings
    from saleor_retention_plugin.domain.orders import OrderSnapshot
    from saleor_retention_plugin.services.ledger import account_for, sync_order_points

    empty_ledger()
    now = datetime.now(UTC)
    settings = LedgerSettings()

    def order(number: int) -> OrderSnapshot:
        return OrderSnapshot(
            order_id=f"order-{number}",
            number=str(number),
            channel_slug="bench",
            channel_currency="USD",
            currency="USD",
            customer_id=1,
            email="bench@example.com",
            status="unfulfilled",
            is_fully_paid=True,
            points_base_amount=Decimal("25.00"),
            total_amount=Decimal("30.00"),
            refunded_amount=Decimal(0),
            created_at=now,
        )

    account_for("bench", 1, "bench@example.com")
    for number in range(history):
        sync_order_points(order(number), settings, now=now)
    samples = [
        timed(functools.partial(sync_order_points, order(number), settings, now=now))
        for number in range(history, history + orders)
    ]
    return statistics.median(samples)


def main() -> None:
    setup_django()
    small, large = expiry_sweep(live=2_000), expiry_sweep(live=100_000)
    print(
        f"expiry sweep of 200 due lots: {small * 1000:.1f} ms beside 2,000 live lots, "
        f"{large * 1000:.1f} ms beside 100,000 (ratio {large / small:.2f}; 50x more lots)"
    )
    short, long = credit_with_history(10), credit_with_history(5_000)
    print(
        f"crediting one order: median {short * 1000:.2f} ms with 10 entries of history, "
        f"{long * 1000:.2f} ms with 5,000 (ratio {long / short:.2f})"
    )
    empty_ledger()


if __name__ == "__main__":
    main()
