"""Points expire per lot at the end of the merchant's day; the sweep is idempotent and batched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from saleor_retention_plugin.models import LoyaltyAccount, PointsEntry, PointsLot
from saleor_retention_plugin.services import ledger
from saleor_retention_plugin.tasks import expire_due_points_task

from .conftest import assert_ledger_consistent, later

pytestmark = pytest.mark.django_db

# 10:00 UTC on 15 January 2026 is 18:00 in Shanghai: the same local day.
EARNED_AT = datetime(2026, 1, 15, 10, tzinfo=UTC)
# The end of 15 February 2026 in Shanghai (UTC+8).
END_OF_LOCAL_DAY = datetime(2026, 2, 15, 15, 59, 59, 999999, tzinfo=UTC)


@pytest.fixture
def shanghai(make_settings):
    return make_settings(expiry_months=1, timezone="Asia/Shanghai")


def earn(make_order, settings, points: int, at: datetime, **order_changes) -> int:
    with time_machine.travel(at, tick=False):
        outcome = ledger.sync_order_points(
            make_order(points_base_amount=points, **order_changes), settings
        )
    assert outcome.account_id is not None
    return outcome.account_id


def test_points_expire_at_the_end_of_the_local_day_months_after_they_were_earned(
    make_order, shanghai
):
    account_id = earn(make_order, shanghai, 100, EARNED_AT)
    assert PointsLot.objects.get().expires_at == END_OF_LOCAL_DAY

    assert ledger.expire_due_points(now=END_OF_LOCAL_DAY - timedelta(microseconds=1)) == 0
    assert LoyaltyAccount.objects.get(pk=account_id).balance == 100

    assert ledger.expire_due_points(now=END_OF_LOCAL_DAY) == 100

    account = LoyaltyAccount.objects.get(pk=account_id)
    assert account.balance == 0
    assert account.lifetime_earned == 100
    expired = account.entries.get(kind="expire")
    assert expired.points == -100
    assert_ledger_consistent(account)


def test_each_lot_expires_on_its_own_date(make_order, shanghai):
    account_id = earn(make_order, shanghai, 100, EARNED_AT)
    earn(make_order, shanghai, 30, EARNED_AT + timedelta(days=10))

    assert ledger.expire_due_points(now=END_OF_LOCAL_DAY + timedelta(days=1)) == 100

    summary = ledger.summarise_account(
        LoyaltyAccount.objects.get(pk=account_id), now=END_OF_LOCAL_DAY + timedelta(days=1)
    )
    assert (summary.balance, summary.spendable) == (30, 30)


def test_expiry_only_takes_what_is_left_of_a_partly_spent_lot(make_order, shanghai):
    account_id = earn(make_order, shanghai, 100, EARNED_AT)
    ledger.spend_points(account_id, 70, idempotency_key="spend", now=EARNED_AT)

    assert ledger.expire_due_points(now=END_OF_LOCAL_DAY) == 30

    account = LoyaltyAccount.objects.get(pk=account_id)
    assert account.balance == 0
    assert_ledger_consistent(account)


def test_points_that_never_expire_are_never_swept(make_order, make_settings):
    account_id = earn(make_order, make_settings(), 100, EARNED_AT)

    assert ledger.expire_due_points(now=EARNED_AT + timedelta(days=365 * 50)) == 0
    assert LoyaltyAccount.objects.get(pk=account_id).balance == 100


def test_summary_warns_about_points_expiring_soon(make_order, shanghai):
    account_id = earn(make_order, shanghai, 100, EARNED_AT)
    account = LoyaltyAccount.objects.get(pk=account_id)

    far = ledger.summarise_account(account, now=EARNED_AT, expiring_within_days=7)
    near = ledger.summarise_account(
        account, now=END_OF_LOCAL_DAY - timedelta(days=3), expiring_within_days=7
    )
    unswept = ledger.summarise_account(account, now=END_OF_LOCAL_DAY + timedelta(hours=1))

    assert far.expiring_soon == ()
    assert [(item.points, item.expires_at) for item in near.expiring_soon] == [
        (100, END_OF_LOCAL_DAY)
    ]
    assert (unswept.balance, unswept.spendable) == (100, 0)  # expired, not yet swept


def test_the_expiry_sweep_is_idempotent_and_works_in_batches(make_order, shanghai):
    account_ids = {
        earn(make_order, shanghai, 10 + n, EARNED_AT, customer_id=n, email=f"c{n}@example.com")
        for n in range(1, 8)
    }

    first = ledger.expire_due_points(now=END_OF_LOCAL_DAY, batch_size=3)
    second = ledger.expire_due_points(now=END_OF_LOCAL_DAY, batch_size=3)

    assert first == sum(10 + n for n in range(1, 8))
    assert second == 0
    assert PointsEntry.objects.filter(kind="expire").count() == 7
    for account in LoyaltyAccount.objects.filter(pk__in=account_ids):
        assert account.balance == 0
        assert_ledger_consistent(account)


def test_expiry_sweep_runs_as_a_celery_task(make_order, shanghai):
    account_id = earn(make_order, shanghai, 100, EARNED_AT)

    with time_machine.travel(END_OF_LOCAL_DAY + timedelta(seconds=1), tick=False):
        assert expire_due_points_task.delay().get() == 100
        assert expire_due_points_task.delay().get() == 0

    assert LoyaltyAccount.objects.get(pk=account_id).balance == 0


def test_expiry_in_a_negative_balance_changes_nothing(make_order, make_settings):
    settings = make_settings(expiry_months=1)
    order = make_order()
    account_id = earn(make_order, settings, 50, EARNED_AT)
    with time_machine.travel(EARNED_AT, tick=False):
        ledger.sync_order_points(order, settings)
        ledger.spend_points(account_id, 150, idempotency_key="all")
        ledger.sync_order_points(later(order, status="canceled"), settings)

    assert ledger.expire_due_points(now=EARNED_AT + timedelta(days=400)) == 0
    account = LoyaltyAccount.objects.get(pk=account_id)
    assert account.balance == -100
    assert_ledger_consistent(account)


@pytest.mark.parametrize(
    "moment",
    [EARNED_AT, EARNED_AT + timedelta(days=8), END_OF_LOCAL_DAY + timedelta(hours=1)],
    ids=["pending", "spendable", "expired, not yet swept"],
)
def test_the_summary_read_with_the_account_agrees_with_the_full_summary(
    make_order, make_settings, moment
):
    """What the metadata mirror shows (one query with the account) is what the API shows."""
    settings = make_settings(expiry_months=1, timezone="Asia/Shanghai", pending_days=7)
    account_id = earn(make_order, settings, 100, EARNED_AT)
    earn(make_order, make_settings(), 30, EARNED_AT)  # never expires, spendable at once
    account = LoyaltyAccount.objects.get(pk=account_id)

    full = ledger.summarise_account(account, now=moment)
    read_with = ledger.summary_from_lots(
        ledger.with_points_in_lots(LoyaltyAccount.objects.filter(pk=account_id), moment).get()
    )

    assert (read_with.balance, read_with.spendable, read_with.pending) == (
        full.balance,
        full.spendable,
        full.pending,
    )
    assert read_with.lifetime_earned == full.lifetime_earned == 130
