"""Retention metrics on a small shop whose every figure is counted by hand.

The shop (days local, amounts in the channel currency):

    ann  2026-01-05 100   2026-01-20 50   2026-03-01 30
    bob  2026-01-10 200
    cat  2025-12-20 80    2026-01-15 40
    dan  2026-02-10 60    2026-02-10 10 (same day, with a discount)
    eve  2026-03-10 25 (with a discount)

Period: 1 January to 1 March 2026 (1 March excluded), 30-day window, as of 15 March.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saleor_retention_plugin.domain import metrics
from saleor_retention_plugin.domain.metrics import OrderFact

START, END, AS_OF = date(2026, 1, 1), date(2026, 3, 1), date(2026, 3, 15)


def fact(customer: str, day: str, amount: str, discounted: bool = False, types=()) -> OrderFact:
    return OrderFact(
        customer, date.fromisoformat(day), Decimal(amount), discounted, frozenset(types)
    )


SHOP = [
    fact("ann", "2026-01-05", "100", types=["tea"]),
    fact("ann", "2026-01-20", "50", types=["cup"]),
    fact("ann", "2026-03-01", "30", types=["tea"]),
    fact("bob", "2026-01-10", "200"),
    fact("cat", "2025-12-20", "80"),
    fact("cat", "2026-01-15", "40"),
    fact("dan", "2026-02-10", "60"),
    fact("dan", "2026-02-10", "10", discounted=True),
    fact("eve", "2026-03-10", "25", discounted=True),
]


def test_repurchase_rate_counts_new_customers_who_came_back_on_a_later_day():
    rate = metrics.repurchase_rate(SHOP, START, END, 30, AS_OF)
    # New in the period: ann, bob, dan (cat started in December). Only ann came back
    # within 30 days; dan's second order was the same day.
    assert (rate.new_customers, rate.new_customers_in_window, rate.repeated) == (3, 0, 1)
    assert rate.rate == Decimal("0.3333")
    # The seeds' simple rate: ann, bob, cat, dan ordered in the period; ann on two days.
    assert (rate.buyers, rate.repeat_buyers, rate.simple_rate) == (4, 1, Decimal("0.25"))


def test_customers_whose_window_is_still_open_are_not_counted_yet():
    rate = metrics.repurchase_rate(SHOP, START, END, 60, AS_OF)
    # dan's 60 days end on 11 April: after 15 March.
    assert (rate.new_customers, rate.new_customers_in_window, rate.repeated) == (3, 1, 1)
    assert rate.rate == Decimal("0.5")


def test_revenue_from_returning_customers_adds_up_to_the_period_revenue():
    split = metrics.revenue_split(SHOP, START, END)
    assert (split.orders, split.revenue) == (6, Decimal("460"))
    # ann's 20 January (50) and cat's 15 January (40).
    assert (split.returning_orders, split.returning_revenue) == (2, Decimal("90"))
    assert split.new_revenue + split.returning_revenue == split.revenue
    assert split.returning_share == Decimal("0.1957")


def test_repurchase_cycle_overall_and_per_product_type():
    gaps = metrics.repurchase_gaps(SHOP, START, END)
    assert sorted(gaps) == [15, 26]
    cycle = metrics.summarise_gaps(gaps)
    assert cycle.median_days == 20.5
    assert dict(cycle.histogram) == {7: 0, 14: 0, 30: 2, 60: 0, 90: 0, 180: 0, 365: 0, None: 0}
    # Tea: ann 5 January -> 1 March is 55 days, inside a period to the end of March.
    assert metrics.repurchase_gaps(SHOP, START, date(2026, 4, 1), product_type="tea") == [55]


def test_cohort_matrix_and_realised_revenue_by_cohort_age():
    january, february = metrics.cohorts(SHOP, START, END, AS_OF)
    assert (january.month, january.customers) == (date(2026, 1, 1), 2)
    assert january.retention == (Decimal(1), Decimal(0), Decimal("0.5"))
    assert january.revenue_per_customer == (Decimal("175"), Decimal("175"), Decimal("190"))
    assert (february.month, february.customers, february.retention) == (
        date(2026, 2, 1),
        1,
        (Decimal(1), Decimal(0)),
    )
    assert february.revenue_per_customer == (Decimal("70"), Decimal("70"))


def test_the_seeds_ltv_formula_multiplies_aov_frequency_and_lifespan():
    ltv = metrics.formula_ltv(SHOP, START, END, Decimal(3))
    # 460 / 6 orders; 6 orders / 4 customers over 59 days, scaled to 365.
    assert ltv.average_order_value == Decimal("76.67")
    assert ltv.orders_per_year == Decimal("9.28")
    assert ltv.ltv == Decimal("2134.32")  # 460/4 * 365/59 * 3


def test_segments_rfm_price_sensitivity_and_high_value():
    thresholds = metrics.segment_thresholds(20.5)
    assert (thresholds.new_days, thresholds.active_days) == (20, 40)

    scores = {s.customer: s for s in metrics.score_customers(SHOP, AS_OF, thresholds)}

    assert {c: s.segment for c, s in scores.items()} == {
        "ann": "active",  # last order 14 days ago
        "bob": "dormant",  # 64 days
        "cat": "dormant",  # 59 days
        "dan": "active",  # first order 33 days ago, last 33
        "eve": "new",  # first order 5 days ago
    }
    assert {c: s.rfm for c, s in scores.items()} == {
        "ann": "454",
        "bob": "115",
        "cat": "233",
        "dan": "342",
        "eve": "521",
    }
    assert (scores["dan"].discount_share, scores["eve"].discount_share) == (
        Decimal("0.5"),
        Decimal(1),
    )
    assert [c for c, s in scores.items() if s.high_value] == ["bob"]


def test_segment_thresholds_follow_the_cycle_within_bounds():
    assert metrics.segment_thresholds(None).new_days == 30
    assert metrics.segment_thresholds(2).new_days == 7
    assert metrics.segment_thresholds(1000).active_days == 730


def test_an_empty_shop_has_no_rates_rather_than_zeroes():
    rate = metrics.repurchase_rate([], START, END, 30, AS_OF)
    assert (rate.rate, rate.simple_rate) == (None, None)
    assert metrics.revenue_split([], START, END).returning_share is None
    assert metrics.summarise_gaps([]).median_days is None
    assert metrics.cohorts([], START, END, AS_OF) == []
    assert metrics.formula_ltv([], START, END, Decimal(3)).ltv is None
    assert metrics.score_customers([], AS_OF, metrics.segment_thresholds(None)) == []


def test_a_one_customer_shop():
    shop = [fact("ann", "2026-01-05", "10"), fact("ann", "2026-02-05", "20")]
    rate = metrics.repurchase_rate(shop, START, END, 45, AS_OF)
    assert (rate.rate, rate.simple_rate) == (Decimal(1), Decimal(1))
    (only,) = metrics.score_customers(shop, AS_OF, metrics.segment_thresholds(31))
    assert (only.rfm, only.high_value, only.segment) == ("111", True, "active")


def test_ntile_matches_sql():
    assert metrics.ntile(7) == [1, 1, 2, 2, 3, 4, 5]
    assert metrics.ntile(3) == [1, 2, 3]


def test_uplift_interval_reproduces_newcombes_published_examples():
    # Newcombe (1998), Table II, method 10: 56/70 vs 48/80 -> 0.0524 to 0.3339;
    # 9/10 vs 3/10 -> 0.1705 to 0.8090.
    first = metrics.uplift(70, 56, 80, 48)
    assert first.absolute_low is not None
    assert first.absolute_high is not None
    assert first.relative is not None
    assert first.relative_low is not None
    assert first.relative_high is not None
    assert first.absolute == pytest.approx(0.2)
    assert (round(first.absolute_low, 4), round(first.absolute_high, 4)) == (0.0524, 0.3339)
    assert first.verdict.startswith("Reminders recover more: +20.0%")
    second = metrics.uplift(10, 9, 10, 3)
    assert second.absolute_low is not None
    assert second.absolute_high is not None
    assert (round(second.absolute_low, 4), round(second.absolute_high, 4)) == (0.1705, 0.8090)
    # Relative uplift 0.8/0.6 - 1, Katz log interval around the ratio.
    assert first.relative == pytest.approx(0.8 / 0.6 - 1)
    assert first.relative_low < first.relative < first.relative_high


def test_too_small_samples_say_so_in_a_plain_sentence():
    small = metrics.uplift(12, 3, 4, 0)
    assert small.too_small
    assert small.verdict.startswith("Too few carts to tell yet")
    assert metrics.uplift(10, 2, 0, 0).verdict == "No comparison yet: one of the groups is empty."


def test_repurchase_by_segment_on_the_day_before_the_period_and_by_tier():
    thresholds = metrics.segment_thresholds(20.5)  # new within 20 days, active within 40
    groups = {
        g.group: (g.customers, g.ordered, g.rate)
        for g in metrics.repurchase_by_segment(
            SHOP, date(2026, 1, 25), date(2026, 3, 2), thresholds, {"ann": "gold"}
        )
    }
    # Before 25 January: ann (first 20 days before: new), bob (15: new), cat (first 36
    # days before, last 10: active). Only ann orders in the period (1 March).
    assert groups == {
        "new": (2, 1, Decimal("0.5")),
        "active": (1, 0, Decimal("0")),
        "dormant": (0, 0, None),
        "tier:gold": (1, 1, Decimal(1)),
        "non-member": (2, 0, Decimal("0")),
    }


@given(st.lists(st.integers(min_value=1, max_value=800), max_size=60))
def test_gap_counts_summarise_as_the_gaps_themselves(gaps):
    """What PostgreSQL returns (a count per distinct gap) gives the same median and histogram."""
    assert metrics.summarise_gap_counts(Counter(gaps)) == metrics.summarise_gaps(gaps)


def test_top_share_takes_the_rounded_up_tenth_and_breaks_ties_by_key():
    assert metrics.top_share({}) == set()
    assert metrics.top_share({"a": 1}) == {"a"}
    values = {f"c{i:02}": i % 4 for i in range(11)}  # 11 customers: the top ceil(1.1) = 2
    assert metrics.top_share(values) == {"c03", "c07"}  # the two 3s
    assert metrics.top_share({"b": 5, "a": 5, "c": 5, "d": 1}) == {"a"}  # a tie: by key
    assert metrics.top_share({"a": 1.5, "b": float("-inf")}) == {"a"}
