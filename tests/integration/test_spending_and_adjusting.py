"""Spending and manual adjustments: refused cleanly, never twice, soonest-expiring first."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from saleor_retention_plugin.models import PointsEntry
from saleor_retention_plugin.services import ledger
from saleor_retention_plugin.services.ledger import (
    MAX_ADJUSTMENT,
    AccountNotFound,
    InsufficientPoints,
    InvalidPoints,
    LedgerError,
)

from .conftest import assert_ledger_consistent, later, ledger_state

pytestmark = pytest.mark.django_db


def test_spending_takes_points_off_the_balance_once_per_idempotency_key(funded_account):
    account = funded_account(100)

    first = ledger.spend_points(account.pk, 30, idempotency_key="voucher:abc", reason="Voucher")
    retried = ledger.spend_points(account.pk, 30, idempotency_key="voucher:abc", reason="Voucher")

    assert retried.pk == first.pk
    assert (first.kind, first.points, first.reason) == ("redeem", -30, "Voucher")
    assert ledger_state(account)["balance"] == 70
    assert_ledger_consistent(account)


def test_spending_more_than_is_spendable_is_refused_and_changes_nothing(funded_account):
    account = funded_account(100)
    before = ledger_state(account)

    with pytest.raises(InsufficientPoints, match="101 requested, 100 available"):
        ledger.spend_points(account.pk, 101, idempotency_key="too-much")

    assert ledger_state(account) == before
    assert not PointsEntry.objects.filter(idempotency_key="too-much").exists()


@pytest.mark.parametrize(
    "points",
    [0, -5, 1.5, "10", None, True, MAX_ADJUSTMENT + 1, 10**30],
    ids=["zero", "negative", "float", "text", "none", "bool", "over-max", "huge"],
)
def test_spending_a_bad_number_of_points_is_refused_and_changes_nothing(funded_account, points):
    account = funded_account(100)
    before = ledger_state(account)

    with pytest.raises(InvalidPoints):
        ledger.spend_points(account.pk, points, idempotency_key="bad")

    assert ledger_state(account) == before


def test_spending_from_an_unknown_account_is_refused():
    with pytest.raises(AccountNotFound):
        ledger.spend_points(999_999, 10, idempotency_key="ghost")

    assert not PointsEntry.objects.exists()


def test_spending_consumes_the_soonest_expiring_points_first(make_order, make_settings):
    never = make_settings()
    yearly = make_settings(expiry_months=12)
    monthly = make_settings(expiry_months=1)
    orders = {
        "never": make_order(points_base_amount=40),
        "in a year": make_order(points_base_amount=40),
        "in a month": make_order(points_base_amount=40),
    }
    with time_machine.travel(datetime(2026, 1, 10, tzinfo=UTC), tick=False):
        ledger.sync_order_points(orders["never"], never)
        ledger.sync_order_points(orders["in a year"], yearly)
        outcome = ledger.sync_order_points(orders["in a month"], monthly)
        assert outcome.account_id is not None

        ledger.spend_points(outcome.account_id, 60, idempotency_key="spend")

    left = {
        label: PointsEntry.objects.get(order_id=order.order_id, kind="earn").lot.remaining
        for label, order in orders.items()
    }
    assert left == {"in a month": 0, "in a year": 20, "never": 40}


def test_expired_but_not_yet_swept_points_cannot_be_spent(make_order, make_settings):
    with time_machine.travel(datetime(2026, 1, 10, tzinfo=UTC), tick=False):
        outcome = ledger.sync_order_points(make_order(), make_settings(expiry_months=1))
    assert outcome.account_id is not None

    with time_machine.travel(datetime(2026, 2, 11, tzinfo=UTC), tick=False):
        with pytest.raises(InsufficientPoints):
            ledger.spend_points(outcome.account_id, 1, idempotency_key="late")
        account = PointsEntry.objects.get(kind="earn").account
        assert ledger.summarise_account(account).spendable == 0


# --- manual adjustments -------------------------------------------------------------------


def test_positive_adjustment_is_spendable_at_once_and_audited(funded_account, make_settings):
    account = funded_account(10)

    entry = ledger.adjust_points(
        account.pk,
        25,
        reason=" Goodwill for a late parcel ",
        actor="user:5",
        idempotency_key="adjust:1",
        settings=make_settings(pending_days=30),
    )

    assert (entry.kind, entry.points, entry.reason, entry.actor) == (
        "adjust",
        25,
        "Goodwill for a late parcel",
        "user:5",
    )
    assert ledger_state(account)["lifetime_earned"] == 10  # goodwill is not earned spend
    assert ledger.summarise_account(account).spendable == 35
    assert_ledger_consistent(account)


def test_negative_adjustment_cannot_take_the_balance_below_zero(funded_account, make_settings):
    account = funded_account(10)
    before = ledger_state(account)

    with pytest.raises(InsufficientPoints):
        ledger.adjust_points(
            account.pk,
            -11,
            reason="Correction",
            actor="user:5",
            idempotency_key="adjust:2",
            settings=make_settings(),
        )
    assert ledger_state(account) == before

    ledger.adjust_points(
        account.pk,
        -10,
        reason="Correction",
        actor="user:5",
        idempotency_key="adjust:3",
        settings=make_settings(),
    )
    assert ledger_state(account)["balance"] == 0
    assert_ledger_consistent(account)


@pytest.mark.parametrize("reason", ["", "   "])
def test_adjustment_without_a_reason_is_refused(funded_account, make_settings, reason):
    account = funded_account(10)
    before = ledger_state(account)

    with pytest.raises(LedgerError, match="reason is required"):
        ledger.adjust_points(
            account.pk,
            5,
            reason=reason,
            actor="user:5",
            idempotency_key="adjust:no-reason",
            settings=make_settings(),
        )

    assert ledger_state(account) == before


@pytest.mark.parametrize("points", [0, 1.5, "5", True, MAX_ADJUSTMENT + 1, -MAX_ADJUSTMENT - 1])
def test_adjustment_by_a_bad_number_is_refused(funded_account, make_settings, points):
    account = funded_account(10)

    with pytest.raises(InvalidPoints):
        ledger.adjust_points(
            account.pk,
            points,
            reason="Typo",
            actor="user:5",
            idempotency_key="adjust:bad",
            settings=make_settings(),
        )

    assert ledger_state(account)["balance"] == 10


def test_adjusting_an_unknown_account_is_refused(make_settings):
    with pytest.raises(AccountNotFound):
        ledger.adjust_points(
            999_999,
            5,
            reason="Goodwill",
            actor="user:5",
            idempotency_key="adjust:ghost",
            settings=make_settings(),
        )


def test_repeated_adjustment_applies_once(funded_account, make_settings):
    account = funded_account(10)
    kwargs = {
        "reason": "Goodwill",
        "actor": "app:3",
        "idempotency_key": "adjust:dup",
        "settings": make_settings(),
    }

    first = ledger.adjust_points(account.pk, 5, **kwargs)
    second = ledger.adjust_points(account.pk, 5, **kwargs)

    assert first.pk == second.pk
    assert ledger_state(account)["balance"] == 15


def test_positive_adjustment_repays_a_negative_balance_first(make_order, make_settings):
    settings = make_settings()
    order = make_order()
    outcome = ledger.sync_order_points(order, settings)
    assert outcome.account_id is not None
    ledger.spend_points(outcome.account_id, 100, idempotency_key="all")
    ledger.sync_order_points(later(order, status="canceled"), settings)

    ledger.adjust_points(
        outcome.account_id,
        150,
        reason="Goodwill",
        actor="user:1",
        idempotency_key="adjust:repay",
        settings=settings,
    )

    account = PointsEntry.objects.get(idempotency_key="adjust:repay").account
    assert ledger.summarise_account(account).spendable == 50
    assert_ledger_consistent(account)


@pytest.mark.parametrize("key", ["", "   "])
def test_spending_or_adjusting_without_an_idempotency_key_is_refused(
    funded_account, make_settings, key
):
    account = funded_account(100)

    with pytest.raises(ledger.LedgerError, match="idempotency key"):
        ledger.spend_points(account.pk, 10, idempotency_key=key)
    with pytest.raises(ledger.LedgerError, match="idempotency key"):
        ledger.adjust_points(
            account.pk,
            5,
            reason="goodwill",
            actor="user:1",
            idempotency_key=key,
            settings=make_settings(),
        )

    account.refresh_from_db()
    assert account.balance == 100
    assert account.entries.count() == 1


def test_an_idempotency_key_reused_for_a_different_request_is_refused(funded_account):
    account = funded_account(100)
    ledger.spend_points(account.pk, 10, idempotency_key="checkout-77")

    with pytest.raises(ledger.LedgerError, match="different request"):
        ledger.spend_points(account.pk, 25, idempotency_key="checkout-77")

    assert ledger.spend_points(account.pk, 10, idempotency_key="checkout-77").points == -10
    account.refresh_from_db()
    assert account.balance == 90
