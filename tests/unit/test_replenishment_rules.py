"""When a customer runs out of a product: the expected interval, the run-out and the reminder."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saleor_retention_plugin.domain.replenishment import (
    CREDIBILITY_K,
    MAX_QUANTITY_FACTOR,
    MIN_PRODUCT_OBSERVATIONS,
    PRESETS,
    CycleLevel,
    CycleRange,
    CycleTable,
    IntervalSource,
    Purchase,
    expected_interval,
    parse_cycle_rules,
    plan_reminder,
    product_median,
    quantity_factor,
    repurchase_intervals,
    still_due,
)

T0 = datetime(2026, 1, 1, 9, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def test_the_seeds_presets_are_the_merchants_starting_points():
    assert {name: (c.min_days, c.max_days) for name, c in PRESETS.items()} == {
        "food_drink": (7, 30),
        "beauty": (30, 60),
        "apparel": (30, 90),
        "baby": (15, 45),
        "electronics": (180, 365),
    }


def test_cycle_rules_read_presets_ranges_and_single_days():
    rules = parse_cycle_rules("category:12 = beauty\nproduct_type:3=14; product:7 = 20-40")

    assert [(r.level, r.object_id, r.cycle, r.preset) for r in rules] == [
        (CycleLevel.CATEGORY, "12", CycleRange(30, 60), "beauty"),
        (CycleLevel.PRODUCT_TYPE, "3", CycleRange(14, 14), None),
        (CycleLevel.PRODUCT, "7", CycleRange(20, 40), None),
    ]
    table = CycleTable(rules)
    assert CycleTable.parse(str(table)) == table


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("category:12 = 0", "from 1"),
        ("category:12 = 60-30", "minimum not above"),
        ("category:12 = shoes", "neither a preset"),
        ("category:abc = beauty", "must be a number"),
        ("brand:1 = beauty", "level:id"),
        ("category:1 = beauty; category:1 = baby", "two cycles"),
        ("product:1 = 0-10", "from 1"),
    ],
)
def test_bad_cycle_rules_are_refused_with_what_is_wrong(text, says):
    with pytest.raises(ValueError, match=says):
        parse_cycle_rules(text)


def test_the_most_specific_configured_cycle_wins():
    table = CycleTable.parse("category:1 = beauty; product_type:2 = baby; product:3 = 10")

    assert table.cycle_for("3", "2", "1") == CycleRange(10, 10)
    assert table.cycle_for("4", "2", "1") == CycleRange(15, 45)
    assert table.cycle_for("4", "5", "1") == CycleRange(30, 60)
    assert table.cycle_for("4", "5", "6") is None


def test_same_day_reorders_are_not_intervals():
    assert repurchase_intervals([day(10), day(0), day(0.2), day(30)]) == [9.8, 20.0]


def test_a_product_median_needs_enough_observations():
    assert product_median([10.0] * (MIN_PRODUCT_OBSERVATIONS - 1)) is None
    assert product_median([10.0, 20.0, 30.0, 40.0, 100.0]) == 30.0


def test_own_interval_is_shrunk_towards_the_product_median_by_credibility():
    # Two own intervals (median 10) against a product median of 40, k = 2:
    # weight 2 / (2 + 2) = 0.5 on each -> 25 days.
    got = expected_interval([8.0, 12.0], 40.0, CycleRange(100, 100))

    assert got is not None
    assert got.source is IntervalSource.SHRUNK
    assert got.days == pytest.approx(25.0)


def test_without_product_median_the_own_interval_shrinks_towards_the_configured_cycle():
    got = expected_interval([10.0], None, CycleRange(30, 60))  # prior 45, weight 1/3 on own

    assert got is not None
    assert got.days == pytest.approx(10 / 3 + 45 * 2 / 3)


def test_the_fallbacks_in_order():
    own = expected_interval([10.0], None, None)
    product = expected_interval([], 21.0, CycleRange(7, 30))
    configured = expected_interval([], None, CycleRange(7, 30))

    assert own is not None
    assert (own.source, own.days) == (IntervalSource.OWN, 10.0)
    assert product is not None
    assert (product.source, product.days) == (IntervalSource.PRODUCT, 21.0)
    assert configured is not None
    assert (configured.source, configured.days) == (IntervalSource.CONFIGURED, 18.5)
    assert expected_interval([], None, None) is None


def test_a_first_purchase_of_a_configured_product_is_reminded_before_the_cycle_ends():
    plan = plan_reminder([Purchase(day(0), 3)], None, CycleRange(30, 60), lead_days=3)

    # A first purchase is not scaled by its quantity: 45 days, reminded 3 days earlier.
    assert plan is not None
    assert plan.run_out_at == day(45)
    assert plan.due_at == day(42)


def test_buying_twice_the_usual_quantity_lasts_twice_as_long():
    purchases = [Purchase(day(0), 1), Purchase(day(20), 1), Purchase(day(40), 2)]
    plan = plan_reminder(purchases, None, None, lead_days=0)

    # Own median 20 days (no prior); mean quantity 4/3, so 2 units last 1.5 times as long.
    assert plan is not None
    assert plan.interval.source is IntervalSource.OWN
    assert plan.run_out_at == day(40 + 20 * 1.5)


def test_the_reminder_is_never_due_before_the_purchase():
    plan = plan_reminder([Purchase(day(0), 1)], None, CycleRange(2, 2), lead_days=10)

    assert plan is not None
    assert plan.due_at == day(0)


def test_nothing_known_means_no_reminder():
    assert plan_reminder([Purchase(day(0), 1)], None, None, lead_days=3) is None
    assert plan_reminder([], 10.0, None, lead_days=3) is None


def test_a_reorder_after_the_anchor_stops_the_reminder():
    assert still_due(day(10), [day(1), day(10)])
    assert not still_due(day(10), [day(11)])


intervals = st.lists(st.floats(min_value=1, max_value=400), min_size=1, max_size=30)


@given(own=intervals, prior=st.floats(min_value=1, max_value=400))
def test_the_shrunk_interval_lies_between_the_customer_and_the_prior(own, prior):
    got = expected_interval(own, prior, None)
    own_median = sorted(own)[len(own) // 2] if len(own) % 2 else None

    assert got is not None
    low, high = min(min(own), prior), max(max(own), prior)
    assert low - 1e-9 <= got.days <= high + 1e-9
    if own_median is not None:
        weight = len(own) / (len(own) + CREDIBILITY_K)
        assert got.days == pytest.approx(weight * own_median + (1 - weight) * prior)


@given(own=intervals, prior=st.floats(min_value=1, max_value=400))
def test_more_own_intervals_pull_harder_towards_the_customer(own, prior):
    once = expected_interval(own, prior, None)
    twice = expected_interval(own + own, prior, None)  # same median, twice the evidence

    assert once is not None
    assert twice is not None
    assert abs(twice.days - prior) >= abs(once.days - prior) - 1e-9


@given(
    last=st.integers(min_value=1, max_value=1000),
    mean=st.floats(min_value=0.01, max_value=1000),
)
def test_the_quantity_factor_is_bounded(last, mean):
    assert 1 / MAX_QUANTITY_FACTOR - 1e-12 <= quantity_factor(last, mean) <= MAX_QUANTITY_FACTOR


@given(
    gaps=st.lists(st.integers(min_value=0, max_value=200), min_size=0, max_size=8),
    quantities=st.lists(st.integers(min_value=1, max_value=5), min_size=9, max_size=9),
    lead=st.integers(min_value=0, max_value=60),
    median=st.one_of(st.none(), st.floats(min_value=1, max_value=365)),
)
def test_a_plan_is_due_between_the_last_purchase_and_its_run_out(gaps, quantities, lead, median):
    moments = [day(0)]
    for gap in gaps:
        moments.append(moments[-1] + timedelta(days=gap))
    purchases = [Purchase(m, q) for m, q in zip(moments, quantities, strict=False)]
    plan = plan_reminder(purchases, median, CycleRange(7, 30), lead)

    assert plan is not None
    assert plan.last_purchased_at == moments[-1]
    assert plan.last_purchased_at <= plan.due_at <= plan.run_out_at
    assert plan.interval.days > 0
