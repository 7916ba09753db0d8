"""The order intake's opening statement reads what the ORM reads, and locks what it locked.

``services.order_opening`` replaces three ORM reads (the order's entries, the account
locked with its tier row, the ladder with multipliers and member day) by one hand-written
statement; its instances must be the ORM's, field for field, and its lock the same.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from django.db import connection, transaction
from django.forms.models import model_to_dict
from django.utils import timezone

from saleor_retention_plugin.conf import LedgerSettings
from saleor_retention_plugin.domain.orders import OrderSnapshot
from saleor_retention_plugin.models import (
    BenefitKind,
    CustomerTier,
    LoyaltyAccount,
    MemberDay,
    MembershipTier,
    PointsEntry,
    TierBenefit,
)
from saleor_retention_plugin.services import order_opening, tiers
from saleor_retention_plugin.services.ledger import sync_order_points

CHANNEL = "main"

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the opening statement is PostgreSQL's"
)


def snapshot(customer_id: int | None, email: str | None, **changes) -> OrderSnapshot:
    values: dict[str, Any] = {
        "order_id": str(uuid.uuid4()),
        "number": "1",
        "channel_slug": CHANNEL,
        "channel_currency": "USD",
        "currency": "USD",
        "customer_id": customer_id,
        "email": email,
        "status": "unfulfilled",
        "is_fully_paid": True,
        "points_base_amount": Decimal("100"),
        "total_amount": Decimal("120"),
        "refunded_amount": Decimal(0),
        "created_at": timezone.now(),
    }
    values.update(changes)
    return OrderSnapshot(**values)


def multiplier(tier: MembershipTier) -> Decimal | None:
    # An annotation, as the ORM's ``Subquery`` sets it on each tier (not a model field).
    return tier.multiplier  # type: ignore[attr-defined]


def fields(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.fields}


@pytest.mark.django_db
def test_the_opening_reads_the_entries_account_tier_row_and_ladder_as_the_orm_does():
    ladder = tiers.seed_default_tiers(CHANNEL)
    gold = ladder[-1]
    TierBenefit.objects.create(
        tier=gold, kind=BenefitKind.POINTS_MULTIPLIER, value=Decimal("1.50"), is_active=True
    )
    now = timezone.now()
    MemberDay.objects.create(
        channel_slug=CHANNEL,
        name="Member day",
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=1),
        multiplier=Decimal("2.00"),
    )
    customer = LoyaltyAccount.objects.create(
        channel_slug=CHANNEL, customer_id=7, email="ann@example.com", balance=40
    )
    guest = LoyaltyAccount.objects.create(channel_slug=CHANNEL, email="ann@example.com")
    CustomerTier.objects.create(
        account=customer, channel_slug=CHANNEL, tier=gold, achieved_at=now - timedelta(days=3)
    )
    order = snapshot(7, "ann@example.com", email_verified=True)

    with transaction.atomic():
        opened = order_opening.open_order(order, merge_guests=True, email="ann@example.com")

        assert opened.entries == []
        assert [fields(account) for account in opened.accounts] == [
            fields(LoyaltyAccount.objects.get(pk=customer.pk)),
            fields(LoyaltyAccount.objects.get(pk=guest.pk)),
        ]
        assert fields(opened.accounts[0].membership) == fields(
            CustomerTier.objects.get(account=customer)
        )
        # No tier row: known to be none (cached), so nothing reads it again.
        assert LoyaltyAccount.membership.is_cached(opened.accounts[1])
        assert getattr(opened.accounts[1], "membership", None) is None
        standing = tiers.tier_standing(customer, member_day_at=order.created_at)
        assert [model_to_dict(tier) for tier in opened.tiers] == [
            model_to_dict(tier) for tier in standing.tiers
        ]
        assert [multiplier(tier) for tier in opened.tiers] == [
            multiplier(tier) for tier in standing.tiers
        ]
        assert multiplier(opened.tiers[-1]) == Decimal("1.50")
        assert opened.tiers[0].name == MembershipTier.objects.get(pk=ladder[0].pk).name
        assert opened.member_day_multiplier == standing.member_day_multiplier == Decimal(2)

    # Once booked, the order's entries are read, newest first, and their account locked
    # (not the customer's by id: here a guest order of the same email).
    guest_order = snapshot(None, "ann@example.com")
    sync_order_points(guest_order, LedgerSettings())
    with transaction.atomic():
        opened = order_opening.open_order(guest_order, merge_guests=False, email="ann@example.com")
        assert opened.entries == list(
            PointsEntry.objects.for_order(guest_order.order_id).values(
                "kind", "points", "written_off", "account_id"
            )
        )
        assert [account.pk for account in opened.accounts] == [guest.pk]


@pytest.mark.django_db(transaction=True)
def test_the_opening_holds_the_accounts_lock_until_the_intake_commits():
    account = LoyaltyAccount.objects.create(channel_slug=CHANNEL, customer_id=9)
    order = snapshot(9, "bo@example.com")
    settings = connection.settings_dict
    dsn = psycopg.conninfo.make_conninfo(
        dbname=settings["NAME"],
        user=settings["USER"],
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        password=settings["PASSWORD"] or None,
    )

    def try_lock() -> bool:
        with psycopg.connect(dsn, autocommit=True) as other:
            try:
                other.execute(
                    f"SELECT 1 FROM {LoyaltyAccount._meta.db_table} WHERE id = %s "
                    "FOR UPDATE NOWAIT",
                    [account.pk],
                )
            except psycopg.errors.LockNotAvailable:
                return False
            return True

    with transaction.atomic():
        order_opening.open_order(order, merge_guests=False, email="bo@example.com")
        assert not try_lock()
    assert try_lock()
