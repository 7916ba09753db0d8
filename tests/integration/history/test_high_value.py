"""High value = the top 10 % by predicted lifetime value, with revenue as the fallback.

The shop: 60 customers who each buy at a rate and for a lifetime of their own (seeded),
plus a "whale" whose single order of 50,000 USD two years ago is the largest revenue of
all, and a "regular" who bought 100 USD every two weeks all year. The whale's predicted
value is one unlikely future order; the regular's is dozens: the whale is not high value
though top by revenue, the regular is. The ranking is checked against an independent
computation: each customer's expected orders in 52 weeks (``btyd.expected_purchases``,
eq. 10, one customer at a time) times the Gamma-Gamma expected order value, sorted in
plain Python.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from saleor_retention_plugin.domain import btyd, metrics
from saleor_retention_plugin.selectors import lifetime, purchases, segments
from saleor_retention_plugin.services.purchase_history import record_purchases
from saleor_retention_plugin.services.segments import refresh_segments

from .factories import CHANNEL, purchase

pytest.importorskip("scipy", reason="the prediction needs the analytics extra")
pytestmark = pytest.mark.django_db

AS_OF = date(2026, 6, 30)
WHALE, REGULAR = 9001, 9002


def noon(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC).replace(hour=12)


def shop() -> None:
    rng = random.Random(11)
    records = []
    for customer in range(1, 61):
        start = date(2024, 7, 1) + timedelta(days=rng.randrange(600))
        life, every, spend = rng.randrange(1, 400), rng.randrange(7, 90), rng.randrange(20, 200)
        day = start
        while day <= min(start + timedelta(days=life), AS_OF):
            amount = Decimal(spend) * Decimal(rng.randrange(50, 150)) / 100
            records.append(purchase(customer_id=customer, email=None, placed_at=noon(day),
                                    amount=str(amount.quantize(Decimal("0.01")))))  # fmt: skip
            day += timedelta(days=every + rng.randrange(-3, 4))
    records.append(purchase(customer_id=WHALE, email=None, placed_at=noon(date(2024, 7, 1)),
                            amount="50000.00"))  # fmt: skip
    records += [
        purchase(customer_id=REGULAR, email=None, placed_at=noon(AS_OF - timedelta(days=d)),
                 amount="100.00")
        for d in range(0, 365, 14)
    ]  # fmt: skip
    record_purchases(records)


def independent_top(facts: list[metrics.OrderFact], fit: lifetime.Fit) -> set[str]:
    assert fit.bg_nbd is not None
    assert fit.gamma_gamma is not None
    summaries = btyd.summarise_purchases(((f.customer, f.day, f.amount) for f in facts), AS_OF)
    value = {
        s.customer: btyd.expected_purchases(fit.bg_nbd, s, 52)
        * fit.gamma_gamma.expected_average_value(s.frequency, s.monetary)
        for s in summaries
    }
    ranked = sorted(value, key=lambda key: (-value[key], key))
    return set(ranked[: math.ceil(len(ranked) / 10)])


def test_high_value_is_the_top_tenth_by_predicted_value_in_sql_and_the_fallback():
    shop()
    scope = purchases.channel_scope(CHANNEL, "UTC", AS_OF)
    facts = purchases.order_facts(scope)
    table = lifetime.customer_table(scope, facts)
    fit = lifetime.fit_models(table)
    assert fit.unavailable == ""

    in_sql, from_facts = lifetime.high_value(scope), lifetime.high_value(scope, facts)

    assert in_sql == from_facts
    assert in_sql.basis == "predicted_value"
    assert in_sql.horizon_weeks == 52
    assert in_sql.customers == math.ceil(62 / 10) == 7
    assert in_sql.keys == independent_top(facts, fit)
    assert f"customer:{REGULAR}" in in_sql.keys
    assert f"customer:{WHALE}" not in in_sql.keys
    revenue: dict[str, Decimal] = {}
    for fact in facts:
        revenue[fact.customer] = revenue.get(fact.customer, Decimal(0)) + fact.amount
    assert max(revenue, key=revenue.__getitem__) == f"customer:{WHALE}"
    assert in_sql.revenue == sum(revenue[key] for key in in_sql.keys)


def test_the_segments_the_refresh_and_the_report_use_the_predicted_ranking():
    shop()
    scope = purchases.channel_scope(CHANNEL, "UTC", AS_OF)
    high = lifetime.high_value(scope)

    sizes = segments.segment_sizes(scope)
    assert (sizes.high_value, sizes.high_value_revenue) == (high.customers, high.revenue)
    assert sizes.high_value_basis == "predicted_value"
    scores = segments.customer_scores(scope)
    assert {s.customer for s in scores if s.high_value} == high.keys

    result = refresh_segments(CHANNEL, "UTC", AS_OF)
    assert result.high_value_basis == "predicted_value"
    stored = segments.customers_in_segment(CHANNEL, "high_value")
    assert set(stored.values_list("customer_key", flat=True)) == high.keys


def test_without_enough_repeat_buyers_high_value_falls_back_to_revenue_and_says_why():
    record_purchases(
        [purchase(customer_id=c, email=None, placed_at=noon(date(2026, 1, c)), amount=str(c * 10))
         for c in range(1, 21)]
        + [purchase(customer_id=1, email=None, placed_at=noon(date(2026, 3, 1)))]
    )  # fmt: skip
    scope = purchases.channel_scope(CHANNEL, "UTC", AS_OF)

    high = lifetime.high_value(scope)

    assert high.basis == "revenue"
    assert high.fallback_reason == (
        "too few repeat buyers to fit the models (1, at least 10 needed)"
    )
    assert high.keys == {"customer:20", "customer:19"}  # 200 and 190 USD: ceil(20 / 10)
    assert high.revenue == Decimal("390.00")
    assert segments.segment_sizes(scope).high_value_basis == "revenue"
    assert lifetime.predicted_value(scope).unavailable == high.fallback_reason
