"""The SQL metrics on PostgreSQL give the hand-counted figures, and agree with the fallback.

The shop is the one of tests/unit/test_metrics.py, stored as orders at noon UTC.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from saleor_retention_plugin.domain import metrics
from saleor_retention_plugin.domain.history import PurchaseLine
from saleor_retention_plugin.models import CustomerTier, LoyaltyAccount, MembershipTier
from saleor_retention_plugin.selectors import purchases, segments
from saleor_retention_plugin.services.purchase_history import (
    merge_guest_purchases,
    record_purchases,
)
from tests.unit.test_metrics import AS_OF, END, SHOP, START

from .factories import CHANNEL, purchase

pytestmark = pytest.mark.django_db

NAMES = {"ann": 1, "bob": 2, "cat": 3, "dan": 4, "eve": 5}


def store(facts, channel=CHANNEL, currency="USD", tz_hour=12) -> None:
    record_purchases(
        [
            purchase(
                customer_id=NAMES.get(fact.customer),
                email=None if fact.customer in NAMES else fact.customer,
                channel_slug=channel,
                currency=currency,
                placed_at=datetime.combine(fact.day, datetime.min.time(), UTC).replace(
                    hour=tz_hour
                ),
                amount=fact.amount,
                used_discount=fact.discounted,
                lines=tuple(
                    PurchaseLine(
                        line_id=kind, quantity=1, unit_price_net=fact.amount, product_type_id=kind
                    )
                    for kind in sorted(fact.product_types)
                ),
            )
            for fact in facts
        ]
    )


def scope(channel=CHANNEL, tz="UTC", as_of=AS_OF):
    return purchases.channel_scope(channel, tz, as_of)


def test_sql_metrics_give_the_hand_counted_figures():
    store(SHOP)
    shop = scope()
    assert shop.postgres
    assert shop.currency == "USD"

    rate = purchases.repurchase_rate(shop, START, END, 30)
    assert (rate.new_customers, rate.repeated, rate.rate) == (3, 1, Decimal("0.3333"))
    assert (rate.buyers, rate.repeat_buyers, rate.simple_rate) == (4, 1, Decimal("0.25"))
    split = purchases.revenue_split(shop, START, END)
    assert (split.revenue, split.returning_revenue, split.returning_share) == (
        Decimal("460"),
        Decimal("90"),
        Decimal("0.1957"),
    )
    cycle = purchases.repurchase_cycle(shop, START, END)
    assert (cycle.gaps, cycle.median_days, dict(cycle.histogram)[30]) == (2, 20.5, 2)
    assert (
        purchases.repurchase_cycle_by(shop, START, date(2026, 4, 1), "product_type")[
            "tea"
        ].median_days
        == 55
    )
    january, february = purchases.cohorts(shop, START, END)
    assert january.retention == (Decimal(1), Decimal(0), Decimal("0.5"))
    assert january.revenue_per_customer == (Decimal("175"), Decimal("175"), Decimal("190"))
    assert february.customers == 1
    assert purchases.formula_ltv(shop, START, END).ltv == Decimal("2134.32")
    scores = segments.customer_scores(shop, metrics.segment_thresholds(20.5))
    assert [(s.segment, s.rfm, s.high_value) for s in scores] == [
        ("active", "454", False),
        ("dormant", "115", True),
        ("dormant", "233", False),
        ("active", "342", False),
        ("new", "521", False),
    ]


def test_sql_and_fallback_agree_on_a_random_shop():
    rng = random.Random(7)
    facts = [
        metrics.OrderFact(
            f"guest{rng.randrange(60)}@example.com",
            date(2025, 1, 1) + timedelta(days=rng.randrange(420)),
            Decimal(rng.randrange(100, 20000)) / 100,
            rng.random() < 0.3,
            frozenset(rng.sample(["tea", "cup", "pot"], rng.randrange(0, 3))),
        )
        for _ in range(400)
    ]
    store(facts)
    shop = scope(as_of=date(2026, 3, 1))
    loaded = purchases.order_facts(shop, with_lines=True)
    assert len(loaded) == 400
    start, end = date(2025, 3, 1), date(2026, 1, 1)

    assert purchases.repurchase_rate(shop, start, end, 60) == purchases.repurchase_rate(
        shop, start, end, 60, facts=loaded
    )
    assert purchases.revenue_split(shop, start, end) == purchases.revenue_split(
        shop, start, end, facts=loaded
    )
    assert purchases.repurchase_cycle(shop, start, end) == purchases.repurchase_cycle(
        shop, start, end, facts=loaded
    )
    assert purchases.repurchase_cycle_by(
        shop, start, end, "product_type"
    ) == purchases.repurchase_cycle_by(shop, start, end, "product_type", facts=loaded)
    assert purchases.cohorts(shop, start, end) == purchases.cohorts(shop, start, end, facts=loaded)
    assert purchases.formula_ltv(shop, start, end) == purchases.formula_ltv(
        shop, start, end, facts=loaded
    )
    assert segments.segment_sizes(shop) == segments.segment_sizes(shop, facts=loaded)


def test_an_empty_shop_answers_without_figures():
    shop = scope()
    assert shop.currency is None
    assert purchases.repurchase_rate(shop, START, END).rate is None
    assert purchases.revenue_split(shop, START, END).revenue == 0
    assert purchases.cohorts(shop, START, END) == []
    assert segments.segment_sizes(shop).customers == 0


def test_a_customer_whose_orders_were_all_refunded_is_no_customer():
    record_purchases(
        [
            purchase(customer_id=8, placed_at="2026-01-05T12:00:00+00:00", amount="0"),
            purchase(customer_id=8, placed_at="2026-01-09T12:00:00+00:00", amount="0"),
            purchase(customer_id=9, placed_at="2026-01-07T12:00:00+00:00", amount="10"),
        ]
    )
    shop = scope()
    rate = purchases.repurchase_rate(shop, START, END, 30)
    assert (rate.new_customers, rate.buyers) == (1, 1)
    assert segments.segment_sizes(shop).customers == 1


def test_a_guest_who_registers_is_one_returning_customer():
    record_purchases(
        [
            purchase(customer_id=None, email="Zoe@example.com",
                     placed_at="2026-01-05T12:00:00+00:00"),
            purchase(customer_id=77, email="zoe@example.com",
                     placed_at="2026-01-20T12:00:00+00:00"),
        ]
    )  # fmt: skip
    before = purchases.repurchase_rate(scope(), START, END, 30)
    assert (before.new_customers, before.repeated) == (2, 0)

    merge_guest_purchases(77, "zoe@example.com")

    after = purchases.repurchase_rate(scope(), START, END, 30)
    assert (after.new_customers, after.repeated, after.rate) == (1, 1, Decimal(1))


def test_days_are_the_shops_local_days_across_a_dst_change():
    # New York: 23:30 on Saturday 7 March 2026 (EST, UTC-5), then 00:30 on Monday
    # 9 March (EDT, UTC-4): two local days apart, one UTC day apart.
    record_purchases(
        [
            purchase(customer_id=1, placed_at="2026-03-08T04:30:00+00:00"),
            purchase(customer_id=1, placed_at="2026-03-09T04:30:00+00:00"),
        ]
    )
    local = scope(tz="America/New_York", as_of=date(2026, 3, 20))
    assert purchases.repurchase_cycle(local, START, date(2026, 4, 1)).median_days == 2
    first, second = (fact.day for fact in purchases.order_facts(local))
    assert (first, second) == (date(2026, 3, 7), date(2026, 3, 9))
    utc = scope(tz="UTC", as_of=date(2026, 3, 20))
    assert purchases.repurchase_cycle(utc, START, date(2026, 4, 1)).median_days == 1


def test_two_channels_with_different_currencies_are_measured_apart():
    store(SHOP)
    store([replace(f, amount=f.amount * 7) for f in SHOP], channel="cn", currency="CNY")
    usd, cny = scope(), scope("cn")

    assert (usd.currency, cny.currency) == ("USD", "CNY")
    assert purchases.revenue_split(usd, START, END).revenue == Decimal("460")
    assert purchases.revenue_split(cny, START, END).revenue == Decimal("3220")
    assert purchases.repurchase_rate(cny, START, END, 30).rate == Decimal("0.3333")


def test_orders_in_another_currency_are_left_out_and_counted():
    store(SHOP)
    record_purchases([purchase(customer_id=2, currency="EUR", amount="999")])
    shop = scope()
    assert (shop.currency, shop.other_currency_orders) == ("USD", 1)
    assert purchases.revenue_split(shop, START, END).revenue == Decimal("460")


def test_repurchase_by_segment_and_tier_in_sql():
    store(SHOP)
    gold = MembershipTier.objects.create(channel_slug=CHANNEL, rank=2, code="gold")
    ann = LoyaltyAccount.objects.create(channel_slug=CHANNEL, customer_id=NAMES["ann"])
    CustomerTier.objects.create(
        account=ann, channel_slug=CHANNEL, tier=gold, achieved_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    shop = scope()
    limits = metrics.segment_thresholds(20.5)
    start, end = date(2026, 1, 25), date(2026, 3, 2)
    in_sql = segments.repurchase_by_segment(shop, start, end, limits)
    fallback = segments.repurchase_by_segment(
        shop, start, end, limits, facts=purchases.order_facts(shop)
    )
    assert in_sql == fallback
    rates = {g.group: (g.customers, g.rate) for g in in_sql}
    assert rates["new"] == (2, Decimal("0.5"))
    assert rates["tier:gold"] == (1, Decimal(1))
    assert rates["non-member"] == (2, Decimal(0))
