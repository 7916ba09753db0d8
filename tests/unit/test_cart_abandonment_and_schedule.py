"""When a cart counts as abandoned, and when each step of the series is due."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from saleor_retention_plugin.domain.abandonment import CartFacts, NotAbandoned, why_not_abandoned
from saleor_retention_plugin.domain.schedules import (
    DEFAULT_SERIES,
    DiscountKind,
    Incentive,
    ReminderSeries,
    ReminderStep,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def facts(**overrides):
    values = {
        "last_activity_at": NOW - 2 * HOUR,
        "has_email": True,
        "has_customer": False,
        "line_count": 2,
    }
    return CartFacts(**{**values, **overrides})


def test_an_idle_cart_with_lines_and_an_email_is_abandoned():
    assert why_not_abandoned(facts(), now=NOW) is None


def test_a_signed_in_customer_without_email_on_the_cart_is_enough():
    assert why_not_abandoned(facts(has_email=False, has_customer=True), now=NOW) is None


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"last_activity_at": NOW - timedelta(minutes=59)}, NotAbandoned.STILL_ACTIVE),
        ({"has_email": False}, NotAbandoned.NO_CONTACT),
        ({"line_count": 0}, NotAbandoned.EMPTY),
        ({"exists": False}, NotAbandoned.DELETED),
        ({"customer_ordered_since_activity": True}, NotAbandoned.CUSTOMER_ORDERED),
        ({"opted_out": True}, NotAbandoned.OPTED_OUT),
    ],
)
def test_reasons_a_cart_is_not_abandoned(overrides, reason):
    assert why_not_abandoned(facts(**overrides), now=NOW) is reason


def test_the_threshold_is_configurable():
    idle_90_min = facts(last_activity_at=NOW - timedelta(minutes=90))
    assert why_not_abandoned(idle_90_min, now=NOW, threshold=2 * HOUR) is NotAbandoned.STILL_ACTIVE
    assert why_not_abandoned(idle_90_min, now=NOW, threshold=HOUR) is None


@pytest.mark.parametrize(
    ("reason", "final"),
    [
        (NotAbandoned.STILL_ACTIVE, False),
        (NotAbandoned.NO_CONTACT, False),
        (NotAbandoned.EMPTY, True),
        (NotAbandoned.ORDERED, True),
        (NotAbandoned.OPTED_OUT, True),
    ],
)
def test_only_stop_conditions_end_the_series(reason, final):
    assert reason.is_final is final


def test_default_series_is_1h_24h_72h_with_a_coupon_on_step_two():
    last = NOW
    assert [DEFAULT_SERIES.due_at(n, last_activity_at=last) for n in (1, 2, 3, 4)] == [
        last + HOUR,
        last + 24 * HOUR,
        last + 72 * HOUR,
        None,
    ]
    assert [step.incentive is not None for step in DEFAULT_SERIES.steps] == [False, True, False]
    incentive = DEFAULT_SERIES.steps[1].incentive
    assert incentive is not None
    assert incentive.describe("CNY") == "10%"


@pytest.mark.parametrize(
    "steps",
    [
        pytest.param((), id="no steps"),
        pytest.param((ReminderStep(1, 2 * HOUR), ReminderStep(2, HOUR)), id="out of order"),
        pytest.param((ReminderStep(1, HOUR), ReminderStep(2, HOUR)), id="same time twice"),
        pytest.param((ReminderStep(1, timedelta(0)),), id="immediately"),
        pytest.param((ReminderStep(2, HOUR),), id="numbered wrong"),
    ],
)
def test_a_series_that_makes_no_sense_is_refused(steps):
    with pytest.raises(ValueError):  # noqa: PT011
        ReminderSeries(steps)


def test_a_fixed_coupon_is_described_in_the_cart_currency():
    assert Incentive(DiscountKind.FIXED, Decimal("5")).describe("USD") == "5.00 USD"
