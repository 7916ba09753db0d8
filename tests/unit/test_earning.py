"""Earning rules: what an order is worth and what a cancellation or refund takes back."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saleor_retention_plugin.conf import CreditTrigger
from saleor_retention_plugin.domain.earning import (
    order_earns_points,
    points_for_amount,
    points_to_take_back,
)
from saleor_retention_plugin.domain.orders import OrderSnapshot

ORDER = OrderSnapshot(
    order_id="7f1f4b1e-0000-4000-8000-000000000001",
    number="1001",
    channel_slug="default-channel",
    channel_currency="USD",
    currency="USD",
    customer_id=42,
    email="ann@example.com",
    status="unfulfilled",
    is_fully_paid=True,
    points_base_amount=Decimal("100.00"),
    total_amount=Decimal("120.00"),
    refunded_amount=Decimal(0),
    created_at=datetime(2026, 3, 1, 12, tzinfo=UTC),
)

money = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize(
    ("amount", "rate", "multiplier", "points"),
    [
        ("100.00", "1", "1", 100),
        ("99.99", "1", "1", 99),  # rounded down, never up
        ("0.99", "1", "1", 0),
        ("99.99", "0.5", "1", 49),
        ("10", "2.5", "1", 25),
        ("10.01", "1", "2", 20),
        ("10.50", "1", "1.5", 15),
        ("0", "1", "1", 0),
        ("-50", "1", "1", 0),  # a negative amount never gives (or takes) points
        ("100", "0", "1", 0),  # rate 0 switches earning off
        ("100", "1", "0", 0),
        ("100", "1", "-1", 0),
    ],
)
def test_points_for_amount_is_whole_points_rounded_down(amount, rate, multiplier, points):
    assert points_for_amount(Decimal(amount), Decimal(rate), Decimal(multiplier)) == points


@given(
    amount=st.decimals(min_value=-1000, max_value=10**9, places=2),
    rate=st.decimals(min_value=0, max_value=1000, places=3),
    multiplier=st.decimals(min_value=0, max_value=10, places=2),
)
def test_points_for_amount_is_the_floor_of_the_exact_product(amount, rate, multiplier):
    exact = Fraction(amount) * Fraction(rate) * Fraction(multiplier)

    assert points_for_amount(amount, rate, multiplier) == max(math.floor(exact), 0)


@pytest.mark.parametrize(
    ("trigger", "status", "is_fully_paid", "earns"),
    [
        (CreditTrigger.ORDER_FULLY_PAID, "unfulfilled", True, True),
        (CreditTrigger.ORDER_FULLY_PAID, "unfulfilled", False, False),
        (CreditTrigger.ORDER_FULLY_PAID, "fulfilled", True, True),
        (CreditTrigger.ORDER_FULLY_PAID, "canceled", False, False),  # cancelled before payment
        (CreditTrigger.ORDER_FULLY_PAID, "canceled", True, True),  # earns, then gives all back
        (CreditTrigger.ORDER_CREATED, "unfulfilled", False, True),
        (CreditTrigger.ORDER_CREATED, "unconfirmed", False, False),
        (CreditTrigger.ORDER_CREATED, "partially_fulfilled", True, True),
        (CreditTrigger.ORDER_CREATED, "draft", True, False),
        (CreditTrigger.ORDER_CREATED, "unconfirmed", True, False),
        (CreditTrigger.ORDER_CREATED, "expired", False, False),
        (CreditTrigger.ORDER_FULLY_PAID, "draft", True, False),
        (CreditTrigger.ORDER_FULLY_PAID, "expired", True, False),
    ],
)
def test_order_earns_points_per_trigger_and_status(trigger, status, is_fully_paid, earns):
    order = dataclasses.replace(ORDER, status=status, is_fully_paid=is_fully_paid)

    assert order_earns_points(order, trigger) is earns


def refunded(amount: str, total: str = "120.00", status: str = "unfulfilled") -> OrderSnapshot:
    return dataclasses.replace(
        ORDER, refunded_amount=Decimal(amount), total_amount=Decimal(total), status=status
    )


@pytest.mark.parametrize(
    ("earned", "order", "taken"),
    [
        (100, refunded("0"), 0),
        (100, refunded("30.00"), 25),  # a quarter of what was paid
        (100, refunded("60.00"), 50),
        (100, refunded("120.00"), 100),  # full refund takes back exactly what was earned
        (100, refunded("500.00"), 100),  # over-refund clamps
        (100, refunded("0.01"), 0),  # rounded down, in the customer's favour
        (30, refunded("10.00", total="30.00"), 10),  # a third of 30 is 10, not 9
        (3, refunded("1.00", total="3.00"), 1),
        (9, refunded("7.00", total="21.00"), 3),
        (100, refunded("0", status="canceled"), 100),  # cancellation takes back everything
        (100, refunded("30.00", status="canceled"), 100),
        (0, refunded("120.00"), 0),
        (0, refunded("0", status="canceled"), 0),
        (100, refunded("50.00", total="0"), 0),  # nothing was paid: no proportion to take
    ],
)
def test_points_to_take_back(earned, order, taken):
    assert points_to_take_back(earned, order) == taken


@given(
    earned=st.integers(0, 10**7),
    total=st.decimals(min_value=Decimal("0.01"), max_value=10**7, places=2),
    refunded_amount=money,
)
def test_take_back_is_proportional_rounded_down_and_never_more_than_earned(
    earned, total, refunded_amount
):
    order = dataclasses.replace(ORDER, total_amount=total, refunded_amount=refunded_amount)
    exact = Fraction(earned) * min(Fraction(refunded_amount), Fraction(total)) / Fraction(total)

    taken = points_to_take_back(earned, order)

    assert taken == math.floor(exact)
    assert 0 <= taken <= earned


@given(
    earned=st.integers(1, 10**6),
    total=st.decimals(min_value=Decimal("0.01"), max_value=10**6, places=2),
    first=st.decimals(min_value=0, max_value=10**6, places=2),
    second=st.decimals(min_value=0, max_value=10**6, places=2),
)
def test_more_refunded_never_takes_back_less(earned, total, first, second):
    low, high = sorted([first, second])
    take = [
        points_to_take_back(
            earned, dataclasses.replace(ORDER, total_amount=total, refunded_amount=r)
        )
        for r in (low, high)
    ]

    assert take[0] <= take[1]


def test_itemised_refunds_never_count_for_more_than_was_given_back():
    from saleor_retention_plugin.domain.orders import OrderSnapshot, order_value

    order = OrderSnapshot(
        order_id="o",
        number="1",
        channel_slug="c",
        channel_currency="USD",
        currency="USD",
        customer_id=1,
        email=None,
        status="fulfilled",
        is_fully_paid=True,
        points_base_amount=Decimal(100),
        total_amount=Decimal(120),
        refunded_amount=Decimal(30),
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        goods_amount=Decimal(100),
        # A granted refund of 80 of goods of which only 30 reached the customer so far.
        refunded_goods_amount=Decimal(80),
    )

    value = order_value(order)

    assert value.refunded_goods_share == Fraction(30, 100)
    assert value.net_goods_amount == Decimal("70.00")
