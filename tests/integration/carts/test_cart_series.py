"""A cart's series is an enrolment on the engine from the moment the cart is tracked.

The checkout upsert writes it with the cart, the engine's one scheduler claims it (lease,
``SKIP LOCKED``), the outbox points at it, and attribution by other flows leaves it alone.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from saleor_retention_plugin.domain.holdout import is_in_holdout
from saleor_retention_plugin.models import FlowConversion, TrackedCart
from saleor_retention_plugin.services import cart_reminders, flow_events, flows
from saleor_retention_plugin.services.carts import holdout_salt
from saleor_retention_plugin.services.enrolments import SWEEP_LEASE, EnrolmentFlow, _claim_due

from . import cart_shop
from .cart_shop import (
    CHANNEL,
    HOUR,
    T0,
    message,
    order,
    put_cart,
    series,
    shop_settings,
    sweep,
    tea_line,
)

pytestmark = pytest.mark.django_db


def test_tracking_a_cart_enrols_its_series_and_activity_restarts_its_clock(track):
    cart_shop.configure(cart_holdout_percent="50")
    token = track(customer_id=5, language="zh-hans")

    enrolment = series(token)
    cart = TrackedCart.objects.get(checkout_token=token)
    assert (enrolment.flow, enrolment.subject_kind, enrolment.cart_id, enrolment.cycle) == (
        "cart",
        "cart",
        cart.pk,
        1,
    )
    assert (enrolment.state, enrolment.next_step, enrolment.next_check_at) == (
        "active",
        1,
        T0 + HOUR,
    )
    assert (enrolment.anchor_at, enrolment.customer_id, enrolment.email) == (
        T0,
        5,
        "ann@example.com",
    )
    assert enrolment.language_code == "zh-hans"
    assert enrolment.is_holdout == is_in_holdout(token, salt=holdout_salt(CHANNEL), percent=50)

    track(token, at=T0 + 30 * timedelta(minutes=1), customer_id=5)
    again = series(token)
    assert (again.pk, again.anchor_at, again.next_check_at) == (
        enrolment.pk,
        T0 + timedelta(minutes=30),
        T0 + timedelta(minutes=90),
    )


def test_a_sent_step_moves_the_series_on_and_the_message_points_at_it(track):
    token = track()
    put_cart(token, tea_line())
    assert sweep(T0 + HOUR) == ["sent"]

    enrolment = series(token)
    assert (enrolment.state, enrolment.next_step, enrolment.next_check_at) == (
        "active",
        2,
        T0 + 24 * HOUR,
    )
    first = message(token, 1)
    assert (first.enrolment_id, first.idempotency_key) == (
        enrolment.pk,
        f"retention:cart:{token}:1",
    )
    # Coming back restarts the clock; the step already sent stays sent.
    track(token, at=T0 + 2 * HOUR)
    assert (series(token).next_step, series(token).next_check_at) == (2, T0 + 3 * HOUR)
    assert sweep(T0 + 3 * HOUR) == []
    assert sweep(T0 + 26 * HOUR) == ["sent"]


def test_the_cart_flow_is_scheduled_by_the_engine_and_a_leased_cart_waits_for_its_lease(track):
    assert isinstance(flows.FLOWS["cart"], EnrolmentFlow)
    token = track()
    put_cart(token, tea_line())
    # Another sweep claimed it (and died): its lease keeps this sweep's hands off it.
    assert _claim_due("cart", T0 + HOUR, T0 + HOUR + SWEEP_LEASE, 10) == [series(token).pk]
    assert cart_reminders.advance_due_carts(now=T0 + HOUR).looked_at == 0

    report = cart_reminders.advance_due_carts(now=T0 + HOUR + SWEEP_LEASE)

    assert (report.looked_at, report.scheduled) == (1, 1)
    assert message(token, 1).state == "scheduled"


def test_other_flows_attribution_leaves_the_cart_series_to_the_cart_flow(track):
    token = track(customer_id=5)
    put_cart(token, tea_line(), customer_id=5)
    assert sweep(T0 + HOUR) == ["sent"]
    placed = order(None, at=T0 + 3 * HOUR, customer_id=5)

    assert flow_events.attribute_order(placed, shop_settings()) == []
    assert not FlowConversion.objects.exists()
    assert "cart" not in {flow.name for flow in flow_events.enrolment_flows()}
