"""Every order event delivered three times, in a random interleaving, with Celery
retries after transient database errors: the ledger ends exactly as one in-order
delivery of each event leaves it (issue 12, duplicates).

Two channels see the same shop history (orders placed, paid, partly refunded,
cancelled). In ``once`` each change is delivered once, as it happens. In ``thrice``
each change is announced three times and the deliveries run later, shuffled, while the
orders keep changing; each delivery reads the order as it stands when it runs (what
``sync_saleor_order_points_task`` does in Saleor), and a random share of the database
statements fail with a lost connection, so Celery retries the task. Balances, lots,
entries, tier progress rows, tiers and lifetime figures must be the same in both, and
the ledger audit must pass.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from celery.exceptions import Retry
from django.core.management import call_command
from django.db import OperationalError, connection
from django.utils import timezone

from saleor_retention_plugin.conf import ChannelSettings
from saleor_retention_plugin.domain.orders import OrderSnapshot
from saleor_retention_plugin.models import (
    CustomerTier,
    LoyaltyAccount,
    PointsEntry,
    PointsLot,
    PurchaseSummary,
    QualifyingOrder,
)
from saleor_retention_plugin.services.ledger_audit import find_balance_drift
from saleor_retention_plugin.services.purchase_summaries import find_summary_drift
from saleor_retention_plugin.services.tiers import reevaluate_channel, seed_default_tiers
from saleor_retention_plugin.tasks import sync_order_points_task

pytestmark = pytest.mark.django_db

ONCE, THRICE = "once", "thrice"
CUSTOMERS = 12
ORDERS = 40


def shop_history(seed: int) -> list[tuple[int, dict[str, Any]]]:
    """(order number, changes) in the order they happen; the first change creates it."""
    rng = random.Random(seed)
    steps: list[list[dict[str, Any]]] = []
    for _ in range(ORDERS):
        base = Decimal(rng.randrange(20, 900))
        customer = rng.randrange(1, CUSTOMERS + 1)
        order: list[dict[str, Any]] = [
            {
                "customer_id": customer,
                "points_base_amount": base,
                "total_amount": base + 10,
                "goods_amount": base,
                "is_fully_paid": False,
            },
            {"is_fully_paid": True},
        ]
        ending = rng.random()
        if ending < 0.3:
            order.append({"refunded_amount": (base / 4).quantize(Decimal("0.01"))})
        if 0.2 < ending < 0.45:
            order.append({"refunded_amount": base + 10})
        elif ending > 0.85:
            order.append({"status": "canceled"})
        steps.append(order)
    # Interleave the orders' changes at random, keeping each order's own sequence.
    cursors = [0] * ORDERS
    history = []
    while any(cursor < len(steps[n]) for n, cursor in enumerate(cursors)):
        number = rng.choice([n for n, cursor in enumerate(cursors) if cursor < len(steps[n])])
        history.append((number, steps[number][cursors[number]]))
        cursors[number] += 1
    return history


def snapshot(channel: str, number: int, state: dict[str, Any]) -> OrderSnapshot:
    return OrderSnapshot(
        order_id=f"{channel}-order-{number}",
        number=str(number),
        channel_slug=channel,
        channel_currency="USD",
        currency="USD",
        customer_id=state["customer_id"],
        email=f"customer{state['customer_id']}@example.com",
        status=state.get("status", "unfulfilled"),
        is_fully_paid=state["is_fully_paid"],
        points_base_amount=state["points_base_amount"],
        total_amount=state["total_amount"],
        refunded_amount=state.get("refunded_amount", Decimal(0)),
        created_at=timezone.now(),
        goods_amount=state["goods_amount"],
    )


class FlakyDatabase:
    """Fails a share of data statements as a dropped connection would (not savepoints:
    Django's own transaction bookkeeping is not what is under test).
    """

    def __init__(self, rng: random.Random, share: float) -> None:
        self.rng = rng
        self.share = share
        self.failures = 0

    def __call__(self, execute, sql, params, many, context):
        data_statement = sql.lstrip().split(" ", 1)[0].upper() in {"SELECT", "INSERT", "UPDATE"}
        if data_statement and self.rng.random() < self.share:
            self.failures += 1
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)


def deliver(channel: str, state: dict[str, Any], number: int) -> None:
    """Run the task as a worker would, retries included. Celery 5.5+ runs an eager task's
    retries itself; 5.4 (Saleor 3.20's pin) hands the ``Retry`` back, and a worker would
    then run the task again: so does this, within the task's own ``max_retries``.
    """
    configuration = ChannelSettings().as_task_configuration()
    arguments = [snapshot(channel, number, state).to_json(), configuration]
    for _ in range(sync_order_points_task.max_retries + 1):
        try:
            result = sync_order_points_task.apply(args=arguments)
        except Retry:
            continue
        if isinstance(result.result, Retry):
            continue
        result.get()  # raises if the task failed for another reason
        return
    raise AssertionError(f"order {number}: the retries ran out")


def ledger_as_seen_by_customers(channel: str) -> dict[int, dict[str, Any]]:
    seen: dict[int, dict[str, Any]] = {}
    for account in LoyaltyAccount.objects.filter(channel_slug=channel):
        assert account.customer_id is not None
        tier = CustomerTier.objects.filter(account=account).select_related("tier").first()
        seen[account.customer_id] = {
            "balance": account.balance,
            "lifetime_earned": account.lifetime_earned,
            "entries": sorted(
                PointsEntry.objects.filter(account=account).values_list(
                    "kind", "points", "written_off", "order_number"
                )
            ),
            "lots": sorted(
                PointsLot.objects.filter(account=account).values_list("points", "remaining")
            ),
            "tier_progress": sorted(
                QualifyingOrder.objects.filter(account=account).values_list(
                    "points_earned", "amount_spent"
                )
            ),
            "tier": tier.tier.code if tier else None,
        }
    return seen


@pytest.fixture
def celery_retries_run():
    """Eager tasks that retry as a worker would (without waiting their countdown),
    instead of raising the first ``Retry`` to the caller.
    """
    app = sync_order_points_task.app
    saved = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = saved


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.usefixtures("celery_retries_run")
def test_three_shuffled_deliveries_with_retries_leave_what_one_in_order_delivery_leaves(seed):
    seed_default_tiers(ONCE)
    seed_default_tiers(THRICE)
    history = shop_history(seed)
    rng = random.Random(seed * 7919)

    states: dict[int, dict[str, Any]] = {}
    for number, change in history:
        states[number] = {**states.get(number, {}), **change}
        deliver(ONCE, states[number], number)

    flaky = FlakyDatabase(rng, share=0.03)
    current: dict[int, dict[str, Any]] = {}
    pending: list[int] = []
    with connection.execute_wrapper(flaky):
        for number, change in history:
            current[number] = {**current.get(number, {}), **change}
            pending.extend([number] * 3)  # the event, announced three times
            rng.shuffle(pending)
            # Some of what is queued runs now, the rest later: behind, between, after.
            for _ in range(rng.randrange(0, len(pending) + 1)):
                deliver(THRICE, current[pending[-1]], pending.pop())
        rng.shuffle(pending)
        while pending:
            deliver(THRICE, current[pending[-1]], pending.pop())

    assert flaky.failures > 0, "no delivery was retried: the test proves less than it says"
    # A tier won from an order cancelled later is kept for the grace period (the in-order
    # delivery saw the upgrade; a shuffled one may see the cancellation first). The daily
    # re-evaluation notices the lost qualification and downgrades once the grace period
    # has passed: after that both must sit in the same tier.
    settings = ChannelSettings().membership
    grace = timedelta(days=settings.tier_downgrade_grace_days + 1)
    for channel in (ONCE, THRICE):
        reevaluate_channel(channel, settings=settings, now=timezone.now() + grace)
        reevaluate_channel(channel, settings=settings, now=timezone.now() + 2 * grace)
    once, thrice = ledger_as_seen_by_customers(ONCE), ledger_as_seen_by_customers(THRICE)
    assert thrice == once
    assert find_balance_drift() == []
    out = StringIO()
    call_command("retention_ledger", "--verify", stdout=out)  # raises CommandError on drift
    assert "Every cached balance matches its entries." in out.getvalue()
    # The kept purchase summaries (report) agree with the orders, and across deliveries.
    assert kept_summaries(ONCE), "no purchase summary kept: the check below proves nothing"
    assert kept_summaries(THRICE) == kept_summaries(ONCE)
    assert find_summary_drift(ONCE) == find_summary_drift(THRICE) == []


def kept_summaries(channel: str) -> list[tuple[Any, ...]]:
    return sorted(
        PurchaseSummary.objects.filter(channel_slug=channel).values_list(
            "currency", "customer_key", "first_day", "second_day", "last_day", "orders",
            "order_days", "revenue", "repeat_revenue", "discount_orders",
        )
    )  # fmt: skip


def test_the_history_has_every_kind_of_change():
    """The generator covers what the property is about (not a vacuous shop)."""
    kinds: dict[str, int] = defaultdict(int)
    for _, change in shop_history(1) + shop_history(2) + shop_history(3):
        for key in change:
            kinds[key] += 1
    assert {"is_fully_paid", "refunded_amount", "status", "customer_id"} <= set(kinds)
