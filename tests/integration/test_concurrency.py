"""Real concurrent connections against one account: row locks and unique keys hold the line.

Every worker runs in its own thread with its own PostgreSQL connection (Django opens one
per thread) and starts at the same barrier, so the requests really overlap.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import pytest
from django.db import connection

from saleor_retention_plugin.conf import OverdraftPolicy
from saleor_retention_plugin.models import LoyaltyAccount, PointsEntry
from saleor_retention_plugin.services import ledger
from saleor_retention_plugin.services.ledger import InsufficientPoints

from .conftest import CHANNEL, assert_ledger_consistent, later

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.django_db(transaction=True)


def run_concurrently(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(0..count-1)`` in threads that start together; results or raised errors."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = work(index)
        except Exception as error:
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a worker hung (deadlock?)"
    return results


def errors(results: list[Any]) -> list[Exception]:
    return [result for result in results if isinstance(result, Exception)]


@pytest.mark.parametrize(("balance", "cost", "workers"), [(100, 30, 10), (100, 7, 20), (5, 5, 8)])
def test_concurrent_spends_never_drive_an_account_below_zero(
    funded_account, balance, cost, workers
):
    account = funded_account(balance)

    results = run_concurrently(
        workers,
        lambda index: ledger.spend_points(account.pk, cost, idempotency_key=f"spend:{index}"),
    )

    succeeded = [result for result in results if isinstance(result, PointsEntry)]
    assert len(succeeded) == balance // cost
    assert all(isinstance(error, InsufficientPoints) for error in errors(results))
    account.refresh_from_db()
    assert account.balance == balance - cost * (balance // cost)
    assert_ledger_consistent(account)


def test_the_same_spend_delivered_concurrently_spends_once(funded_account):
    account = funded_account(100)

    results = run_concurrently(
        8, lambda index: ledger.spend_points(account.pk, 10, idempotency_key="voucher:1")
    )

    assert errors(results) == []
    assert len({entry.pk for entry in results}) == 1
    account.refresh_from_db()
    assert account.balance == 90


@pytest.mark.parametrize(
    ("customer_id", "email"), [(42, "ann@example.com"), (None, "guest@example.com")]
)
def test_the_same_order_event_processed_concurrently_credits_once(
    make_order, make_settings, customer_id, email
):
    order = make_order(customer_id=customer_id, email=email)  # no account exists yet
    settings = make_settings()

    results = run_concurrently(8, lambda index: ledger.sync_order_points(order, settings))

    assert errors(results) == []
    assert sorted(result.earned for result in results) == [0] * 7 + [100]
    account = LoyaltyAccount.objects.get()
    assert account.balance == 100
    assert PointsEntry.objects.filter(kind="earn").count() == 1


def test_the_same_cancellation_processed_concurrently_takes_back_once(make_order, make_settings):
    settings = make_settings()
    order = make_order()
    ledger.sync_order_points(order, settings)
    cancelled = later(order, status="canceled")

    results = run_concurrently(8, lambda index: ledger.sync_order_points(cancelled, settings))

    assert errors(results) == []
    assert sum(result.taken_back for result in results) == 100
    account = LoyaltyAccount.objects.get()
    assert account.balance == 0
    assert_ledger_consistent(account)


def test_spends_racing_a_cancellation_under_clamp_to_zero_never_go_negative(
    make_order, make_settings
):
    settings = make_settings(overdraft_policy=OverdraftPolicy.CLAMP_TO_ZERO)
    order = make_order()
    account_id = ledger.sync_order_points(order, settings).account_id
    assert account_id is not None

    def work(index: int) -> Any:
        if index == 0:
            return ledger.sync_order_points(later(order, status="canceled"), settings)
        return ledger.spend_points(account_id, 30, idempotency_key=f"spend:{index}")

    results = run_concurrently(6, work)

    assert all(isinstance(error, InsufficientPoints) for error in errors(results))
    account = LoyaltyAccount.objects.get(pk=account_id)
    assert account.balance == 0
    reverse = account.entries.get(kind="reverse")
    assert -reverse.points + reverse.written_off == 100
    assert_ledger_consistent(account)


def test_the_same_adjustment_delivered_concurrently_applies_once(funded_account, make_settings):
    account = funded_account(10)
    settings = make_settings()

    results = run_concurrently(
        8,
        lambda index: ledger.adjust_points(
            account.pk,
            5,
            reason="Goodwill",
            actor="user:1",
            idempotency_key="adjust:once",
            settings=settings,
        ),
    )

    assert errors(results) == []
    assert len({entry.pk for entry in results}) == 1
    account.refresh_from_db()
    assert account.balance == 15


def test_concurrent_merges_of_one_guest_merge_it_once(make_order, make_settings):
    # Saleor may call customer_created on several channel instances of the plugin at once.
    settings = make_settings()
    ledger.sync_order_points(make_order(customer_id=None, email="bob@example.com"), settings)

    results = run_concurrently(6, lambda index: ledger.merge_guest_accounts(7, "bob@example.com"))

    assert errors(results) == []
    assert sum(len(merged) for merged in results) == 1
    customer = LoyaltyAccount.objects.get(channel_slug=CHANNEL, customer_id=7)
    assert customer.balance == 100
    assert_ledger_consistent(customer)


def test_concurrent_expiry_sweeps_expire_each_lot_once(make_order, make_settings):
    from datetime import UTC, datetime, timedelta

    settings = make_settings(expiry_months=1)
    earned_at = datetime(2026, 1, 1, tzinfo=UTC)
    for customer_id in range(1, 6):
        ledger.sync_order_points(
            make_order(customer_id=customer_id, email=f"c{customer_id}@example.com"),
            settings,
            now=earned_at,
        )

    results = run_concurrently(
        6,
        lambda index: ledger.expire_due_points(now=earned_at + timedelta(days=40), batch_size=2),
    )

    assert errors(results) == []
    assert sum(results) == 500
    assert PointsEntry.objects.filter(kind="expire").count() == 5
    assert set(LoyaltyAccount.objects.values_list("balance", flat=True)) == {0}
