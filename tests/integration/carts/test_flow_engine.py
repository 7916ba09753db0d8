"""The engine is general: other flows share the outbox, consent and the frequency cap;
its tasks take JSON; the sweep registers itself with beat and reads only due carts.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.db.models import Max

from saleor_retention_plugin import schedule
from saleor_retention_plugin.domain.carts import CartContents, PlacedOrder
from saleor_retention_plugin.models import (
    ContactLogEntry,
    FlowEnrolment,
    FlowMessage,
    TrackedCart,
)
from saleor_retention_plugin.services import cart_reminders, consent, contact_log, flows
from saleor_retention_plugin.services.carts import refresh_cart_contents
from saleor_retention_plugin.tasks import record_order_for_carts_task

from .cart_shop import (
    BASE_CONFIGURATION,
    CHANNEL,
    HOUR,
    T0,
    WelcomeFlow,
    configure,
    put_cart,
    series,
    sweep,
    tea_line,
)

pytestmark = pytest.mark.django_db


def welcome(customer_id, *, at):
    return FlowMessage.objects.create(
        flow=WelcomeFlow.name,
        subject_key=f"customer:{customer_id}",
        step=1,
        channel_slug=CHANNEL,
        customer_id=customer_id,
        recipient_email="ann@example.com",
        next_attempt_at=at,
        idempotency_key=f"welcome:{customer_id}",
    )


def test_the_frequency_cap_spans_flows(welcome_flow, track):
    configure(frequency_cap_hours="16")
    welcome(5, at=T0)
    sent: list[str] = []
    for claim in flows.claim_due_messages(now=T0):
        sent.append(
            flows.deliver_message(
                claim.message_id, claim.claim_token, now=T0, send=lambda m, s: record(sent, m)
            )
        )
    assert sent[-1] == "sent"

    token = track(customer_id=5)
    put_cart(token, tea_line(), customer_id=5)
    assert sweep(T0 + HOUR) == []  # written deferred by the cap
    assert FlowMessage.objects.get(subject_key=token).next_attempt_at == T0 + 16 * HOUR


def record(sent, message):
    sent.append(message.flow)
    from saleor_retention_plugin.delivery.base import DeliveryReceipt

    return DeliveryReceipt(channel="test")


def test_an_opt_out_is_honoured_by_every_flow(welcome_flow):
    consent.record_opt_out(CHANNEL, customer_id=5)
    welcome(5, at=T0)
    [claim] = flows.claim_due_messages(now=T0)
    assert (
        flows.deliver_message(claim.message_id, claim.claim_token, now=T0) == "cancelled:opted_out"
    )
    assert mail.outbox == []


def test_opting_out_twice_is_harmless_and_nobody_cannot_opt_out():
    consent.record_opt_out(CHANNEL, email="Ann@Example.com", customer_id=5)
    consent.record_opt_out(CHANNEL, email="ann@example.com")
    assert consent.is_opted_out(CHANNEL, email="ANN@example.com", customer_id=None)
    assert consent.is_opted_out(CHANNEL, email=None, customer_id=5)
    # An opt-out covers every channel of the shop.
    assert consent.is_opted_out("other-channel", email="ann@example.com", customer_id=None)
    assert not consent.is_opted_out("other-channel", email="bo@example.com", customer_id=6)
    assert not consent.is_opted_out(CHANNEL, email=None, customer_id=None)
    with pytest.raises(ValueError, match="customer id or a valid email"):
        consent.record_opt_out(CHANNEL, email="not an email")


def test_the_read_before_a_send_agrees_with_consent_and_the_contact_log():
    consent.record_opt_out(CHANNEL, customer_id=5)
    consent.record_opt_out("other-channel", email="bo@example.com")
    message, other = welcome(6, at=T0), welcome(7, at=T0)
    for key, entry_of, at in [
        ("customer:6", other, T0),
        ("customer:6", message, T0 + HOUR),  # this message's own reservation
        (consent.recipient_key(None, "cy@example.com"), other, T0 - HOUR),
    ]:
        ContactLogEntry.objects.create(
            recipient_key=key, message=entry_of, flow=entry_of.flow, contacted_at=at
        )
    for customer_id, email in [
        (5, None),
        (None, "BO@example.com"),
        (6, "cy@example.com"),
        (8, "dee@example.com"),
        (None, "not an email"),
        (None, None),
    ]:
        keys = flows.recipient_keys(customer_id, email)
        opted_out, last, reserved = contact_log.standing_before_send(
            keys, message.pk, customer_id=customer_id, email=email
        )
        assert opted_out == consent.is_opted_out(CHANNEL, email=email, customer_id=customer_id)
        by_others = ContactLogEntry.objects.filter(recipient_key__in=keys).exclude(message=message)
        assert last == by_others.aggregate(last=Max("contacted_at"))["last"]
        assert reserved == ContactLogEntry.objects.filter(message=message).exists()


def test_tasks_take_plain_json(track):
    token = track(customer_id=5)
    assert refresh_cart_contents(
        token,
        CartContents.from_json(
            {
                "currency": "CNY",
                "email": "ann@example.com",
                "customer_id": 5,
                "lines": [tea_line(quantity=3).to_json()],
            }
        ),
    )
    cart = TrackedCart.objects.get(checkout_token=token)
    assert (cart.line_count, str(cart.total_amount)) == (1, "264.000")
    assert sweep(T0 + HOUR) == ["sent"]  # from the stored snapshot: no live loader entry

    assert cart.total_amount is not None
    order = PlacedOrder(
        str(uuid.uuid4()), CHANNEL, token, 5, None, cart.total_amount, "CNY", T0 + 2 * HOUR
    )
    assert record_order_for_carts_task(order.to_json(), BASE_CONFIGURATION)
    assert not record_order_for_carts_task(order.to_json(), BASE_CONFIGURATION)  # idempotent


def test_refreshing_a_deleted_checkout_stops_its_series(track):
    token = track()
    assert refresh_cart_contents(token, None) is not None
    assert series(token).stop_reason == "cart_deleted"


def test_the_sweep_registers_itself_with_celery_beat():
    from celery import current_app

    schedule.register_periodic_tasks()
    entry = current_app.conf.beat_schedule["saleor-retention-sweep-flows"]
    assert entry["task"] == "saleor_retention_plugin.tasks.sweep_flows_task"
    assert entry["schedule"] == timedelta(minutes=1)


def test_the_sweep_reads_only_due_carts_whatever_the_number_tracked(track):
    for _ in range(2):
        put_cart(track(), tea_line())

    def queries_of_one_sweep(at):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            cart_reminders.advance_due_carts(now=at)
        return len(captured)

    few = queries_of_one_sweep(T0 + HOUR)
    FlowMessage.objects.all().delete()
    FlowEnrolment.objects.update(state="active", next_step=1, next_check_at=T0 + HOUR)
    idle = TrackedCart.objects.bulk_create(
        TrackedCart(
            checkout_token=uuid.uuid4(),
            channel_slug=CHANNEL,
            email="x@example.com",
            last_activity_at=T0 + 50 * HOUR,
        )
        for _ in range(3000)
    )
    FlowEnrolment.objects.bulk_create(
        FlowEnrolment(
            flow="cart",
            channel_slug=CHANNEL,
            subject_kind="cart",
            subject_key=f"cart:{cart.checkout_token}",
            cart=cart,
            email=cart.email,
            anchor_at=cart.last_activity_at,
            next_check_at=T0 + 51 * HOUR,
        )
        for cart in idle
    )
    many = queries_of_one_sweep(T0 + HOUR)
    assert many == few
    assert FlowMessage.objects.count() == 2
