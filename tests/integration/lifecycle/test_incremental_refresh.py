"""The incremental lifecycle refresh keeps the same rows as a full rebuild.

Random shops take random sequences of new orders, refunds in full, cancellations, guest
merges and anonymisations, each followed by an incremental refresh (asserted not to be
a full one). After every step the kept rows must equal what a full re-plan keeps:

* win-back: exactly the rows of a full rebuild (``rebuild=True``, rolled back);
* replenishment: exactly the pure rules' plan of every customer with the product medians
  kept by the last full rebuild (the incremental refresh re-plans the changed customers
  against those; they are recomputed by the full rebuild, at least daily), and, after a
  full rebuild, the rules' plan with fresh medians, both on the SQL and the pure-rules path.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction

from saleor_retention_plugin.conf import ChannelSettings
from saleor_retention_plugin.models import (
    LifecycleRefreshState,
    ProductInterval,
    ReplenishmentDue,
    WinbackDue,
)
from saleor_retention_plugin.services import due_rows, replenishment, winback
from saleor_retention_plugin.services.purchase_history import (
    anonymise_purchases,
    merge_guest_purchases,
)

from .factories import CHANNEL, day, line, order, record

pytestmark = pytest.mark.django_db

SETTINGS = ChannelSettings.from_configuration(
    {
        "replenishment_cycles": "category:301 = beauty",
        "replenishment_lead_days": "3",
        "replenishment_enabled": "true",
        "winback_enabled": "true",
        "product_url_template": "https://shop.example/p/{product_id}",
    }
)
PRODUCTS = ("501", "502", "503", "504")
GUESTS = ("g1@example.com", "g2@example.com", "g3@example.com")


class Shop:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.orders: list = []
        self.clock = 0.0

    def new_order(self) -> None:
        rng = self.rng
        self.clock += rng.choice([0.3, 1, 2, 3])
        products = rng.sample(PRODUCTS, rng.randint(1, 2))
        lines = [
            line(p, rng.randint(1, 3), category="301" if p == "504" else "399") for p in products
        ]
        if rng.random() < 0.2:
            placed = order(None, self.clock, *lines, email=rng.choice(GUESTS))
        else:
            placed = order(rng.randint(1, 8), self.clock, *lines)
        record(placed)
        self.orders.append(placed)

    def step(self) -> str:
        rng = self.rng
        action = rng.choices(
            ["orders", "refund", "cancel", "merge", "anonymise"], weights=[5, 2, 1, 1, 1]
        )[0]
        if action == "orders" or not self.orders:
            for _ in range(rng.randint(1, 5)):
                self.new_order()
        elif action == "refund":
            record(replace(rng.choice(self.orders), net_goods_amount=Decimal(0)))
        elif action == "cancel":
            record(replace(rng.choice(self.orders), status="canceled"))
        elif action == "merge":
            merge_guest_purchases(rng.randint(1, 8), rng.choice(GUESTS))
        else:
            customer = rng.randint(1, 8)
            anonymise_purchases(customer, f"c{customer}@example.com")
        return action


def replenishment_rows() -> dict:
    return {
        (row.customer_key, row.product_id): (
            row.last_order_id,
            row.last_purchased_at,
            row.last_quantity,
            row.purchases,
            row.interval_source,
            round(row.interval_days, 6),
            row.run_out_at.replace(microsecond=0),
            row.due_at.replace(microsecond=0),
        )
        for row in ReplenishmentDue.objects.filter(channel_slug=CHANNEL)
    }


def reference_rows(now, medians=None) -> dict:
    plans = replenishment.plans_in_python(CHANNEL, SETTINGS.replenishment, now, medians=medians)
    return {
        key: (
            last["order__order_id"],
            plan.last_purchased_at,
            last["quantity"],
            purchases,
            plan.interval.source.value,
            round(plan.interval.days, 6),
            plan.run_out_at.replace(microsecond=0),
            plan.due_at.replace(microsecond=0),
        )
        for key, (last, plan, purchases) in plans.items()
    }


def winback_rows() -> dict:
    return {
        row.customer_key: (
            row.last_order_id,
            row.last_order_at,
            None if row.usual_interval_days is None else round(row.usual_interval_days, 6),
            row.dormant_at.replace(microsecond=0),
            row.customer_id,
            row.email,
        )
        for row in WinbackDue.objects.filter(channel_slug=CHANNEL)
    }


def kept_medians() -> dict[str, float]:
    return dict(
        ProductInterval.objects.filter(channel_slug=CHANNEL).values_list(
            "product_id", "median_days"
        )
    )


def rebuilt_winback(now, set_based) -> dict:
    """The rows a full win-back rebuild keeps now (rolled back afterwards)."""
    with transaction.atomic():
        winback.refresh_winback(
            CHANNEL, SETTINGS.winback, now=now, set_based=set_based, rebuild=True
        )
        rows = winback_rows()
        transaction.set_rollback(True)
    return rows


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("set_based", [True, False], ids=["sql", "pure-rules"])
def test_incremental_equals_full_rebuild_after_random_histories(seed, set_based):
    shop = Shop(seed)
    for _ in range(60):
        shop.new_order()
    now = day(200)
    first = replenishment.refresh_replenishment(
        CHANNEL, SETTINGS.replenishment, now=now, set_based=set_based
    )
    assert first.full
    winback.refresh_winback(CHANNEL, SETTINGS.winback, now=now, set_based=set_based)
    assert kept_medians()  # the shop is busy enough for product medians

    actions = set()
    for round_ in range(12):
        actions.add(shop.step())
        now += timedelta(hours=1)
        medians = kept_medians()
        result = replenishment.refresh_replenishment(
            CHANNEL, SETTINGS.replenishment, now=now, set_based=set_based
        )
        again = winback.refresh_winback(CHANNEL, SETTINGS.winback, now=now, set_based=set_based)
        assert (result.full, again.full) == (False, False), round_
        assert replenishment_rows() == reference_rows(now, medians), round_
        assert winback_rows() == rebuilt_winback(now, set_based), round_
        assert not ReplenishmentDue.objects.filter(customer_key__startswith="anonymised:")

    assert actions >= {"orders", "refund"}
    rebuilt = replenishment.refresh_replenishment(
        CHANNEL, SETTINGS.replenishment, now=now, set_based=set_based, rebuild=True
    )
    assert rebuilt.full
    assert replenishment_rows() == reference_rows(now)


def test_an_incremental_refresh_reads_only_the_changed_customers():
    shop = Shop(5)
    for _ in range(30):
        shop.new_order()
    replenishment.refresh_replenishment(CHANNEL, SETTINGS.replenishment, now=day(200))
    state = LifecycleRefreshState.objects.get(channel_slug=CHANNEL, flow="replenishment")
    untouched = replenishment_rows()

    quiet = replenishment.refresh_replenishment(
        CHANNEL, SETTINGS.replenishment, now=day(200) + timedelta(hours=1)
    )
    record(order(3, 150, line("501")))
    busy = replenishment.refresh_replenishment(
        CHANNEL, SETTINGS.replenishment, now=day(200) + timedelta(hours=2)
    )

    assert state.watermark_at is not None
    assert (quiet.full, busy.full) == (False, False)
    # Nothing recorded since (the overlap re-reads the last orders, idempotently).
    assert quiet.customers <= 12
    assert busy.customers >= 1
    assert ("customer:3", "501") in replenishment_rows()
    changed = {key for key, row in replenishment_rows().items() if untouched.get(key) != row}
    assert {customer for customer, _ in changed} <= {"customer:3"}


@pytest.mark.parametrize(
    "change",
    [
        {"replenishment_lead_days": "5"},
        {"replenishment_cycles": "category:399 = food_drink"},
    ],
)
def test_a_settings_change_or_a_day_passing_rebuilds_in_full(change):
    shop = Shop(6)
    for _ in range(10):
        shop.new_order()
    replenishment.refresh_replenishment(CHANNEL, SETTINGS.replenishment, now=day(200))
    changed = ChannelSettings.from_configuration(
        {"replenishment_cycles": "category:301 = beauty", **change}
    ).replenishment

    assert replenishment.refresh_replenishment(
        CHANNEL, changed, now=day(200) + timedelta(hours=1)
    ).full
    assert not replenishment.refresh_replenishment(
        CHANNEL, changed, now=day(200) + timedelta(hours=2)
    ).full
    assert replenishment.refresh_replenishment(
        CHANNEL, changed, now=day(200) + timedelta(hours=1) + due_rows.FULL_REBUILD_EVERY
    ).full


def test_switching_a_flow_off_forgets_its_state_so_switching_on_rebuilds():
    Shop(8).new_order()
    replenishment.refresh_replenishment(CHANNEL, SETTINGS.replenishment, now=day(200))
    replenishment.forget_channel(CHANNEL)

    assert not LifecycleRefreshState.objects.filter(flow="replenishment").exists()
    assert replenishment.refresh_replenishment(
        CHANNEL, SETTINGS.replenishment, now=day(200) + timedelta(hours=1)
    ).full
