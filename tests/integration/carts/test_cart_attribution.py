"""What the reminders caused: a cart's attribution window opens at its first reminder (a
holdout cart's when its first reminder would have gone out) and both groups are measured
the same way, carts completed apart from other orders of the same customer.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from saleor_retention_plugin.domain.holdout import is_in_holdout
from saleor_retention_plugin.models import FlowConversion, TrackedCart
from saleor_retention_plugin.selectors.carts import cart_recovery_summary
from saleor_retention_plugin.services import carts
from saleor_retention_plugin.services.carts import holdout_salt

from . import cart_shop
from .cart_shop import (
    CHANNEL,
    HOUR,
    T0,
    order,
    put_cart,
    series,
    shop_settings,
    sweep,
    tea_line,
)

pytestmark = pytest.mark.django_db

DAY = 24 * HOUR
MINUTE = timedelta(minutes=1)


def token_in(group: str) -> str:
    """A checkout token that the 50% holdout draw puts in ``group``."""
    while True:
        token = str(uuid.uuid4())
        held = is_in_holdout(token, salt=holdout_salt(CHANNEL), percent=50)
        if held == (group == "holdout"):
            return token


def abandon(track, group: str, *, email: str = "ann@example.com", customer_id=None) -> str:
    token = track(token_in(group), email=email, customer_id=customer_id)
    put_cart(token, tea_line(), email=email, customer_id=customer_id)
    return token


def group(name: str, *, now=T0 + 30 * DAY) -> dict:
    numbers = cart_recovery_summary(CHANNEL, now=now)["groups"][name]
    return {key: value for key, value in numbers.items() if key != "revenue"}


@pytest.fixture(autouse=True)
def half_held_out():
    # First reminder 2 hours after the last change, abandoned after 1 hour.
    cart_shop.configure(cart_holdout_percent="50", cart_reminder_delays_hours="2, 24")


def test_a_holdout_cart_opens_its_window_when_its_first_reminder_would_have_gone_out(track):
    token = abandon(track, "holdout")
    sweep(T0 + HOUR)

    enrolment = series(token)
    assert (enrolment.data["abandoned_at"], enrolment.window_opens_at) == (
        (T0 + HOUR).isoformat(),
        T0 + 2 * HOUR,
    )


def test_an_order_before_the_first_reminder_is_no_recovery_in_either_group(track):
    reminded, held = abandon(track, "reminded"), abandon(track, "holdout", email="bo@example.com")
    sweep(T0 + HOUR)  # both abandoned; neither reminded yet

    assert carts.record_order(order(reminded, at=T0 + 90 * MINUTE), shop_settings()) is None
    assert (
        carts.record_order(
            order(held, at=T0 + 90 * MINUTE, email="bo@example.com"),
            shop_settings(),
        )
        is None
    )
    # Neither cart got (or would have got) a reminder: neither group counts it.
    assert group("reminded")["abandoned_carts"] == group("holdout")["abandoned_carts"] == 0


def test_completed_carts_and_other_orders_are_counted_apart_in_both_groups(track):
    completed = abandon(track, "reminded", email="ann@example.com")
    left_for_another = abandon(track, "reminded", email="bo@example.com")
    never_back = abandon(track, "reminded", email="cy@example.com")
    held_completed = abandon(track, "holdout", email="di@example.com")
    held_other = abandon(track, "holdout", email="ed@example.com")
    sweep(T0 + HOUR)
    sweep(T0 + 2 * HOUR)  # the first reminders, and the holdout's would-be moment

    carts.record_order(order(completed, at=T0 + 5 * HOUR, total="100.00"), shop_settings())
    carts.record_order(
        order(None, at=T0 + 3 * DAY, total="40.00", email="bo@example.com"), shop_settings()
    )
    carts.record_order(
        order(held_completed, at=T0 + 6 * HOUR, total="70.00", email="di@example.com"),
        shop_settings(),
    )
    carts.record_order(
        order(None, at=T0 + 2 * DAY, total="30.00", email="ed@example.com"), shop_settings()
    )

    assert group("reminded") == {
        "abandoned_carts": 3,
        "recovered_carts": 2,
        "recovery_rate": "66.7",
        "completed_carts": 1,
        "completion_rate": "33.3",
        "other_orders": 1,
        "other_order_rate": "33.3",
    }
    assert group("holdout") == {
        "abandoned_carts": 2,
        "recovered_carts": 2,
        "recovery_rate": "100.0",
        "completed_carts": 1,
        "completion_rate": "50.0",
        "other_orders": 1,
        "other_order_rate": "50.0",
    }
    ways = {
        uuid.UUID(key.removeprefix("cart:")): via
        for key, via in FlowConversion.objects.values_list("enrolment__subject_key", "via")
    }
    assert ways == {
        uuid.UUID(completed): "subject",
        uuid.UUID(left_for_another): "same_customer",
        uuid.UUID(held_completed): "subject",
        uuid.UUID(held_other): "same_customer",
    }
    assert uuid.UUID(never_back) not in ways


def test_the_window_is_counted_from_the_reminder_not_from_abandonment(track):
    token = abandon(track, "reminded", customer_id=5)
    sweep(T0 + HOUR)
    sweep(T0 + 2 * HOUR)  # reminder 1 at T0 + 2h; the window lasts 7 days from there

    inside = carts.record_order(
        order(None, at=T0 + 2 * HOUR + 7 * DAY, customer_id=5), shop_settings()
    )

    assert inside is not None
    assert (inside.via, inside.step) == ("same_customer", 1)
    assert TrackedCart.objects.get(
        checkout_token=inside.enrolment.subject_key.removeprefix("cart:")
    ).checkout_token == uuid.UUID(token)


def test_a_holdout_cart_stopped_before_its_window_opened_is_not_recovered_later(track):
    token = abandon(track, "holdout", customer_id=5)
    sweep(T0 + HOUR)  # abandoned; it would have been reminded at T0 + 2h
    assert (
        carts.record_order(order(None, at=T0 + 90 * MINUTE, customer_id=5), shop_settings()) is None
    )

    later = carts.record_order(order(None, at=T0 + DAY, customer_id=5), shop_settings())

    assert later is None
    assert group("holdout")["abandoned_carts"] == 0
    assert series(token).stop_reason == "customer_ordered"


def test_quiet_hours_move_the_holdouts_window_as_they_would_move_its_reminder(track):
    cart_shop.configure(
        cart_holdout_percent="50",
        cart_reminder_delays_hours="2, 24",
        quiet_hours_start="21:00",
        quiet_hours_end="08:00",
        timezone="UTC",
    )
    evening = T0.replace(hour=19, minute=30)
    token = track(token_in("holdout"), at=evening)
    put_cart(token, tea_line())
    sweep(evening + HOUR)

    assert series(token).window_opens_at == (T0 + DAY).replace(hour=8, minute=0)


def test_an_order_stops_and_credits_a_customers_carts_in_as_many_statements_however_many(
    track,
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from saleor_retention_plugin.models import FlowMessage

    one = [abandon(track, "reminded", email="ann@example.com")]
    three = [abandon(track, "reminded", email="bo@example.com") for _ in range(3)]
    sweep(T0 + HOUR)
    sweep(T0 + 2 * HOUR)  # every cart's first reminder; the second still waits

    statements = []
    for email in ("ann@example.com", "bo@example.com"):
        with CaptureQueriesContext(connection) as queries:
            credited = carts.record_order(
                order(None, at=T0 + 5 * HOUR, email=email), shop_settings()
            )
        statements.append(len(queries))
        assert credited is not None
        assert (credited.via, credited.step) == ("same_customer", 1)

    assert statements[0] == statements[1]
    for token in one + three:
        assert series(token).stop_reason == "customer_ordered"
    assert not FlowMessage.objects.waiting().exists()


def test_an_order_recorded_again_is_found_with_its_carts_series_and_changes_nothing(track):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    token = abandon(track, "reminded")
    sweep(T0 + HOUR)
    sweep(T0 + 3 * HOUR)  # its first reminder
    placed = order(token, at=T0 + 5 * HOUR)
    assert carts.record_order(placed, shop_settings()) is not None

    with CaptureQueriesContext(connection) as queries:
        again = carts.record_order(placed, shop_settings())

    assert again is None
    assert FlowConversion.objects.count() == 1
    # The carts locked, then their series locked with whether the order was recorded
    # already: nothing else is read or written.
    assert len(queries) == 2, [q["sql"][:60] for q in queries]
