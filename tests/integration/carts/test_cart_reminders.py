"""Abandoned carts, end to end through the engine: tracking, the series, stop conditions,
the holdout, recovery attribution, and carts that are not what they should be.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail

from saleor_retention_plugin.domain.carts import PlacedOrder
from saleor_retention_plugin.models import (
    CartState,
    ContactLogEntry,
    FlowConversion,
    FlowEnrolment,
    FlowMessage,
    MessageState,
    TrackedCart,
)
from saleor_retention_plugin.selectors.carts import cart_recovery_summary
from saleor_retention_plugin.services import cart_reminders, carts, consent, flows
from saleor_retention_plugin.services.privacy import anonymise_customer_everywhere
from tests.integration.tracked_links import tracked_targets

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

# --- tracking ----------------------------------------------------------------------------


def test_recording_activity_costs_one_query(track, django_assert_num_queries):
    token = str(uuid.uuid4())
    with django_assert_num_queries(1):
        track(token)
    with django_assert_num_queries(1):
        track(token, at=T0 + timedelta(minutes=5))
    cart = TrackedCart.objects.get(checkout_token=token)
    assert cart.last_activity_at == T0 + timedelta(minutes=5)
    assert series(token).next_check_at == T0 + timedelta(minutes=65)
    assert cart.lines == []  # lines are a task's business, never the hook's


def test_activity_keeps_the_last_known_email_and_normalises_it(track):
    token = track(email="  Ann@Example.COM ")
    track(token, at=T0 + HOUR, email=None, customer_id=7)
    cart = TrackedCart.objects.get(checkout_token=token)
    assert (cart.email, cart.customer_id) == ("ann@example.com", 7)


def test_a_converted_cart_is_never_reopened_by_late_activity(track):
    token = track()
    carts.record_order(order(token, at=T0 + HOUR), shop_settings())
    track(token, at=T0 + 2 * HOUR)
    cart = TrackedCart.objects.get(checkout_token=token)
    assert cart.state == CartState.CONVERTED
    assert series(token).next_check_at is None


# --- the series ----------------------------------------------------------------------------


def test_abandoned_cart_gets_its_first_reminder_after_an_hour_with_lines_and_link(track):
    token = track()
    put_cart(token, tea_line(quantity=2), tea_line("Tieguanyin oolong", price="66.50", sku="TGY"))

    assert sweep(T0 + timedelta(minutes=59)) == []
    assert sweep(T0 + HOUR) == ["sent"]

    sent = message(token, 1)
    assert sent.state == MessageState.SENT
    assert sent.context["total"] == "242.50"
    assert [line["product_name"] for line in sent.context["lines"]] == [
        "Longjing green tea",
        "Tieguanyin oolong",
    ]
    assert sent.context["checkout_url"] == f"https://tea.example/checkout?token={token}"
    assert sent.context["coupon_code"] is None
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    assert "Longjing green tea" in body
    checkout = f"https://tea.example/checkout?token={token}"
    assert tracked_targets(body) == [("checkout", checkout)]  # through the click redirect
    assert mail.outbox[0].to == ["ann@example.com"]


def test_the_series_runs_1h_24h_72h_with_a_coupon_on_the_second_step_then_stops(track):
    token = track()
    put_cart(token, tea_line())
    assert sweep(T0 + HOUR) == ["sent"]
    assert sweep(T0 + 23 * HOUR) == []
    assert sweep(T0 + 24 * HOUR) == ["sent"]
    assert sweep(T0 + 72 * HOUR) == ["sent"]
    assert sweep(T0 + 30 * 24 * HOUR) == []

    steps = FlowMessage.objects.filter(subject_key=token).order_by("step")
    assert [(m.step, m.state) for m in steps] == [(1, "sent"), (2, "sent"), (3, "sent")]
    coupons = [m.coupon_code for m in steps]
    assert coupons[0] is None
    assert coupons[2] is None
    coupon = coupons[1]
    assert coupon is not None
    assert coupon.startswith("CART-")
    assert steps[1].context["coupon_discount"] == "10%"
    assert coupon in str(mail.outbox[1].body)
    assert series(token).next_check_at is None


def test_a_cart_is_not_abandoned_before_the_threshold_even_if_step_one_is_earlier(track):
    cart_shop.configure(cart_abandoned_after_minutes="120", cart_reminder_delays_hours="1, 24")
    token = track()
    put_cart(token, tea_line())
    assert sweep(T0 + HOUR) == []
    assert sweep(T0 + 2 * HOUR) == ["sent"]


def test_new_activity_restarts_the_clock_for_the_steps_not_sent_yet(track):
    token = track()
    put_cart(token, tea_line())
    assert sweep(T0 + HOUR) == ["sent"]
    track(token, at=T0 + 10 * HOUR)

    assert sweep(T0 + 24 * HOUR) == []
    assert sweep(T0 + 33 * HOUR) == []
    assert sweep(T0 + 34 * HOUR) == ["sent"]
    assert FlowMessage.objects.filter(subject_key=token, step=1).count() == 1


def test_activity_after_a_step_was_scheduled_retimes_it_instead_of_sending(track):
    token = track()
    put_cart(token, tea_line())
    cart_reminders.advance_due_carts(now=T0 + HOUR)
    track(token, at=T0 + HOUR + timedelta(minutes=1))
    claims = flows.claim_due_messages(now=T0 + HOUR + timedelta(minutes=2))
    assert [
        flows.deliver_message(c.message_id, c.claim_token, now=T0 + HOUR + timedelta(minutes=2))
        for c in claims
    ] == ["retimed"]
    retimed = message(token, 1)
    assert retimed.state == MessageState.SCHEDULED
    assert retimed.next_attempt_at == T0 + 2 * HOUR + timedelta(minutes=1)
    assert mail.outbox == []
    assert sweep(T0 + 2 * HOUR + timedelta(minutes=1)) == ["sent"]


def test_a_sweep_that_was_down_sends_only_the_latest_due_step(track):
    token = track()
    put_cart(token, tea_line())
    assert sweep(T0 + 30 * HOUR) == ["sent"]
    assert list(FlowMessage.objects.filter(subject_key=token).values_list("step", flat=True)) == [2]
    assert sweep(T0 + 72 * HOUR) == ["sent"]


def test_nothing_is_sent_while_reminders_are_switched_off(track):
    cart_shop.configure(cart_reminders_enabled="false")
    token = track()
    put_cart(token, tea_line())
    assert sweep(T0 + 5 * HOUR) == []
    assert series(token).next_check_at is None


# --- stop conditions, checked again at send time ------------------------------------------


def scheduled_then(track, change):
    """Schedule step 1, apply ``change`` before a worker sends it, then deliver."""
    token = track(customer_id=5)
    put_cart(token, tea_line(), customer_id=5)
    cart_reminders.advance_due_carts(now=T0 + HOUR)
    assert message(token, 1).state == MessageState.SCHEDULED
    change(token)
    at = T0 + HOUR + timedelta(minutes=1)
    return token, [
        flows.deliver_message(c.message_id, c.claim_token, now=at)
        for c in flows.claim_due_messages(now=at)
    ]


def test_no_reminder_after_the_cart_became_an_order(track):
    token, outcomes = scheduled_then(
        track,
        lambda token: carts.record_order(
            order(token, at=T0 + HOUR, customer_id=5), shop_settings()
        ),
    )
    # record_order cancelled the waiting message; nothing is left to claim.
    assert outcomes == []
    assert message(token, 1).cancel_reason == "cart_ordered"
    assert mail.outbox == []


def test_no_reminder_when_the_checkout_was_completed_before_its_order_hook_ran(track):
    # Saleor deletes the checkout on completion; the order task may still be queued.
    token, outcomes = scheduled_then(track, lambda token: cart_shop.CARTS.update({token: None}))
    assert outcomes == ["cancelled:cart_deleted"]
    assert series(token).stop_reason == "cart_deleted"
    assert mail.outbox == []


def test_no_reminder_after_the_same_customer_ordered_another_cart(track):
    token, outcomes = scheduled_then(
        track,
        lambda token: carts.record_order(order(None, at=T0 + HOUR, customer_id=5), shop_settings()),
    )
    assert outcomes == []
    assert message(token, 1).cancel_reason == "customer_ordered"
    assert mail.outbox == []


def test_no_reminder_for_an_emptied_cart(track):
    _, outcomes = scheduled_then(track, lambda token: put_cart(token, customer_id=5))
    assert outcomes == ["cancelled:cart_emptied"]
    assert mail.outbox == []


def test_no_reminder_after_unsubscribing_and_the_series_stops(track):
    token, outcomes = scheduled_then(
        track, lambda token: consent.record_opt_out(CHANNEL, email="ANN@example.com")
    )
    assert outcomes == ["cancelled:opted_out"]
    assert (series(token).state, series(token).stop_reason) == ("stopped", "opted_out")
    assert sweep(T0 + 80 * HOUR) == []
    assert mail.outbox == []


def test_opted_out_customers_are_never_scheduled(track):
    consent.record_opt_out(CHANNEL, customer_id=9)
    token = track(customer_id=9, email=None)
    put_cart(token, tea_line(), customer_id=9, email=None)
    assert sweep(T0 + HOUR) == []
    assert series(token).stop_reason == "opted_out"


# --- bad input ------------------------------------------------------------------------------


def test_a_cart_without_email_or_customer_is_tracked_but_never_reminded(track):
    token = track(email=None)
    put_cart(token, tea_line(), email=None)
    assert sweep(T0 + 80 * HOUR) == []
    assert TrackedCart.objects.get(checkout_token=token).state == CartState.OPEN
    assert (series(token).state, series(token).next_check_at) == ("active", None)
    # Typing an email is activity: the cart is armed again.
    track(token, at=T0 + 81 * HOUR)
    put_cart(token, tea_line())
    assert sweep(T0 + 82 * HOUR) == ["sent"]


def test_lines_of_deleted_variants_are_left_out(track):
    token = track()
    cart_shop.CARTS[token] = carts.CartContents.from_json(
        {
            "currency": "CNY",
            "email": "ann@example.com",
            "lines": [
                tea_line().to_json(),
                {**tea_line("Gone tea", sku="GONE").to_json(), "deleted": True},
            ],
        }
    )
    assert sweep(T0 + HOUR) == ["sent"]
    assert [line["sku"] for line in message(token, 1).context["lines"]] == ["LJ-100"]


def test_a_cart_whose_variants_were_all_deleted_counts_as_emptied(track):
    token = track()
    cart_shop.CARTS[token] = carts.CartContents.from_json(
        {
            "currency": "CNY",
            "email": "ann@example.com",
            "lines": [{**tea_line().to_json(), "deleted": True}],
        }
    )
    assert sweep(T0 + HOUR) == []
    assert series(token).stop_reason == "cart_emptied"


def test_a_currency_change_shows_the_new_currency_and_prices(track):
    token = track(currency="CNY")
    put_cart(token, tea_line())
    assert sweep(T0 + HOUR) == ["sent"]
    put_cart(token, tea_line(price="12.50", currency="USD"), currency="USD")
    assert sweep(T0 + 24 * HOUR) == ["sent"]
    second = message(token, 2)
    assert (second.context["currency"], second.context["total"]) == ("USD", "12.50")
    assert TrackedCart.objects.get(checkout_token=token).currency == "USD"


def test_a_customer_deleted_mid_series_gets_nothing_more_and_is_forgotten(track):
    token = track(customer_id=5)
    put_cart(token, tea_line(), customer_id=5)
    assert sweep(T0 + HOUR) == ["sent"]

    anonymise_customer_everywhere(5, "ann@example.com")

    assert sweep(T0 + 24 * HOUR) == []
    cart = TrackedCart.objects.get(checkout_token=token)
    assert (cart.state, series(token).stop_reason, cart.email, cart.customer_id, cart.lines) == (
        CartState.FORGOTTEN,
        "customer_deleted",
        None,
        None,
        [],
    )
    first = message(token, 1)
    assert (first.recipient_email, first.customer_id, first.context) == (None, None, {})
    assert not ContactLogEntry.objects.filter(recipient_key="customer:5").exists()
    # Late activity on the deleted customer's checkout does not bring the cart back.
    track(token, at=T0 + 25 * HOUR, customer_id=None)
    assert sweep(T0 + 80 * HOUR) == []
    assert TrackedCart.objects.get(checkout_token=token).email is None
    assert len(mail.outbox) == 1


# --- holdout and attribution ----------------------------------------------------------------


def test_holdout_carts_get_nothing_but_are_tracked_as_abandoned(track):
    cart_shop.configure(cart_holdout_percent="50")
    tokens = [track() for _ in range(40)]
    for token in tokens:
        put_cart(token, tea_line())
    sweep(T0 + 80 * HOUR)

    held_out = FlowEnrolment.objects.filter(flow="cart", is_holdout=True)
    held = set(held_out.values_list("cart__checkout_token", flat=True))
    assert 0 < len(held) < 40
    messaged = set(FlowMessage.objects.values_list("enrolment__cart__checkout_token", flat=True))
    assert held.isdisjoint(messaged)
    assert messaged | held == {uuid.UUID(t) for t in tokens}
    assert held_out.filter(data__has_key="abandoned_at").count() == len(held)


def test_recovery_is_credited_to_the_last_step_sent_with_its_revenue(track):
    token = track()
    put_cart(token, tea_line(quantity=2))
    sweep(T0 + HOUR)
    sweep(T0 + 24 * HOUR)
    recovery = carts.record_order(order(token, at=T0 + 30 * HOUR, total="158.40"), shop_settings())
    assert recovery is not None

    assert (recovery.step, recovery.revenue, recovery.via, recovery.is_holdout) == (
        2,
        Decimal("158.40"),
        "subject",
        False,
    )
    # Saleor reports orders more than once: still one recovery.
    assert (
        carts.record_order(
            PlacedOrder(**{**vars(order(token, at=T0 + 30 * HOUR)), "order_id": recovery.order_id}),
            shop_settings(),
        )
        is None
    )
    assert FlowConversion.objects.filter(flow="cart").count() == 1
    summary = cart_recovery_summary(CHANNEL)
    assert summary["recovered_by_step"] == [
        {"step": 2, "currency": "CNY", "carts": 1, "revenue": "158.400"}
    ]


def test_a_holdout_cart_that_converts_counts_as_recovered_without_a_step(track):
    cart_shop.configure(cart_holdout_percent="50")
    token = next(t for t in (track() for _ in range(50)) if series(t).is_holdout)
    put_cart(token, tea_line())
    sweep(T0 + 2 * HOUR)
    recovery = carts.record_order(order(token, at=T0 + 3 * HOUR), shop_settings())
    assert recovery is not None
    assert (recovery.is_holdout, recovery.step) == (True, None)
    assert cart_recovery_summary(CHANNEL)["groups"]["holdout"]["recovered_carts"] == 1


def test_an_order_from_another_cart_within_the_window_recovers_the_reminded_cart(track):
    token = track(customer_id=5)
    put_cart(token, tea_line(), customer_id=5)
    sweep(T0 + HOUR)
    recovery = carts.record_order(
        order(None, at=T0 + 5 * 24 * HOUR, customer_id=5), shop_settings()
    )
    assert recovery is not None
    recovered_cart = TrackedCart.objects.get(
        checkout_token=recovery.enrolment.subject_key.removeprefix("cart:")
    )
    assert (recovered_cart.checkout_token, recovery.via, recovery.step) == (
        uuid.UUID(token),
        "same_customer",
        1,
    )


def test_an_order_after_the_window_recovers_nothing(track):
    token = track(customer_id=5)
    put_cart(token, tea_line(), customer_id=5)
    sweep(T0 + HOUR)
    assert (
        carts.record_order(order(None, at=T0 + 9 * 24 * HOUR, customer_id=5), shop_settings())
        is None
    )
    assert series(token).stop_reason == "customer_ordered"


def test_a_cart_ordered_before_it_was_abandoned_is_no_recovery(track):
    token = track()
    put_cart(token, tea_line())
    assert carts.record_order(order(token, at=T0 + timedelta(minutes=20)), shop_settings()) is None
    assert TrackedCart.objects.get(checkout_token=token).state == CartState.CONVERTED


# --- respecting the customer --------------------------------------------------------------


def test_a_reminder_due_at_night_in_the_customers_zone_waits_for_the_morning(track):
    cart_shop.configure(quiet_hours_start="21:00", quiet_hours_end="08:00")
    # 13:00 UTC activity: due 14:00 UTC, which is 22:00 in Shanghai.
    at = T0.replace(hour=13)
    token = track(at=at)
    put_cart(token, tea_line(), timezone="Asia/Shanghai")

    assert sweep(at + HOUR) == []  # written deferred to the morning: nothing to claim tonight
    deferred = message(token, 1)
    assert deferred.state == MessageState.DEFERRED
    assert deferred.next_attempt_at == T0.replace(day=3, hour=0)  # 08:00 in Shanghai
    assert sweep(T0.replace(day=2, hour=23, minute=59)) == []
    assert sweep(T0.replace(day=3, hour=0)) == ["sent"]


def test_quiet_hours_fall_back_to_the_shop_timezone(track):
    cart_shop.configure(
        timezone="America/New_York", quiet_hours_start="21:00", quiet_hours_end="08:00"
    )
    token = track(at=T0.replace(hour=1))  # due 02:00 UTC = 21:00 in New York
    put_cart(token, tea_line())
    assert sweep(T0.replace(hour=2)) == []  # written for the morning
    assert message(token, 1).next_attempt_at == T0.replace(hour=13)  # 08:00 EST


def test_the_frequency_cap_counts_messages_of_every_cart_of_the_customer(track):
    cart_shop.configure(frequency_cap_hours="16")
    first = track(customer_id=5)
    put_cart(first, tea_line(), customer_id=5)
    assert sweep(T0 + HOUR) == ["sent"]

    second = track(at=T0 + 2 * HOUR, customer_id=5)
    put_cart(second, tea_line("Pu-erh cake", sku="PE"), customer_id=5)
    assert sweep(T0 + 3 * HOUR) == []  # written deferred: nothing claimed only to wait
    assert message(second, 1).state == MessageState.DEFERRED
    assert message(second, 1).next_attempt_at == T0 + 17 * HOUR
    assert sweep(T0 + 17 * HOUR) == ["sent"]


def test_merchants_may_let_cart_reminders_bypass_the_cap(track):
    cart_shop.configure(frequency_cap_hours="16", cart_reminders_bypass_cap="true")
    first = track(customer_id=5)
    put_cart(first, tea_line(), customer_id=5)
    second = track(at=T0 + 2 * HOUR, customer_id=5)
    put_cart(second, tea_line("Pu-erh cake", sku="PE"), customer_id=5)
    assert sweep(T0 + HOUR) == ["sent"]
    assert sweep(T0 + 3 * HOUR) == ["sent"]


def test_the_reminder_speaks_the_customers_language(track):
    token = track(language="zh-hans")
    put_cart(token, tea_line())
    assert sweep(T0 + HOUR) == ["sent"]
    assert message(token, 1).language_code == "zh-hans"
    assert mail.outbox[0].subject != ""
    assert any("\u4e00" <= char <= "\u9fff" for char in str(mail.outbox[0].subject))


def test_the_cap_knows_a_customer_signed_in_and_as_a_guest_with_the_same_email(track):
    cart_shop.configure(frequency_cap_hours="16")
    signed_in = track(customer_id=5, email="ann@example.com")
    put_cart(signed_in, tea_line(), customer_id=5, email="ann@example.com")
    assert sweep(T0 + HOUR) == ["sent"]
    assert set(ContactLogEntry.objects.values_list("recipient_key", flat=True)) == {
        "customer:5",
        carts.recipient_key(None, "ann@example.com"),
    }

    as_guest = track(at=T0 + 2 * HOUR, email="Ann@Example.com")
    put_cart(as_guest, tea_line("Pu-erh cake", sku="PE"), email="ann@example.com")
    assert sweep(T0 + 3 * HOUR) == []
    assert message(as_guest, 1).state == MessageState.DEFERRED
    assert message(as_guest, 1).next_attempt_at == T0 + 17 * HOUR


def test_a_reminder_that_failed_to_go_out_does_not_hold_back_the_next_one(track):
    from saleor_retention_plugin.delivery import TransientDeliveryError, send_message

    cart_shop.configure(frequency_cap_hours="16")
    first = track(customer_id=5)
    put_cart(first, tea_line(), customer_id=5)
    cart_reminders.advance_due_carts(now=T0 + HOUR)

    def refused(outgoing, settings):
        raise TransientDeliveryError("connection refused")

    [claim] = flows.claim_due_messages(now=T0 + HOUR)
    assert flows.deliver_message(claim.message_id, claim.claim_token, send=refused) == "retry"
    assert not ContactLogEntry.objects.exists()  # nothing reached the customer

    second = track(at=T0 + 90 * flows.FIRST_RETRY_DELAY, customer_id=5)
    put_cart(second, tea_line("Pu-erh cake", sku="PE"), customer_id=5)
    FlowEnrolment.objects.filter(subject_key=f"cart:{first}").update(next_check_at=None)
    FlowMessage.objects.filter(subject_key=first).update(next_attempt_at=T0 + 100 * HOUR)
    at = T0 + 90 * flows.FIRST_RETRY_DELAY + HOUR
    cart_reminders.advance_due_carts(now=at)
    outcomes = [
        flows.deliver_message(c.message_id, c.claim_token, now=at, send=send_message)
        for c in flows.claim_due_messages(now=at)
    ]
    assert outcomes == ["sent"]


@pytest.mark.parametrize("outcome", ["deferred:quiet_hours", "retimed"])
def test_a_reservation_is_dropped_when_the_message_goes_back_to_waiting(track, outcome):
    token = track(customer_id=5)
    put_cart(token, tea_line(), customer_id=5)
    cart_reminders.advance_due_carts(now=T0 + HOUR)
    waiting = message(token, 1)
    ContactLogEntry.objects.create(  # left by an earlier attempt that never finished
        message=waiting, recipient_key="customer:5", flow="cart", contacted_at=T0 + HOUR
    )
    if outcome == "retimed":
        track(token, at=T0 + HOUR + timedelta(minutes=1), customer_id=5)
    else:
        cart_shop.configure(quiet_hours_start="09:00", quiet_hours_end="23:00")
    assert sweep(T0 + HOUR + timedelta(minutes=2)) == [outcome]
    assert not ContactLogEntry.objects.exists()


def test_a_step_dropped_from_a_shortened_series_is_not_sent(track):
    token = track()
    put_cart(token, tea_line())
    assert sweep(T0 + HOUR) == ["sent"]
    cart_reminders.advance_due_carts(now=T0 + 24 * HOUR)  # step 2 (with its coupon) waits
    cart_shop.configure(cart_reminder_delays_hours="1", cart_incentive_step="1")
    assert sweep(T0 + 24 * HOUR) == ["cancelled:step_no_longer_in_series"]
    assert len(mail.outbox) == 1
    assert message(token, 2).coupon_code is None


def test_recovered_revenue_is_summed_per_currency(track):
    for currency, total in (("CNY", "100.00"), ("USD", "20.00"), ("CNY", "50.00")):
        token = track(currency=currency)
        put_cart(token, tea_line(currency=currency), currency=currency)
        sweep(T0 + HOUR)
        placed = order(token, at=T0 + 2 * HOUR, total=total)
        carts.record_order(PlacedOrder(**{**vars(placed), "currency": currency}), shop_settings())
    summary = cart_recovery_summary(CHANNEL)
    assert summary["groups"]["reminded"]["revenue"] == {"CNY": "150.000", "USD": "20.000"}
    assert summary["groups"]["holdout"]["revenue"] == {}
