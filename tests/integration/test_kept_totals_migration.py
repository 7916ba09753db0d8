"""Migration 0015: the kept month totals are filled from the qualifying orders already there.

``QualifyingMonth`` must equal the orders summed per account and UTC calendar month (the
same figures ``retention_ledger --verify`` checks), the triggers must keep it from then
on, and going back removes table and triggers while leaving accounts, entries, lots and
orders as they were.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db import connection

from .migration_steps import APP, migrate, migrated_to

BEFORE = [(APP, "0014_flow_enrolments")]
AFTER = [(APP, "0015_kept_account_totals")]
ORDERS = "saleor_retention_plugin_qualifyingorder"
SHANGHAI = timezone(timedelta(hours=8))
NEW_YORK = timezone(timedelta(hours=-5))

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the kept totals are PostgreSQL triggers"
)


@pytest.fixture
def before(transactional_db):
    with migrated_to(BEFORE) as apps:
        yield apps


def recomputed(orders):
    """Per (account, first day of the UTC month): order count, points and amount."""
    months: dict[tuple[int, object], list] = defaultdict(lambda: [0, 0, Decimal(0)])
    for account_id, placed_at, points, amount in orders:
        utc = placed_at.astimezone(UTC)
        month = months[(account_id, utc.date().replace(day=1))]
        month[0] += 1
        month[1] += points
        month[2] += amount
    return {key: tuple(value) for key, value in months.items()}


def kept(apps):
    return {
        (row.account_id, row.month): (row.orders, row.points_earned, row.amount_spent)
        for row in apps.get_model(APP, "QualifyingMonth").objects.all()
    }


def order_rows(apps):
    return [
        (row.account_id, row.placed_at, row.points_earned, row.amount_spent)
        for row in apps.get_model(APP, "QualifyingOrder").objects.all()
    ]


def triggers_on_orders() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal",
            [ORDERS],
        )
        return {name for (name,) in cursor.fetchall()}


def seed_ledger(apps):
    """Two customers and a guest merged into one of them: entries, lots and orders.

    The orders fall on both sides of UTC month ends, and of local midnights that are not.
    """
    Account = apps.get_model(APP, "LoyaltyAccount")
    Entry = apps.get_model(APP, "PointsEntry")
    Lot = apps.get_model(APP, "PointsLot")
    Order = apps.get_model(APP, "QualifyingOrder")
    ann = Account.objects.create(channel_slug="default", customer_id=1, balance=0)
    bob = Account.objects.create(channel_slug="default", customer_id=2, balance=0)
    guest = Account.objects.create(
        channel_slug="default", email="guest@example.com", merged_into=ann, balance=0
    )
    placed = [
        (ann, datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC), 10, "10.00"),
        (ann, datetime(2026, 2, 1, 0, 0, tzinfo=UTC), 20, "20.50"),
        # 1 March 06:30 in Shanghai is still February in UTC.
        (ann, datetime(2026, 3, 1, 6, 30, tzinfo=SHANGHAI), 30, "30.25"),
        # 31 March 21:00 in New York is already April in UTC.
        (ann, datetime(2026, 3, 31, 21, 0, tzinfo=NEW_YORK), 40, "40.00"),
        (ann, datetime(2026, 4, 15, 12, 0, tzinfo=UTC), 0, "0.00"),  # cancelled: counts 0
        (bob, datetime(2026, 2, 14, 9, 0, tzinfo=UTC), 7, "7.77"),
        (bob, datetime(2026, 2, 28, 23, 0, tzinfo=UTC), 3, "3.33"),
        (guest, datetime(2025, 12, 24, 18, 0, tzinfo=UTC), 5, "5.00"),
    ]
    for index, (account, at, points, amount) in enumerate(placed):
        entry = Entry.objects.create(
            account=account,
            kind="earn",
            points=points or 1,
            idempotency_key=f"order:o-{index}:earn",
            order_id=f"o-{index}",
            created_at=at,
        )
        Lot.objects.create(
            account=account,
            entry=entry,
            order_id=f"o-{index}",
            points=points or 1,
            remaining=points or 1,
            available_at=at,
        )
        account.balance += points or 1
        account.lifetime_earned += points or 1
        account.save()
        Order.objects.create(
            account=account,
            order_id=f"o-{index}",
            points_earned=points,
            amount_spent=Decimal(amount),
            currency="USD",
            placed_at=at,
        )
    return ann, bob, guest


def ledger_rows(apps):
    return (
        sorted(
            apps.get_model(APP, "LoyaltyAccount").objects.values_list(
                "pk", "balance", "lifetime_earned", "merged_into_id"
            )
        ),
        sorted(
            apps.get_model(APP, "PointsEntry").objects.values_list("pk", "account_id", "points")
        ),
        sorted(
            apps.get_model(APP, "PointsLot").objects.values_list("pk", "account_id", "remaining")
        ),
    )


def test_the_kept_month_totals_are_filled_from_the_orders_then_kept_and_removed_going_back(
    before,
):
    ann, bob, _ = seed_ledger(before)
    ledger_before = ledger_rows(before)
    assert not triggers_on_orders()

    after = migrate(AFTER)

    orders = order_rows(after)
    assert kept(after) == recomputed(orders)
    assert kept(after)[(ann.pk, datetime(2026, 2, 1).date())] == (2, 50, Decimal("50.75"))
    assert kept(after)[(ann.pk, datetime(2026, 4, 1).date())] == (2, 40, Decimal("40.00"))
    assert kept(after)[(bob.pk, datetime(2026, 2, 1).date())] == (2, 10, Decimal("11.10"))
    assert ledger_rows(after) == ledger_before
    assert triggers_on_orders() == {
        "retention_qualifying_months_insert",
        "retention_qualifying_months_update",
        "retention_qualifying_months_delete",
    }

    # From now on the triggers keep the totals, whoever writes the orders.
    Order = after.get_model(APP, "QualifyingOrder")
    Order.objects.create(
        account_id=bob.pk,
        order_id="o-new",
        points_earned=9,
        amount_spent=Decimal("9.00"),
        currency="USD",
        placed_at=datetime(2026, 2, 20, tzinfo=UTC),
    )
    Order.objects.filter(order_id="o-1").update(points_earned=0, amount_spent=Decimal(0))
    Order.objects.filter(order_id="o-3").update(placed_at=datetime(2026, 5, 2, tzinfo=UTC))
    Order.objects.filter(order_id="o-7").delete()
    totals, expected = kept(after), recomputed(order_rows(after))
    assert {key: value for key, value in totals.items() if value[0]} == expected
    # A month whose orders all left keeps its row, at zero.
    assert {value for value in totals.values() if not value[0]} == {(0, 0, Decimal("0.00"))}
    orders = order_rows(after)

    back = migrate(BEFORE)

    assert not triggers_on_orders()
    assert "saleor_retention_plugin_qualifyingmonth" not in connection.introspection.table_names()
    assert ledger_rows(back) == ledger_before
    assert sorted(order_rows(back)) == sorted(orders)

    again = migrate(AFTER)

    assert kept(again) == recomputed(order_rows(again))
