"""Who is dormant, when each win-back step is due, and what it offers whom."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saleor_retention_plugin.domain.winback import (
    MIN_DORMANCY_DAYS,
    IncentiveKind,
    WinbackPolicy,
    WinbackStep,
    dormancy_days,
    dormant_at,
    incentive_for,
    next_step,
    parse_step_discounts,
    step_due_at,
    still_due,
    usual_interval_days,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = WinbackPolicy()


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def test_a_customer_is_dormant_after_twice_their_usual_interval():
    orders = [day(0), day(20), day(50), day(80)]  # gaps 20, 30, 30 -> median 30

    assert usual_interval_days(orders) == 30
    assert dormant_at(day(80), 30, POLICY) == day(140)


def test_a_single_order_customer_is_dormant_after_the_default_days():
    assert usual_interval_days([day(5)]) is None
    assert dormant_at(day(5), None, POLICY) == day(95)
    assert dormant_at(day(5), None, WinbackPolicy(default_days=60)) == day(65)


def test_frequent_buyers_are_not_called_dormant_within_two_weeks():
    assert dormancy_days(2.0, POLICY) == MIN_DORMANCY_DAYS


def test_steps_count_from_dormancy():
    assert [step_due_at(day(100), step) for step in POLICY.steps] == [day(100), day(114), day(130)]


@pytest.mark.parametrize(
    ("high_value", "price_sensitive", "others", "step", "expected"),
    [
        (True, False, IncentiveKind.DISCOUNT, 2, (IncentiveKind.PERK, "", "Early access")),
        (True, True, IncentiveKind.DISCOUNT, 0, (IncentiveKind.PERK, "", "Early access")),
        (False, True, IncentiveKind.NONE, 1, (IncentiveKind.DISCOUNT, "15%", "")),
        (False, False, IncentiveKind.DISCOUNT, 2, (IncentiveKind.DISCOUNT, "20%", "")),
        (False, False, IncentiveKind.NONE, 2, (IncentiveKind.NONE, "", "")),
        (False, False, IncentiveKind.PERK, 0, (IncentiveKind.PERK, "", "Early access")),
    ],
)
def test_high_value_customers_get_perks_and_price_sensitive_ones_discounts(
    high_value, price_sensitive, others, step, expected
):
    policy = WinbackPolicy(perk="Early access", others=others)

    got = incentive_for(step, high_value=high_value, price_sensitive=price_sensitive, policy=policy)

    assert (got.kind, got.discount, got.perk) == expected


def test_a_step_without_a_discount_offers_nothing_rather_than_a_zero_coupon():
    policy = WinbackPolicy(steps=(WinbackStep(0, ""), WinbackStep(10, "5")))

    assert incentive_for(0, high_value=False, price_sensitive=True, policy=policy).kind is (
        IncentiveKind.NONE
    )
    assert incentive_for(1, high_value=False, price_sensitive=True, policy=policy).discount == "5"


def test_step_discounts_parse_one_per_step():
    assert parse_step_discounts("10%, 0, 7.5", 3) == ("10%", "", "7.5")
    with pytest.raises(ValueError, match="one discount per step"):
        parse_step_discounts("10%", 3)
    with pytest.raises(ValueError, match="at most 100%"):
        parse_step_discounts("120%", 1)
    with pytest.raises(ValueError, match="not a discount"):
        parse_step_discounts("lots", 1)


def test_policy_problems_name_the_field():
    assert WinbackPolicy().problems() == {}
    assert "winback_step_days" in WinbackPolicy(steps=(WinbackStep(10), WinbackStep(5))).problems()
    assert "winback_perk" in WinbackPolicy(perk=" ").problems()


def test_an_order_after_the_anchor_stops_the_series():
    assert still_due(day(3), [day(1), day(3)])
    assert not still_due(day(3), [day(4)])


@given(
    usual=st.one_of(st.none(), st.floats(min_value=0, max_value=1000)),
    factor=st.decimals(min_value=1, max_value=10, places=2),
)
def test_dormancy_is_never_sooner_than_the_floor_and_grows_with_the_interval(usual, factor):
    policy = WinbackPolicy(dormancy_factor=Decimal(factor))
    days = dormancy_days(usual, policy)

    assert days >= min(MIN_DORMANCY_DAYS, policy.default_days)
    if usual is not None:
        assert dormancy_days(usual + 10, policy) >= days


@pytest.mark.parametrize(
    ("last_sent", "now", "expected"),
    [
        (0, 99, (None, day(100))),  # not dormant yet: look again at dormancy
        (0, 100, (1, day(114))),
        (1, 113, (None, day(114))),
        (1, 114, (2, day(130))),
        (0, 131, (3, None)),  # sweep down for a month: only the latest step, then done
        (3, 400, (None, None)),
    ],
)
def test_the_next_step_sends_only_the_latest_overdue_message(last_sent, now, expected):
    got = next_step(day(100), POLICY, last_sent, day(now))

    assert (got.step, got.check_at) == expected
