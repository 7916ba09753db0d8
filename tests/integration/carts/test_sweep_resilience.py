"""The sweep keeps going and keeps out of customers' way: a cart that fails does not stop
the others, the checkout hook never waits behind the sweep's reads of the shop,
anonymous carts cost it nothing, and every registered flow goes through it.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection, transaction

from saleor_retention_plugin import flow_registry
from saleor_retention_plugin.domain.carts import CartActivity
from saleor_retention_plugin.models import FlowEnrolment, FlowMessage, MessageState, TrackedCart
from saleor_retention_plugin.services import cart_reminders, carts, consent, flow_sweep, flows
from saleor_retention_plugin.tasks import sweep_flows_task

from . import cart_shop
from .cart_shop import (
    CHANNEL,
    HOUR,
    T0,
    WelcomeFlow,
    message,
    put_cart,
    series,
    shop_settings,
    sweep,
    tea_line,
)

DUE = T0 + HOUR


def failing_for(bad_token, loaded=None):
    """The shop's contents loader, except that reading ``bad_token`` raises."""

    def load(checkout_token):
        if loaded is not None:
            loaded.append(checkout_token)
        if checkout_token == bad_token:
            raise RuntimeError("checkout row is corrupt")
        return cart_shop.load_cart_contents(checkout_token)

    return load


# --- one bad cart ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_cart_whose_contents_cannot_be_read_does_not_stop_the_others(track):
    bad = track(at=T0 - timedelta(minutes=1))  # first in line
    good = [track() for _ in range(3)]
    for token in [bad, *good]:
        put_cart(token, tea_line())

    report = cart_reminders.advance_due_carts(now=DUE, load_contents=failing_for(bad))

    assert (report.failed, report.scheduled) == (1, 3)
    assert sorted(FlowMessage.objects.values_list("subject_key", flat=True)) == sorted(good)
    failing = series(bad)
    assert (failing.failures, failing.next_check_at) == (1, DUE + timedelta(minutes=5))


@pytest.mark.django_db
def test_a_failing_cart_is_looked_at_again_with_growing_delays_until_it_works(track):
    bad = track()
    put_cart(bad, tea_line())
    at = DUE
    for expected_delay in (5, 10, 20, 40):
        cart_reminders.advance_due_carts(now=at, load_contents=failing_for(bad))
        failing = series(bad)
        assert failing.next_check_at == at + timedelta(minutes=expected_delay)
        at = failing.next_check_at
    assert cart_reminders.advance_due_carts(now=at).scheduled == 1
    assert series(bad).failures == 0


@pytest.mark.django_db
def test_the_sweep_task_claims_due_messages_even_when_scheduling_fails(track, monkeypatch):
    already_due = track()
    put_cart(already_due, tea_line())
    cart_reminders.advance_due_carts(now=DUE)  # its reminder is in the outbox
    put_cart(track(), tea_line())

    def broken(*args, **kwargs):
        raise RuntimeError("settings table unreadable")

    # Carts are an enrolment flow: the sweep advances them through the engine.
    monkeypatch.setattr(flow_sweep, "advance_due_enrolments", broken)
    with monkeypatch.context() as patch:
        patch.setattr(flows.timezone, "now", lambda: DUE)
        report = sweep_flows_task.run()
    assert report["flows"]["cart"] == {"error": 1}
    assert report["claimed"] == 1
    assert message(already_due, 1).state == MessageState.SENT  # eager delivery task


# --- the checkout hook never waits behind the sweep -----------------------------------------


def activity(token, at):
    return CartActivity(
        checkout_token=token,
        channel_slug=CHANNEL,
        customer_id=None,
        email="ann@example.com",
        language_code="en",
        currency="CNY",
        occurred_at=at,
    )


def in_another_connection(work):
    """Run ``work()`` in a thread, i.e. on a second real PostgreSQL connection."""
    result: dict[str, object] = {}

    def run():
        try:
            result["value"] = work()
        except Exception as error:
            result["error"] = error
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result.get("value")


@pytest.mark.django_db(transaction=True)
def test_the_checkout_hook_is_not_blocked_while_the_sweep_reads_the_shop(track):
    token = track()
    put_cart(token, tea_line())
    hook_waited: list[float] = []

    def slow_shop(checkout_token):
        # While the sweep reads the checkout, the customer edits the cart (another request).
        def hook():
            started = time.monotonic()
            with transaction.atomic():
                recorded = carts.record_cart_activity(
                    activity(checkout_token, DUE), shop_settings(), now=DUE, lock_timeout="100ms"
                )
            hook_waited.append(time.monotonic() - started)
            return recorded

        assert in_another_connection(hook) is True
        return cart_shop.load_cart_contents(checkout_token)

    report = cart_reminders.advance_due_carts(now=DUE, load_contents=slow_shop)

    assert hook_waited
    assert hook_waited[0] < 1
    # The activity landed and restarted the clock; the sweep left the cart to it.
    cart = TrackedCart.objects.get(checkout_token=token)
    assert (cart.last_activity_at, series(token).next_check_at) == (DUE, DUE + HOUR)
    assert report.scheduled == 0
    assert not FlowMessage.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_hook_that_finds_the_cart_locked_gives_up_quickly_and_leaves_the_request_usable(track):
    token = track()
    locked, release = threading.Event(), threading.Event()

    def hold_the_row():
        with transaction.atomic():
            TrackedCart.objects.select_for_update().get(checkout_token=token)
            locked.set()
            release.wait(timeout=10)

    def hold_then_close():
        try:
            hold_the_row()
        finally:
            connection.close()

    holder = threading.Thread(target=hold_then_close)
    holder.start()
    try:
        assert locked.wait(timeout=10)
        started = time.monotonic()
        with transaction.atomic():  # the customer's request
            recorded = carts.record_cart_activity(
                activity(token, DUE), shop_settings(), now=DUE, lock_timeout="100ms"
            )
            waited = time.monotonic() - started
            with connection.cursor() as cursor:  # still usable, its own timeout kept
                cursor.execute("SHOW lock_timeout")
                assert cursor.fetchone()[0] == "0"
    finally:
        release.set()
        holder.join(timeout=10)
    assert recorded is False
    assert waited < 1
    assert TrackedCart.objects.get(checkout_token=token).last_activity_at == T0


@pytest.mark.django_db
def test_a_hook_with_a_lock_timeout_costs_a_fixed_number_of_queries(
    track, django_assert_num_queries
):
    token = str(uuid.uuid4())
    for at in (T0, T0 + HOUR):
        # SAVEPOINT, set the timeout, the upsert, restore it, RELEASE.
        with django_assert_num_queries(5):
            assert carts.record_cart_activity(
                activity(token, at), shop_settings(), now=at, lock_timeout="100ms"
            )


# --- anonymous carts cost the sweep nothing -------------------------------------------------


@pytest.mark.django_db
def test_an_anonymous_cart_is_never_armed_until_a_contact_arrives(track):
    token = track(email=None)
    track(token, at=T0 + 10 * HOUR, email=None)
    assert series(token).next_check_at is None
    assert not FlowEnrolment.objects.filter(next_check_at__isnull=False).exists()

    track(token, at=T0 + 11 * HOUR)  # the customer typed an email
    assert series(token).next_check_at == T0 + 12 * HOUR


@pytest.mark.django_db
def test_the_sweep_does_not_read_the_shop_for_carts_it_cannot_remind(track):
    opted_out = track(email="gone@example.com")
    consent.record_opt_out(CHANNEL, email="gone@example.com")
    no_contact = track()
    TrackedCart.objects.filter(checkout_token=no_contact).update(email=None)
    loaded: list[str] = []

    report = cart_reminders.advance_due_carts(now=DUE, load_contents=failing_for(None, loaded))

    assert loaded == []
    assert report.stopped == 1
    assert series(opted_out).stop_reason == "opted_out"
    assert series(no_contact).next_check_at is None


# --- every registered flow goes through the sweep -------------------------------------------


@pytest.mark.django_db
def test_a_second_flow_is_scheduled_and_sent_by_the_same_sweep(welcome_flow, track):
    welcome_flow.new_customers = [41, 42]
    token = track()
    put_cart(token, tea_line())
    sent = []

    def capture(outgoing, settings):
        from saleor_retention_plugin.delivery.base import DeliveryReceipt

        sent.append((outgoing.flow, outgoing.customer_id or outgoing.recipient_email))
        return DeliveryReceipt(channel="test")

    assert flow_sweep.schedule_due_messages(DUE)["welcome_test"] == {"scheduled": 2}
    for claim in flows.claim_due_messages(now=DUE):
        flows.deliver_message(claim.message_id, claim.claim_token, now=DUE, send=capture)
    assert sorted(sent) == [
        ("cart", "ann@example.com"),
        ("welcome_test", 41),
        ("welcome_test", 42),
    ]
    assert sweep(DUE + HOUR) == []  # once each


@pytest.mark.django_db
def test_a_message_of_a_flow_this_worker_does_not_know_waits_instead_of_being_cancelled():
    FlowMessage.objects.create(
        flow="birthday_from_a_newer_release",
        subject_key="customer:7",
        step=1,
        channel_slug=CHANNEL,
        customer_id=7,
        next_attempt_at=DUE,
        idempotency_key="birthday:7",
    )
    assert sweep(DUE) == ["deferred:unknown_flow"]
    waiting = FlowMessage.objects.get(idempotency_key="birthday:7")
    assert (waiting.state, waiting.next_attempt_at) == (
        MessageState.DEFERRED,
        DUE + flows.CLAIM_TIMEOUT,
    )


def test_every_process_knows_the_flows_as_soon_as_django_is_ready():
    """A worker that never imports the flow modules still knows every built-in flow."""
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import django; django.setup()\n"
        "from saleor_retention_plugin.services import flows\n"
        "print(sorted(flows.FLOWS))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parents[3],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "['birthday', 'campaign', 'care', 'cart', 'member_day', 'points_expiring', "
        "'replenishment', 'tier_upgrade', 'welcome', 'winback']"
    )


def test_a_project_adds_its_own_flows_with_a_setting(settings):
    settings.RETENTION_EXTRA_FLOWS = ["tests.integration.carts.cart_shop.WelcomeFlow"]
    try:
        flow_registry.register_flows()
        assert isinstance(flows.FLOWS["welcome_test"], WelcomeFlow)
        assert isinstance(flows.FLOWS["cart"], cart_reminders.CartReminderFlow)
    finally:
        flows.FLOWS.pop("welcome_test", None)
