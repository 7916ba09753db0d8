"""Fifty requests at once, each on its own PostgreSQL connection (issue 12, concurrency).

An account that can afford exactly ``k`` rewards gets exactly ``k``; a reward with 5 in
stock goes to exactly 5 of 50 customers; and orders, redemptions, expiry sweeps and
guest merges running together on several threads leave no drift anywhere.
"""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from saleor_retention_plugin.conf import LedgerSettings
from saleor_retention_plugin.domain.orders import OrderSnapshot
from saleor_retention_plugin.models import LoyaltyAccount, PointsLot, Redemption, Reward
from saleor_retention_plugin.services import ledger, mall
from saleor_retention_plugin.services.codes import PlainCodeIssuer
from saleor_retention_plugin.services.ledger_audit import find_balance_drift
from saleor_retention_plugin.services.mall import InsufficientPoints, OutOfStock
from tests.integration.conftest import assert_ledger_consistent
from tests.integration.test_concurrency import errors, run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)

CHANNEL = "storm"
COST = 100
ISSUER = PlainCodeIssuer()


def funded(customer_id: int, points: int) -> LoyaltyAccount:
    account = ledger.account_for(CHANNEL, customer_id, f"customer{customer_id}@example.com")
    if points:
        ledger.adjust_points(
            account.pk,
            points,
            reason="funds for the test",
            actor="user:1",
            idempotency_key=f"fund:{customer_id}:{points}",
            settings=LedgerSettings(),
        )
    account.refresh_from_db()
    return account


def reward(**fields) -> Reward:
    return mall.create_reward(
        CHANNEL,
        kind="fixed_discount",
        name={"en": "10 off"},
        points_cost=COST,
        discount_value="10",
        **fields,
    )


@pytest.mark.parametrize("affordable", [0, 1, 7, 49])
def test_fifty_redemptions_at_once_get_exactly_what_the_balance_affords(affordable):
    account = funded(1, affordable * COST)
    prize = reward()

    results = run_concurrently(
        50, lambda i: mall.redeem_reward(account.pk, prize.pk, f"key-{i}", issuer=ISSUER)
    )

    refused = errors(results)
    assert len(results) - len(refused) == affordable
    assert all(isinstance(error, InsufficientPoints) for error in refused)
    account.refresh_from_db()
    assert account.balance == 0
    assert Redemption.objects.filter(account=account).count() == affordable
    assert_ledger_consistent(account)


def test_five_in_stock_go_to_exactly_five_of_fifty_customers():
    accounts = [funded(customer_id, 10 * COST) for customer_id in range(1, 51)]
    prize = reward(stock=5)

    results = run_concurrently(
        50, lambda i: mall.redeem_reward(accounts[i].pk, prize.pk, "the-one", issuer=ISSUER)
    )

    refused = errors(results)
    assert len(results) - len(refused) == 5
    assert all(isinstance(error, OutOfStock) for error in refused)
    prize.refresh_from_db()
    assert prize.stock == 0
    winners = set(Redemption.objects.values_list("account_id", flat=True))
    assert len(winners) == 5
    for account in accounts:
        account.refresh_from_db()
        assert account.balance == (9 if account.pk in winners else 10) * COST
        assert_ledger_consistent(account)


def order(number: int, customer_id: int | None, email: str, amount: int) -> OrderSnapshot:
    return OrderSnapshot(
        order_id=f"storm-{number}",
        number=str(number),
        channel_slug=CHANNEL,
        channel_currency="USD",
        currency="USD",
        customer_id=customer_id,
        email=email,
        status="unfulfilled",
        is_fully_paid=True,
        points_base_amount=Decimal(amount),
        total_amount=Decimal(amount),
        refunded_amount=Decimal(0),
        created_at=timezone.now(),
        email_verified=customer_id is not None,
    )


def test_orders_redemptions_expiry_and_guest_merges_at_once_leave_no_drift():
    rng = random.Random(12)
    settings = LedgerSettings()
    prize = reward(stock=20)
    customers = list(range(1, 9))
    for customer_id in customers:
        funded(customer_id, 3 * COST)
        # Guest orders under the same email, to be merged while everything else runs.
        ledger.sync_order_points(
            order(1000 + customer_id, None, f"customer{customer_id}@example.com", 150), settings
        )
    # Lots that expired an hour ago, for the expiry sweeps to take while others spend.
    PointsLot.objects.filter(account__channel_slug=CHANNEL).update(
        expires_at=timezone.now() - timedelta(hours=1)
    )
    for customer_id in customers:
        funded(customer_id, 2 * COST + 1)  # a fresh lot that does not expire

    def work(i: int):
        customer_id = customers[i % len(customers)]
        email = f"customer{customer_id}@example.com"
        kind = i % 4
        if kind == 0:
            return ledger.sync_order_points(
                order(i, customer_id, email, rng.randrange(1, 300)), settings
            )
        if kind == 1:
            account = LoyaltyAccount.objects.get(channel_slug=CHANNEL, customer_id=customer_id)
            return mall.redeem_reward(account.pk, prize.pk, f"storm-{i}", issuer=ISSUER)
        if kind == 2:
            return ledger.expire_due_points()
        # Every fourth task merges, so pick its customer by i // 4: each customer's guest
        # account gets merged while the other kinds of work run (i % 8 would reach two).
        merging = customers[(i // 4) % len(customers)]
        return ledger.merge_guest_accounts(merging, f"customer{merging}@example.com")

    results = run_concurrently(48, work)

    unexpected = [
        error for error in errors(results) if not isinstance(error, InsufficientPoints | OutOfStock)
    ]
    assert unexpected == []
    assert find_balance_drift() == []
    for account in LoyaltyAccount.objects.filter(channel_slug=CHANNEL, merged_into__isnull=True):
        assert_ledger_consistent(account)
    # Every guest account was merged once, into its customer's, and holds nothing now.
    for guest in LoyaltyAccount.objects.filter(channel_slug=CHANNEL, customer_id__isnull=True):
        assert guest.merged_into_id is not None
        assert guest.balance == 0
    assert not PointsLot.objects.expired_by(timezone.now()).exists()
