"""Migration 0026: the purchase-summary functions plan per call; going back restores 0018's.

Both ways the kept days, kinds and summaries must stay equal to the orders (the same
recomputation ``retention_summaries --verify`` runs), for rows written before and after
the step.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from django.db import connection

from saleor_retention_plugin.models import PurchasedOrder
from saleor_retention_plugin.services.purchase_history import record_purchases
from saleor_retention_plugin.services.purchase_summaries import find_summary_drift

from ..migration_steps import APP, migrated_to
from .factories import CHANNEL, purchase

BEFORE = [(APP, "0025_incremental_lifecycle_refresh")]
FUNCTIONS = (
    "retention_resummarise",
    "retention_resummarise_kinds",
    "retention_keep_purchase_kinds",
)

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the kept summaries are PostgreSQL triggers"
)


def settings_of_functions() -> dict[str, tuple[str, ...] | None]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT proname, proconfig FROM pg_proc WHERE proname = ANY(%s)", [list(FUNCTIONS)]
        )
        return {name: tuple(config) if config else None for name, config in cursor.fetchall()}


def write_some_orders(customer: int) -> None:
    orders = [
        purchase(customer_id=customer, placed_at=f"2026-02-0{day}T10:00:00+00:00")
        for day in (1, 1, 4)
    ] + [purchase(customer_id=customer + 1, placed_at="2026-02-02T23:30:00+00:00")]
    record_purchases(orders)
    # A refund in full, a change of day, and the same order again with other lines.
    PurchasedOrder.objects.filter(order_id=orders[0].order_id).update(net_goods_amount=0)
    PurchasedOrder.objects.filter(order_id=orders[3].order_id).update(placed_at=orders[2].placed_at)
    record_purchases([replace(orders[2], lines=(), net_goods_amount=Decimal("7.50"))])


def test_going_back_restores_the_plans_of_0018_and_forward_plans_per_call(transactional_db):
    with migrated_to(BEFORE):
        assert settings_of_functions() == dict.fromkeys(FUNCTIONS)
        write_some_orders(1)
        assert find_summary_drift(CHANNEL) == []

    per_call = ("plan_cache_mode=force_custom_plan",)
    assert settings_of_functions() == dict.fromkeys(FUNCTIONS, per_call)
    write_some_orders(10)
    assert find_summary_drift(CHANNEL) == []
    assert PurchasedOrder.objects.count() == 8
