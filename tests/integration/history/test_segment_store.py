"""Stored segments: the periodic refresh writes the hand-computed memberships flows target.

The shop (as of 30 June 2026, UTC), orders at noon:

| customer | orders (day, amount, discounted) | days since last |
|---|---|---|
| ann (1) | 10 Jan 100, 9 Feb 100 d, 11 Mar 50 d | 111 |
| bob (2) | 20 Jun 40 | 10 |
| cat (3) | 1 May 300, 31 May 200 d | 30 |
| dan (4) | 1 Dec 2025 20 d | 211 |
| eve (5) | 1 Jun 10, 11 Jun 10 | 19 |

Gaps between order days: 30, 30 (ann), 30 (cat), 10 (eve): median C = 30 days, so new is
a first order under 30 days ago (bob 10, eve 29), active a last order under 60 days ago
(cat 30), dormant the rest (ann 111, dan 211). Quintiles of five customers are 1..5 in
order, worst first (ties by key): recency dan ann cat eve bob; frequency (1, 1, 2, 2, 3
orders) bob dan cat eve ann; monetary (20, 20, 40, 250, 500) dan eve bob ann cat. High
value: with 3 repeat buyers the models are not fitted, so by revenue: the top
ceil(10 % of 5) = 1, cat. Discount-driven (2+ orders, half discounted):
ann 2/3, cat 1/2.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest

from saleor_retention_plugin.domain import metrics
from saleor_retention_plugin.models import CustomerSegment
from saleor_retention_plugin.schedule import PERIODIC_TASKS
from saleor_retention_plugin.selectors import lifetime, purchases, segments
from saleor_retention_plugin.services.purchase_history import record_purchases
from saleor_retention_plugin.services.segments import refresh_segments
from saleor_retention_plugin.tasks import refresh_segments_task

from .factories import CHANNEL, at, purchase

pytestmark = pytest.mark.django_db

AS_OF = date(2026, 6, 30)
ORDERS = {
    1: [("2026-01-10", "100", False), ("2026-02-09", "100", True), ("2026-03-11", "50", True)],
    2: [("2026-06-20", "40", False)],
    3: [("2026-05-01", "300", False), ("2026-05-31", "200", True)],
    4: [("2025-12-01", "20", True)],
    5: [("2026-06-01", "10", False), ("2026-06-11", "10", False)],
}


def store_shop():
    records = [
        purchase(
            customer_id=customer, email=None, placed_at=at(day), amount=amount,
            used_discount=discounted,
        )
        for customer, orders in ORDERS.items()
        for day, amount, discounted in orders
    ]  # fmt: skip
    record_purchases(records)
    return records


def keys(rows) -> list[str]:
    return [row.customer_key for row in rows]


def stored() -> dict[str, tuple]:
    return {
        row.customer_key: (
            row.segment, row.recency_score, row.frequency_score, row.monetary_score,
            row.orders, row.revenue, row.discount_share, row.discount_driven, row.high_value,
            row.first_order_on, row.last_order_on, row.cycle_days,
        )
        for row in CustomerSegment.objects.filter(channel_slug=CHANNEL)
    }  # fmt: skip


def test_the_refresh_stores_each_customers_hand_computed_segment_and_scores():
    store_shop()

    result = refresh_segments(CHANNEL, "UTC", AS_OF)

    assert (result.cycle_days, result.customers, result.removed) == (30, 5, 0)
    assert result.by_segment == {"new": 2, "active": 1, "dormant": 2}
    assert result.high_value_basis == "revenue"
    assert "(3, at least 10 needed)" in result.high_value_fallback_reason
    d = date.fromisoformat
    assert stored() == {
        "customer:1": ("dormant", 2, 5, 4, 3, Decimal("250.00"), Decimal("0.6667"), True,
                       False, d("2026-01-10"), d("2026-03-11"), 30),
        "customer:2": ("new", 5, 1, 3, 1, Decimal("40.00"), Decimal("0.0000"), False, False,
                       d("2026-06-20"), d("2026-06-20"), 30),
        "customer:3": ("active", 3, 3, 5, 2, Decimal("500.00"), Decimal("0.5000"), True, True,
                       d("2026-05-01"), d("2026-05-31"), 30),
        "customer:4": ("dormant", 1, 2, 1, 1, Decimal("20.00"), Decimal("1.0000"), False,
                       False, d("2025-12-01"), d("2025-12-01"), 30),
        "customer:5": ("new", 4, 4, 2, 2, Decimal("20.00"), Decimal("0.0000"), False, False,
                       d("2026-06-01"), d("2026-06-11"), 30),
    }  # fmt: skip


def test_flows_find_the_customers_of_a_segment():
    store_shop()
    refresh_segments(CHANNEL, "UTC", AS_OF)

    def members(name: str) -> list[str]:
        return keys(segments.customers_in_segment(CHANNEL, name))

    assert members("new") == ["customer:2", "customer:5"]
    assert members("active") == ["customer:3"]
    assert members("dormant") == ["customer:1", "customer:4"]
    assert members("high_value") == ["customer:3"]
    assert members("discount_driven") == ["customer:1", "customer:3"]
    assert members("rfm:4**") == ["customer:2", "customer:5"]
    assert members("rfm:*44") == ["customer:1"]
    assert members("rfm:***") == [f"customer:{n}" for n in range(1, 6)]
    assert keys(segments.customers_in_segment("other-channel", "new")) == []


@pytest.mark.parametrize("name", ["loyal", "rfm:6**", "rfm:44", "rfm:a**", ""])
def test_an_unknown_segment_is_refused_with_the_names_to_use(name):
    with pytest.raises(ValueError, match="rfm:5"):
        segments.customers_in_segment(CHANNEL, name)


def test_refreshing_again_changes_nothing_and_a_later_day_moves_customers_on():
    store_shop()
    refresh_segments(CHANNEL, "UTC", AS_OF)
    first = stored()

    again = refresh_segments(CHANNEL, "UTC", AS_OF)

    assert stored() == first
    assert (again.customers, again.removed) == (5, 0)
    # 30 days on: bob (first order 40 days ago) and eve (59) are active, cat (60) dormant.
    later = refresh_segments(CHANNEL, "UTC", AS_OF + timedelta(days=30))
    assert later.by_segment == {"new": 0, "active": 2, "dormant": 3}
    assert CustomerSegment.objects.filter(channel_slug=CHANNEL).count() == 5


def test_a_customer_whose_only_order_is_refunded_leaves_every_segment():
    records = store_shop()
    refresh_segments(CHANNEL, "UTC", AS_OF)
    bobs = next(r for r in records if r.customer_id == 2)

    record_purchases([replace(bobs, net_goods_amount=Decimal(0))])
    result = refresh_segments(CHANNEL, "UTC", AS_OF)

    assert result.removed == 1
    assert "customer:2" not in stored()
    assert keys(segments.customers_in_segment(CHANNEL, "new")) == ["customer:5"]


def test_a_bad_timezone_is_refused_and_changes_nothing():
    store_shop()
    refresh_segments(CHANNEL, "UTC", AS_OF)
    before = stored()

    with pytest.raises(KeyError):
        refresh_segments(CHANNEL, "Mars/Olympus", AS_OF)

    assert stored() == before


def test_the_stored_rows_agree_with_the_pure_definitions_on_a_random_shop():
    rng = random.Random(9)
    record_purchases(
        [
            purchase(
                customer_id=rng.randint(1, 60), email=None,
                placed_at=at(str(date(2025, 1, 1) + timedelta(days=rng.randint(0, 540)))),
                amount=str(rng.randint(1, 400)), used_discount=rng.random() < 0.4,
            )
            for _ in range(300)
        ]
    )  # fmt: skip
    refresh_segments(CHANNEL, "UTC", AS_OF)
    scope = purchases.channel_scope(CHANNEL, "UTC", AS_OF)
    facts = purchases.order_facts(scope)
    limits = segments.thresholds(scope, facts)
    high = lifetime.high_value(scope, facts)
    expected = {
        s.customer: (s.segment, s.recency_score, s.frequency_score, s.monetary_score, s.orders,
                     s.revenue, s.discount_share, s.customer in high.keys)
        for s in metrics.score_customers(facts, AS_OF, limits)
    }  # fmt: skip

    assert {key: (*row[:7], row[8]) for key, row in stored().items()} == expected


def test_the_periodic_task_refreshes_every_channel_with_orders():
    store_shop()
    record_purchases([purchase(customer_id=9, email=None, channel_slug="eu", currency="EUR")])
    stale = CustomerSegment.objects.create(
        channel_slug=CHANNEL, customer_key="customer:77", segment="new", cycle_days=30,
        orders=1, revenue=Decimal(5), currency="USD", first_order_on=AS_OF,
        last_order_on=AS_OF, recency_score=5, frequency_score=1, monetary_score=1,
        discount_share=Decimal(0), discount_driven=False, high_value=False, as_of=AS_OF,
        computed_at=at("2026-06-30"),
    )  # fmt: skip

    counts = refresh_segments_task.apply().get()

    assert set(counts) == {CHANNEL, "eu"}
    assert sum(counts[CHANNEL].values()) == 5
    assert sum(counts["eu"].values()) == 1
    assert not CustomerSegment.objects.filter(pk=stale.pk).exists()
    entry = PERIODIC_TASKS["saleor-retention-refresh-segments"]
    assert entry["task"] == refresh_segments_task.name
