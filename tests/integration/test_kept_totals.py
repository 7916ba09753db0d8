"""Kept totals for the account read (issue 12).

Month totals of qualifying orders kept by the database, tier progress read from them,
and ``retention_ledger`` checking them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from saleor_retention_plugin.domain import tiers as rules
from saleor_retention_plugin.models import LoyaltyAccount, QualifyingMonth, QualifyingOrder
from saleor_retention_plugin.services.tiers import progress

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LADDER = [
    rules.TierRule(1, 1, rules.Basis.POINTS_EARNED, Decimal(0), 0),
    rules.TierRule(2, 2, rules.Basis.AMOUNT_SPENT, Decimal(100), 3),
    rules.TierRule(3, 3, rules.Basis.POINTS_EARNED, Decimal(500), 12),
]


def record(account: LoyaltyAccount, order_id: str, placed_at: datetime, points: int) -> None:
    QualifyingOrder.objects.create(
        account=account,
        order_id=order_id,
        points_earned=points,
        amount_spent=Decimal(points) / 10,
        currency="USD",
        placed_at=placed_at,
    )


def kept(account: LoyaltyAccount) -> dict[str, tuple[int, int, Decimal]]:
    return {
        f"{row.month:%Y-%m}": (row.orders, row.points_earned, row.amount_spent)
        for row in QualifyingMonth.objects.filter(account=account)
        if row.orders
    }


@pytest.fixture
def account() -> LoyaltyAccount:
    return LoyaltyAccount.objects.create(channel_slug="main", customer_id=7)


def test_every_write_of_a_qualifying_order_moves_its_month(account):
    record(account, "a", datetime(2026, 10, 31, 23, 0, tzinfo=UTC), 100)
    record(account, "b", datetime(2026, 11, 1, 0, 30, tzinfo=UTC), 50)
    assert kept(account) == {
        "2026-10": (1, 100, Decimal("10.00")),
        "2026-11": (1, 50, Decimal("5.00")),
    }

    QualifyingOrder.objects.filter(order_id="a").update(points_earned=0, amount_spent=0)
    QualifyingOrder.objects.filter(order_id="b").update(placed_at=datetime(2026, 9, 5, tzinfo=UTC))
    assert kept(account) == {"2026-10": (1, 0, Decimal("0.00")), "2026-09": (1, 50, Decimal("5"))}

    QualifyingOrder.objects.all().delete()
    assert kept(account) == {}


def test_tier_totals_from_kept_months_equal_the_orders_summed(account):
    # Orders around every edge: each window's first (partial) month, its last day, the
    # future (placed after now: in a month total, in no window), a guest merged in.
    guest = LoyaltyAccount.objects.create(channel_slug="main", email="g@example.com")
    moments = [
        NOW - timedelta(days=d, hours=h)
        for d in (0, 1, 20, 91, 92, 93, 200, 364, 365, 366, 900)
        for h in (0, 5)
    ] + [NOW + timedelta(hours=1), NOW + timedelta(days=15)]
    for number, moment in enumerate(moments):
        record(account if number % 3 else guest, f"o{number}", moment, 10 + number)
    guest.merged_into = account
    guest.save()

    kept_totals, kept_earliest = progress._kept_activity(account.pk, LADDER, NOW, earliest=True)
    summed, summed_earliest = progress._summed_activity(account.pk, LADDER, NOW)

    assert kept_totals == summed
    assert kept_earliest == summed_earliest
    assert progress._totals(account.pk, LADDER, NOW) == summed
    assert set(kept_totals) == {0, 3, 12}
    assert kept_totals[0].points_earned > kept_totals[12].points_earned > 0


def test_the_account_read_takes_whole_months_from_the_kept_totals(account):
    """Orders of a whole month inside the window are not read.

    Changing them behind the triggers' back changes the orders' sum but not the read.
    """
    record(account, "middle", datetime(2026, 8, 10, tzinfo=UTC), 40)
    record(account, "edge", NOW - timedelta(days=40), 10)  # current window's edges
    table = QualifyingOrder._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending foreign-key checks
        cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        cursor.execute(f"UPDATE {table} SET points_earned = 0 WHERE order_id = 'middle'")
        cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")

    assert progress._totals(account.pk, LADDER, NOW)[12].points_earned == 50
    assert progress._activity(account.pk, LADDER, NOW)[0][12].points_earned == 50
    assert progress._summed_activity(account.pk, LADDER, NOW)[0][12].points_earned == 10


def retention_ledger(*args: str) -> str:
    out = StringIO()
    call_command("retention_ledger", *args, stdout=out)
    return out.getvalue()


def test_verify_finds_drifted_month_totals_and_rebuild_repairs_them(account):
    record(account, "a", NOW - timedelta(days=3), 100)
    assert "Every kept month total matches its orders." in retention_ledger("--verify")
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {QualifyingMonth._meta.db_table} SET points_earned = 7 WHERE account_id = %s",
            [account.pk],
        )

    out = StringIO()
    with pytest.raises(CommandError, match="month totals"):
        call_command("retention_ledger", "--verify", stdout=out)
    assert f"account {account.pk}, month 2026-11" in out.getvalue()

    assert "Rebuilt the month totals of 1 accounts." in retention_ledger("--rebuild")
    assert kept(account) == {"2026-11": (1, 100, Decimal("10.00"))}
    assert "Every kept month total matches its orders." in retention_ledger("--verify")
