"""The engine's scheduler half: enrol once, advance what is due, hold out, stop, attribute.

A test-only flow (``TwoStepFlow``) is registered for each test: two messages, one and
three days after the anchor, started by orders, tier changes and expiring points. Its
messages go through the real outbox (consent, cap, quiet hours) to a capturing sender.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from saleor_retention_plugin.delivery.base import DeliveryReceipt
from saleor_retention_plugin.domain.carts import PlacedOrder
from saleor_retention_plugin.domain.orders import OrderSnapshot
from saleor_retention_plugin.models import (
    EnrolmentState,
    FlowConversion,
    FlowEnrolment,
    FlowMessage,
    LoyaltyAccount,
    PointsEntry,
    PointsLot,
)
from saleor_retention_plugin.services import (
    consent,
    enrolments,
    flow_events,
    flow_sweep,
    flows,
    privacy,
)
from saleor_retention_plugin.services.enrolments import (
    Complete,
    EnrolmentFlow,
    EnrolmentRequest,
    SendStep,
    Subject,
    WaitUntil,
    enrol,
)
from saleor_retention_plugin.services.order_intake import apply_order

from .cart_shop import CHANNEL, T0, configure, shop_settings

DAY = timedelta(days=1)
pytestmark = pytest.mark.django_db


class TwoStepFlow(EnrolmentFlow):
    name = "two_step_test"
    events = (flow_events.ORDER_PLACED, flow_events.TIER_CHANGED, flow_events.POINTS_EXPIRING)
    delays = (DAY, 3 * DAY)

    def __init__(self):
        self.broken_subjects: set[str] = set()

    def is_enabled(self, settings):
        return settings.reminders.cart_reminders_enabled  # the test shop's switch

    def first_check_at(self, request, settings):
        return request.anchor_at + self.delays[0]

    def on_event(self, event, settings):
        if event.name == flow_events.ORDER_PLACED and not event.data["is_first_order"]:
            return
        yield EnrolmentRequest(
            subject=Subject.customer(event.customer_id),
            channel_slug=event.channel_slug,
            anchor_at=event.occurred_at,
            customer_id=event.customer_id,
            email=event.email,
            data={"event": event.name, **event.data},
        )

    def advance(self, enrolment, settings, now):
        if enrolment.subject_key in self.broken_subjects:
            raise RuntimeError("a flow rule that fails")
        times = [enrolment.anchor_at + delay for delay in self.delays]
        due = [step for step in range(enrolment.next_step, 3) if times[step - 1] <= now]
        if not due:
            if enrolment.next_step > len(times):
                return Complete()
            return WaitUntil(times[enrolment.next_step - 1])
        step = due[-1]
        return SendStep(step, times[step] if step < len(times) else None, {"step": step})

    def compose(self, enrolment, message, settings, now):
        return flows.Ready(context={"event": enrolment.data.get("event")}, zone=ZoneInfo("UTC"))


@pytest.fixture(autouse=True)
def two_step_flow():
    flow = flows.register_flow(TwoStepFlow())
    yield flow
    flows.FLOWS.pop(flow.name, None)


SENT: list[tuple[str, int, int | None, str | None]] = []


def capture(outgoing, settings):
    SENT.append((outgoing.flow, outgoing.step, outgoing.customer_id, outgoing.recipient_email))
    return DeliveryReceipt(channel="test")


def run(at):
    """One sweep of every flow and delivery of what is due, captured."""
    SENT.clear()
    flow_sweep.schedule_due_messages(at)
    outcomes = []
    while claims := flows.claim_due_messages(now=at):
        outcomes += [
            flows.deliver_message(claim.message_id, claim.claim_token, now=at, send=capture)
            for claim in claims
        ]
    return outcomes


def enrol_customer(customer_id=7, *, at=T0, email="ann@example.com", **kwargs):
    return enrol(
        TwoStepFlow.name,
        Subject.customer(customer_id),
        at,
        channel_slug=CHANNEL,
        customer_id=customer_id,
        email=email,
        **kwargs,
    )


def test_an_event_delivered_twice_enrols_once_and_a_new_cycle_enrols_again():
    first = enrol_customer()
    assert first is not None
    assert enrol_customer().pk == first.pk
    assert enrol_customer(cycle=2).pk != first.pk
    assert FlowEnrolment.objects.count() == 2
    assert (first.state, first.next_step, first.next_check_at) == ("active", 1, T0 + DAY)


def test_nothing_is_enrolled_without_a_contact_a_flow_that_is_off_or_an_unknown_flow():
    assert enrol_customer(customer_id=None, email=None) is None
    assert enrol("no_such_flow", Subject.customer(7), T0, channel_slug=CHANNEL) is None
    assert enrol_customer() is not None
    configure(cart_reminders_enabled="false")
    assert enrol_customer(customer_id=8) is None
    assert enrol(TwoStepFlow.name, Subject.customer(9), T0, channel_slug="unknown-channel") is None
    assert FlowEnrolment.objects.count() == 1
    with pytest.raises(ValueError, match="cycle"):
        enrol_customer(cycle=0)


def test_each_step_goes_out_once_at_its_time_and_the_enrolment_completes():
    enrolment = enrol_customer()
    assert run(T0 + DAY - timedelta(minutes=1)) == []
    assert run(T0 + DAY) == ["sent"]
    assert [(TwoStepFlow.name, 1, 7, "ann@example.com")] == SENT
    assert run(T0 + 2 * DAY) == []
    assert run(T0 + 3 * DAY) == ["sent"]
    assert SENT[0][1] == 2
    assert run(T0 + 30 * DAY) == []
    enrolment.refresh_from_db()
    assert (enrolment.state, enrolment.next_step, enrolment.next_check_at) == (
        EnrolmentState.COMPLETED,
        3,
        None,
    )
    assert FlowMessage.objects.filter(enrolment=enrolment, state="sent").count() == 2


def test_a_sweep_that_was_down_sends_only_the_latest_overdue_step():
    enrol_customer()
    assert run(T0 + 10 * DAY) == ["sent"]
    assert [step for _, step, _, _ in SENT] == [2]


def test_concurrent_sweeps_never_claim_the_same_enrolment():
    for customer_id in range(1, 6):
        enrol_customer(customer_id)
    lease = T0 + DAY + enrolments.SWEEP_LEASE
    first = enrolments._claim_due(TwoStepFlow.name, T0 + DAY, lease, 3)
    second = enrolments._claim_due(TwoStepFlow.name, T0 + DAY, lease, 3)
    assert (len(first), len(second)) == (3, 2)
    assert not set(first) & set(second)
    # Claimed enrolments wait for the lease to end before another sweep may take them.
    assert enrolments._claim_due(TwoStepFlow.name, T0 + DAY, lease, 10) == []


def test_the_enrolments_of_a_sweep_that_died_are_taken_over_when_its_lease_ends():
    enrolment = enrol_customer()
    lease = T0 + DAY + enrolments.SWEEP_LEASE
    assert enrolments._claim_due(TwoStepFlow.name, T0 + DAY, lease, 10) == [enrolment.pk]
    # The sweep died here, before advancing it: the next sweep after the lease takes it.
    assert run(lease - timedelta(seconds=1)) == []
    assert run(lease) == ["sent"]
    assert FlowMessage.objects.filter(enrolment=enrolment).count() == 1


def test_a_failing_enrolment_is_pushed_back_with_backoff_and_the_others_go_on(two_step_flow):
    enrol_customer(1)
    broken = enrol_customer(2)
    two_step_flow.broken_subjects.add(broken.subject_key)
    report = enrolments.advance_due_enrolments(two_step_flow, now=T0 + DAY)
    assert (report["scheduled"], report["failed"]) == (1, 1)
    broken.refresh_from_db()
    assert (broken.failures, broken.next_check_at) == (1, T0 + DAY + timedelta(minutes=5))
    enrolments.advance_due_enrolments(two_step_flow, now=T0 + DAY + timedelta(minutes=5))
    broken.refresh_from_db()
    assert (broken.failures, broken.next_check_at) == (2, T0 + DAY + timedelta(minutes=15))
    two_step_flow.broken_subjects.clear()
    enrolments.advance_due_enrolments(two_step_flow, now=T0 + DAY + timedelta(minutes=15))
    broken.refresh_from_db()
    assert (broken.failures, broken.next_step) == (0, 2)


def test_the_holdout_gets_nothing_and_its_window_opens_when_it_would_have_been_sent():
    configure(holdout_percent="50", quiet_hours_start="21:00", quiet_hours_end="08:00")
    for customer_id in range(1, 41):
        enrol_customer(customer_id, at=T0 + 13 * timedelta(hours=1))  # step 1 at 22:00 UTC
    held = set(FlowEnrolment.objects.filter(is_holdout=True).values_list("customer_id", flat=True))
    assert 5 < len(held) < 35  # about half, drawn deterministically
    run(T0 + DAY + 13 * timedelta(hours=1))
    morning = (T0 + 2 * DAY).replace(hour=8)
    run(morning)  # quiet hours over: the others are sent
    sent_to = set(FlowMessage.objects.filter(state="sent").values_list("customer_id", flat=True))
    assert sent_to == set(range(1, 41)) - held
    holdout = FlowEnrolment.objects.filter(is_holdout=True)
    assert set(holdout.values_list("window_opens_at", flat=True)) == {morning}


def test_opted_out_capped_and_quiet_hours_are_the_outbox_rules_for_every_flow():
    configure(frequency_cap_hours="16")
    opted = enrol_customer(1, email="opted@example.com")
    consent.record_opt_out(CHANNEL, email="opted@example.com", customer_id=1)
    enrol_customer(2, email="bo@example.com")
    # Bo got a cart reminder (another flow) an hour before: the cap holds this one back.

    an_hour_before = T0 + DAY - timedelta(hours=1)
    contacted_by_another_flow(2, an_hour_before)
    assert run(T0 + DAY) == []  # written deferred until the cap lets it go
    held = FlowMessage.objects.get(flow=TwoStepFlow.name)
    assert (held.state, held.next_attempt_at) == ("deferred", an_hour_before + timedelta(hours=16))
    opted.refresh_from_db()
    assert (opted.state, opted.stop_reason) == (EnrolmentState.STOPPED, "opted_out")


def test_switching_the_flow_off_in_the_channel_stops_its_enrolments():
    enrolment = enrol_customer()
    configure(cart_reminders_enabled="false")
    assert run(T0 + DAY) == []
    enrolment.refresh_from_db()
    assert (enrolment.state, enrolment.stop_reason) == (EnrolmentState.STOPPED, "flow_disabled")


def test_a_message_already_in_the_outbox_is_cancelled_once_the_customer_is_anonymised():
    enrolment = enrol_customer()
    flow_sweep.schedule_due_messages(T0 + DAY)  # step 1 is in the outbox, not sent yet
    privacy.anonymise_customer_everywhere(7, "ann@example.com")
    assert run(T0 + DAY) == []
    enrolment.refresh_from_db()
    assert (enrolment.state, enrolment.stop_reason, enrolment.customer_id, enrolment.email) == (
        EnrolmentState.STOPPED,
        "customer_deleted",
        None,
        None,
    )
    assert FlowMessage.objects.get(enrolment=enrolment).state == "cancelled"


def placed(order_id="o-1", *, at, customer_id=7, total="50.00"):
    return PlacedOrder(
        order_id=order_id,
        channel_slug=CHANNEL,
        checkout_token=None,
        customer_id=customer_id,
        email="ann@example.com",
        total=Decimal(total),
        currency="CNY",
        placed_at=at,
    )


def test_an_order_within_the_window_of_a_sent_message_converts_the_enrolment_once():
    enrolment = enrol_customer()
    run(T0 + DAY)
    settings = shop_settings()
    assert flow_events.attribute_order(placed(at=T0 + 12 * timedelta(hours=1)), settings) == []
    [conversion] = flow_events.attribute_order(placed(at=T0 + 2 * DAY), settings)
    assert (
        conversion.enrolment_id,
        conversion.step,
        conversion.revenue,
        conversion.is_holdout,
    ) == (
        enrolment.pk,
        1,
        Decimal("50.00"),
        False,
    )
    assert flow_events.attribute_order(placed("o-2", at=T0 + 3 * DAY), settings) == []
    assert flow_events.attribute_order(placed(at=T0 + 2 * DAY), settings) == []
    assert FlowConversion.objects.count() == 1


def test_a_holdout_order_within_its_would_be_window_counts_for_the_holdout():
    configure(holdout_percent="50")
    held = next(
        enrolment
        for customer_id in range(1, 50)
        if (enrolment := enrol_customer(customer_id)).is_holdout
    )
    run(T0 + DAY)
    settings = shop_settings()
    order = placed(at=T0 + DAY + timedelta(hours=2), customer_id=held.customer_id)
    [conversion] = flow_events.attribute_order(order, settings)
    assert (conversion.is_holdout, conversion.step) == (True, None)
    too_late = placed("o-9", at=T0 + 9 * DAY, customer_id=held.customer_id)
    assert flow_events.attribute_order(too_late, settings) == []


def snapshot(order_id, *, customer_id=7, at=T0, status="unfulfilled"):
    return OrderSnapshot(
        order_id=order_id,
        number="1",
        channel_slug=CHANNEL,
        channel_currency="CNY",
        currency="CNY",
        customer_id=customer_id,
        email="ann@example.com",
        status=status,
        is_fully_paid=True,
        points_base_amount=Decimal("100"),
        total_amount=Decimal("100"),
        refunded_amount=Decimal(0),
        created_at=at,
    )


def test_the_order_intake_publishes_order_placed_once_per_first_order():
    settings = shop_settings()
    first = snapshot("first")
    apply_order(first, settings, now=T0)
    apply_order(first, settings, now=T0 + timedelta(minutes=5))  # the paid event, again
    apply_order(snapshot("second", at=T0 + DAY), settings, now=T0 + DAY)
    enrolment = FlowEnrolment.objects.get()
    assert (enrolment.customer_id, enrolment.anchor_at, enrolment.data["order_id"]) == (
        7,
        T0,
        "first",
    )
    assert enrolment.data["is_first_order"] is True


def test_a_draft_or_cancelled_order_starts_nothing():
    settings = shop_settings()
    apply_order(snapshot("draft", status="draft"), settings, now=T0)
    apply_order(snapshot("gone", status="canceled"), settings, now=T0)
    assert not FlowEnrolment.objects.exists()


def test_a_tier_change_starts_the_flows_that_listen_for_it(django_capture_on_commit_callbacks):
    from saleor_retention_plugin import signals

    with django_capture_on_commit_callbacks(execute=True):
        signals.tier_changed.send(
            sender=None,
            account_id=1,
            channel_slug=CHANNEL,
            customer_id=11,
            change_id=5,
            from_tier="silver",
            to_tier="gold",
            reason="order",
        )
    enrolment = FlowEnrolment.objects.get()
    assert (enrolment.customer_id, enrolment.data["to_tier"], enrolment.data["event"]) == (
        11,
        "gold",
        flow_events.TIER_CHANGED,
    )


def test_points_about_to_expire_are_published_per_account_from_the_lots():
    now = timezone.now()
    account = LoyaltyAccount.objects.create(channel_slug=CHANNEL, customer_id=21, balance=150)
    for points, expires_in in ((100, 10), (50, 25), (70, 60)):
        entry = PointsEntry.objects.create(
            account=account,
            kind="earn",
            points=points,
            idempotency_key=str(uuid.uuid4()),
            created_at=now,
        )
        PointsLot.objects.create(
            account=account,
            entry=entry,
            points=points,
            remaining=points,
            available_at=now - DAY,
            expires_at=now + expires_in * DAY,
        )
    assert flow_events.publish_expiring_points(now=now) == 1
    enrolment = FlowEnrolment.objects.get()
    assert enrolment.data["points"] == 150
    assert enrolment.data["expires_at"] == (now + 10 * DAY).isoformat()
    flow_events.publish_expiring_points(now=now)
    assert FlowEnrolment.objects.count() == 1


def test_an_unknown_event_is_refused():
    with pytest.raises(ValueError, match="Unknown flow event"):
        flow_events.publish(flow_events.FlowEvent("order_teleported", CHANNEL, T0))


def test_a_failing_flow_never_undoes_the_order_but_a_lost_connection_retries_it(monkeypatch):
    from django.db import OperationalError

    from saleor_retention_plugin.models import PointsEntry

    def broken(*args, **kwargs):
        raise RuntimeError("a flow bug")

    monkeypatch.setattr(flow_events, "attribute_order", broken)
    apply_order(snapshot("kept"), shop_settings(), now=T0)
    assert PointsEntry.objects.filter(order_id="kept").exists()

    def connection_lost(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(flow_events, "attribute_order", connection_lost)
    with pytest.raises(OperationalError):
        apply_order(snapshot("retried"), shop_settings(), now=T0)
    assert not PointsEntry.objects.filter(order_id="retried").exists()


def built_when_sent(flow, monkeypatch):
    """Make ``flow`` answer ``Due``; returns the moments its message was built at."""
    built = []

    def compose(enrolment, message, settings, now):
        def build():
            built.append(now)
            return flows.Ready(context={"event": "built"}, zone=ZoneInfo("UTC"))

        return flows.Due(ZoneInfo("UTC"), build)

    monkeypatch.setattr(flow, "compose", compose)
    return built


NIGHT = T0 + DAY + 13 * timedelta(hours=1)  # 22:00 UTC: step 1 of an enrolment at T0 + 13 h
MORNING = (T0 + 2 * DAY).replace(hour=8)


def test_a_step_due_in_quiet_hours_is_written_for_their_end_and_sent_once_there():
    configure(quiet_hours_start="21:00", quiet_hours_end="08:00")
    enrol_customer(at=T0 + 13 * timedelta(hours=1))
    assert run(NIGHT) == []  # nothing claimed only to be deferred
    waiting = FlowMessage.objects.get()
    assert (waiting.state, waiting.next_attempt_at) == ("deferred", MORNING)
    assert run(MORNING - timedelta(minutes=1)) == []
    assert run(MORNING) == ["sent"]
    assert run(MORNING + DAY) == []
    assert FlowMessage.objects.get().sent_at == MORNING


def test_quiet_hours_switched_off_after_the_step_was_timed_still_let_it_go():
    configure(quiet_hours_start="21:00", quiet_hours_end="08:00")
    enrol_customer(at=T0 + 13 * timedelta(hours=1))
    assert run(NIGHT) == []
    configure(quiet_hours_start="00:00", quiet_hours_end="00:00")
    assert run(MORNING) == ["sent"]
    assert len(SENT) == 1


def test_the_delivery_applies_quiet_hours_set_after_the_step_was_timed(two_step_flow):
    configure(quiet_hours_start="21:00", quiet_hours_end="08:00")
    enrol_customer(at=T0 + 13 * timedelta(hours=1))
    assert run(NIGHT) == []
    configure(quiet_hours_start="21:00", quiet_hours_end="10:00")  # a later morning
    assert run(MORNING) == ["deferred:quiet_hours"]
    assert FlowMessage.objects.get().next_attempt_at == MORNING.replace(hour=10)
    assert run(MORNING.replace(hour=10)) == ["sent"]


def test_a_timed_step_capped_when_its_time_comes_is_deferred_again_never_lost():
    configure(quiet_hours_start="21:00", quiet_hours_end="08:00", frequency_cap_hours="16")
    enrol_customer(2, at=T0 + 13 * timedelta(hours=1), email="bo@example.com")
    assert run(NIGHT) == []
    contacted_by_another_flow(2, NIGHT - timedelta(hours=1))  # a cart reminder at 21:00
    assert run(MORNING) == ["deferred:frequency_cap"]
    capped_until = MORNING.replace(hour=13)  # 16 hours after 21:00
    assert FlowMessage.objects.get(flow=TwoStepFlow.name).next_attempt_at == capped_until
    assert run(capped_until - timedelta(minutes=1)) == []
    assert run(capped_until) == ["sent"]
    assert [step for _, step, _, _ in SENT] == [1]


def test_a_step_is_left_to_its_delivery_while_another_message_of_the_recipient_is_due(
    two_step_flow,
):
    configure(frequency_cap_hours="16")
    enrol_customer(2, email="bo@example.com")
    contacted_by_another_flow(2, T0 + DAY - timedelta(hours=1))
    FlowMessage.objects.create(  # due first; had it gone out, it would have moved the cap
        flow="cart",
        subject_key=str(uuid.uuid4()),
        step=1,
        channel_slug=CHANNEL,
        customer_id=2,
        state="scheduled",
        next_attempt_at=T0 + DAY,
        idempotency_key="other:due",
    )
    enrolments.advance_due_enrolments(two_step_flow, now=T0 + DAY)
    written = FlowMessage.objects.get(flow=TwoStepFlow.name)
    assert (written.state, written.next_attempt_at) == ("scheduled", T0 + DAY)
    assert run(T0 + DAY) == ["cancelled:enrolment_deleted", "deferred:frequency_cap"]


def test_a_message_quiet_hours_hold_back_is_built_only_when_it_goes_out(two_step_flow, monkeypatch):
    built = built_when_sent(two_step_flow, monkeypatch)
    enrol_customer(at=T0 + 13 * timedelta(hours=1))
    enrolments.advance_due_enrolments(two_step_flow, now=NIGHT)  # written with no quiet hours
    configure(quiet_hours_start="21:00", quiet_hours_end="08:00")
    assert run(NIGHT) == ["deferred:quiet_hours"]
    assert built == []
    assert run(MORNING) == ["sent"]
    assert built == [MORNING]
    assert FlowMessage.objects.get(state="sent").context["event"] == "built"


def test_a_capped_message_is_not_built_and_drops_only_a_reservation_it_holds(
    two_step_flow, monkeypatch
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from saleor_retention_plugin.models import ContactLogEntry

    built = built_when_sent(two_step_flow, monkeypatch)
    configure(frequency_cap_hours="16")
    enrol_customer(2, email="bo@example.com")
    enrolments.advance_due_enrolments(two_step_flow, now=T0 + DAY)  # written before the contact
    an_hour_before = T0 + DAY - timedelta(hours=1)
    contacted_by_another_flow(2, an_hour_before)
    with CaptureQueriesContext(connection) as statements:
        assert run(T0 + DAY) == ["deferred:frequency_cap"]
    table = ContactLogEntry._meta.db_table
    assert not [s for s in statements if s["sql"].startswith("DELETE") and table in s["sql"]]
    assert built == []
    held = FlowMessage.objects.get(flow=TwoStepFlow.name)
    FlowMessage.objects.filter(pk=held.pk).update(next_attempt_at=T0 + DAY + timedelta(hours=1))
    ContactLogEntry.objects.create(  # left by an earlier attempt that never finished
        recipient_key="customer:2", message=held, flow=held.flow, contacted_at=T0 + DAY
    )
    assert run(T0 + DAY + timedelta(hours=1)) == ["deferred:frequency_cap"]
    assert not ContactLogEntry.objects.filter(message=held).exists()
    assert run(an_hour_before + timedelta(hours=16)) == ["sent"]
    assert built == [an_hour_before + timedelta(hours=16)]


def contacted_by_another_flow(customer_id, at):
    """A cart reminder sent to the customer at ``at``, as the frequency cap's log holds it."""
    from saleor_retention_plugin.models import ContactLogEntry

    other = FlowMessage.objects.create(
        flow="cart",
        subject_key=str(uuid.uuid4()),
        step=1,
        channel_slug=CHANNEL,
        customer_id=customer_id,
        state="sent",
        sent_at=at,
        idempotency_key=f"other:{customer_id}",
    )
    ContactLogEntry.objects.create(
        recipient_key=f"customer:{customer_id}", message=other, flow="cart", contacted_at=at
    )


def test_a_delivery_locks_its_message_with_its_enrolment_and_reads_consent_with_the_cap(
    two_step_flow,
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    enrolment = enrol_customer()
    enrolments.advance_due_enrolments(two_step_flow, now=T0 + DAY)
    [claim] = flows.claim_due_messages(now=T0 + DAY)
    with CaptureQueriesContext(connection) as statements:
        outcome = flows.deliver_message(
            claim.message_id, claim.claim_token, now=T0 + DAY, send=capture
        )
    assert outcome == "sent"
    # (The test's transaction turns the delivery's transactions into savepoints.)
    sql = [s["sql"] for s in statements if "SAVEPOINT" not in s["sql"]]
    # The message and its enrolment, locked together (PostgreSQL: FOR UPDATE OF both).
    assert FlowEnrolment._meta.db_table in sql[0]
    if connection.vendor == "postgresql":
        assert (
            f'FOR UPDATE OF "{FlowMessage._meta.db_table}", "{FlowEnrolment._meta.db_table}"'
            in (sql[0])
        )
    # One cap lock per recipient key on PostgreSQL; consent and the last contact in one
    # read; the reservation; the send started; the send recorded.
    cap_locks = 2 if connection.vendor == "postgresql" else 0
    assert len(sql) == 1 + cap_locks + 4, sql
    assert FlowMessage.objects.get(enrolment=enrolment).state == "sent"


def test_an_order_stops_a_flow_that_stops_on_orders_and_credits_it_from_one_read(monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr(TwoStepFlow, "stops_on_order", True, raising=False)
    enrolment = enrol_customer()
    run(T0 + DAY)  # its first message sent; the second still to come

    with CaptureQueriesContext(connection) as queries:
        [conversion] = flow_events.attribute_order(placed(at=T0 + 2 * DAY), shop_settings())

    enrolment.refresh_from_db()
    assert (enrolment.state, enrolment.stop_reason) == (EnrolmentState.STOPPED, "customer_ordered")
    assert (conversion.enrolment_id, conversion.step) == (enrolment.pk, 1)
    # One read of the enrolments to stop and to credit; the stop (the enrolment, its
    # waiting messages) and the conversion are the writes.
    assert [q["sql"].split(None, 1)[0] for q in queries] == ["SELECT", "UPDATE", "UPDATE", "INSERT"]
