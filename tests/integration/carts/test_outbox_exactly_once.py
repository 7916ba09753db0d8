"""The outbox sends each reminder exactly once: concurrent sweeps and claims on real
PostgreSQL connections, workers that die mid-way, transient and permanent failures,
and the invariants the database enforces.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import CommandError
from django.db import IntegrityError, OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext

from saleor_retention_plugin.delivery import TransientDeliveryError, send_message
from saleor_retention_plugin.delivery.base import PermanentDeliveryError
from saleor_retention_plugin.models import ContactLogEntry, FlowMessage, MessageState
from saleor_retention_plugin.services import cart_reminders, flow_claims, flow_leases, flows

from .cart_shop import HOUR, T0, message, put_cart, sweep, tea_line

DUE = T0 + HOUR


def run_in_threads(count, work):
    """Run ``work(i)`` in ``count`` threads that start together; each uses its own connection."""
    barrier = threading.Barrier(count)
    results, errors = [None] * count, []

    def run(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as error:  # surfaced by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


def abandoned_carts(track, count, **cart):
    tokens = [track(customer_id=100 + i) for i in range(count)]
    for i, token in enumerate(tokens):
        put_cart(token, tea_line(), customer_id=100 + i, **cart)
    return tokens


@pytest.mark.django_db(transaction=True)
def test_concurrent_claimers_never_claim_the_same_message(track):
    abandoned_carts(track, 60)
    cart_reminders.advance_due_carts(now=DUE)
    assert FlowMessage.objects.count() == 60

    def claim_until_empty(_):
        mine: list[int] = []
        while claims := flows.claim_due_messages(now=DUE, limit=7):
            mine.extend(claim.message_id for claim in claims)
        return mine

    claimed = [mid for ids in run_in_threads(6, claim_until_empty) for mid in ids]
    assert sorted(claimed) == sorted(FlowMessage.objects.values_list("id", flat=True))
    assert len(set(claimed)) == len(claimed)


@pytest.mark.django_db(transaction=True)
def test_concurrent_sweeps_send_every_reminder_exactly_once(track):
    tokens = abandoned_carts(track, 30)
    outcomes = run_in_threads(5, lambda _: sweep(DUE))
    assert Counter(outcome for run in outcomes for outcome in run) == {"sent": 30}
    sent_to = Counter(email.extra_headers["Message-ID"] for email in mail.outbox)
    assert len(sent_to) == 30
    assert set(sent_to.values()) == {1}
    assert FlowMessage.objects.filter(state=MessageState.SENT).count() == len(tokens)


@pytest.mark.django_db(transaction=True)
def test_two_reminders_for_one_customer_due_together_respect_the_cap(track):
    from . import cart_shop

    cart_shop.configure(frequency_cap_hours="16")
    first, second = track(customer_id=7), track(customer_id=7)
    for token in (first, second):
        put_cart(token, tea_line(), customer_id=7)
    cart_reminders.advance_due_carts(now=DUE)
    claims = flows.claim_due_messages(now=DUE)
    outcomes = run_in_threads(
        2, lambda i: flows.deliver_message(claims[i].message_id, claims[i].claim_token, now=DUE)
    )
    assert sorted(outcomes) == ["deferred:frequency_cap", "sent"]
    deferred = FlowMessage.objects.get(state=MessageState.DEFERRED)
    assert deferred.next_attempt_at == DUE + timedelta(hours=16)
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_a_worker_that_died_after_claiming_is_replaced_once_its_lease_lapsed(track):
    token = track()
    put_cart(token, tea_line())
    cart_reminders.advance_due_carts(now=DUE)
    [lost] = flows.claim_due_messages(now=DUE, worker="dead-host:1")  # the worker dies here

    # Nothing was sent, so waiting the whole claim timeout would only delay the customer.
    assert flows.claim_due_messages(now=DUE + flow_leases.CLAIM_LEASE - timedelta(seconds=1)) == []
    [retry] = flows.claim_due_messages(now=DUE + flow_leases.CLAIM_LEASE + timedelta(seconds=1))
    assert retry.message_id == lost.message_id

    # Nothing was sent, so the first task stays good if it still runs: whichever of the
    # two runs first sends, the other finds the send started and sends nothing.
    assert flows.deliver_message(lost.message_id, lost.claim_token, now=DUE) == "sent"
    assert flows.deliver_message(retry.message_id, retry.claim_token, now=DUE) == "claim_lost"
    assert len(mail.outbox) == 1
    assert sweep(DUE + timedelta(hours=2)) == []


class WorkerCrashed(BaseException):
    """Stands for the process dying: not an error the engine could catch."""


@pytest.mark.django_db
def test_a_crash_between_preparing_and_sending_retries_once_with_the_same_coupon_and_key(track):
    token = track()
    put_cart(token, tea_line())
    sweep(DUE)
    at = T0 + 24 * HOUR
    cart_reminders.advance_due_carts(now=at)
    [claim] = flows.claim_due_messages(now=at)

    def crash(outgoing, settings):
        raise WorkerCrashed

    with pytest.raises(WorkerCrashed):
        flows.deliver_message(claim.message_id, claim.claim_token, now=at, send=crash)
    prepared = message(token, 2)
    assert prepared.state == MessageState.CLAIMED
    assert prepared.attempts == 1
    assert prepared.coupon_code

    later = at + flows.CLAIM_TIMEOUT + timedelta(minutes=1)
    sent_keys = []

    def record_and_send(outgoing, settings):
        sent_keys.append((outgoing.idempotency_key, outgoing.context["coupon_code"]))
        return send_message(outgoing, settings)

    [retry] = flows.claim_due_messages(now=later)
    assert (
        flows.deliver_message(retry.message_id, retry.claim_token, now=later, send=record_and_send)
        == "sent"
    )
    assert sent_keys == [(prepared.idempotency_key, prepared.coupon_code)]
    assert message(token, 2).attempts == 2
    assert ContactLogEntry.objects.filter(message=prepared).count() == 1
    assert len(mail.outbox) == 2  # step 1 and step 2, each once
    assert sweep(later + timedelta(hours=1)) == []


@pytest.mark.django_db
def test_a_transient_failure_is_retried_with_backoff_then_sent(track):
    token = track()
    put_cart(token, tea_line())
    cart_reminders.advance_due_carts(now=DUE)
    [claim] = flows.claim_due_messages(now=DUE)

    def refused(outgoing, settings):
        raise TransientDeliveryError("connection refused")

    assert (
        flows.deliver_message(claim.message_id, claim.claim_token, now=DUE, send=refused) == "retry"
    )
    waiting = message(token, 1)
    assert (waiting.state, waiting.next_attempt_at, waiting.last_error) == (
        MessageState.DEFERRED,
        DUE + flows.FIRST_RETRY_DELAY,
        "connection refused",
    )
    assert sweep(DUE + timedelta(minutes=1)) == []
    assert sweep(DUE + flows.FIRST_RETRY_DELAY) == ["sent"]
    assert len(mail.outbox) == 1


def deliver_due(at, send):
    return [
        flows.deliver_message(claim.message_id, claim.claim_token, now=at, send=send)
        for claim in flows.claim_due_messages(now=at)
    ]


def refused(outgoing, settings):
    raise TransientDeliveryError("connection refused")


@pytest.mark.django_db
def test_an_outage_of_a_day_loses_nothing_however_many_attempts_it_takes(track):
    token = track()
    put_cart(token, tea_line())
    cart_reminders.advance_due_carts(now=DUE)

    at, outcomes = DUE, []
    while at < DUE + timedelta(hours=30):
        outcomes += deliver_due(at, refused)
        at += timedelta(minutes=30)
    assert set(outcomes) == {"retry"}
    assert len(outcomes) > 8
    assert message(token, 1).state == MessageState.DEFERRED
    assert not ContactLogEntry.objects.exists()  # nothing went out: nothing reserved

    assert deliver_due(at + flows.MAX_RETRY_DELAY, send_message) == ["sent"]
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_a_step_still_retrying_when_the_next_one_is_due_gives_way_to_it(track):
    token = track()
    put_cart(token, tea_line())
    at = DUE
    while at < T0 + 24 * HOUR:
        cart_reminders.advance_due_carts(now=at)
        deliver_due(at, refused)
        at += timedelta(minutes=30)
    assert message(token, 1).state == MessageState.DEFERRED  # the outage goes on

    cart_reminders.advance_due_carts(now=at)  # step 2 (the coupon) is due now
    outcomes = deliver_due(at + flows.MAX_RETRY_DELAY, send_message)
    assert sorted(outcomes) == ["cancelled:superseded_by_a_later_step", "sent"]
    assert message(token, 2).state == MessageState.SENT
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_a_message_is_given_up_once_the_retry_window_after_its_first_failure_is_over(
    track, settings
):
    settings.RETENTION_DELIVERY_RETRY_HOURS = 10
    token = track()
    put_cart(token, tea_line())
    cart_reminders.advance_due_carts(now=DUE)

    at, outcomes = DUE, []
    while "failed" not in outcomes and at < DUE + timedelta(days=3):
        outcomes += deliver_due(at, refused)
        at += timedelta(minutes=30)
    gave_up_at = at - timedelta(minutes=30)
    assert outcomes[-1] == "failed"
    assert set(outcomes[:-1]) == {"retry"}
    failed = message(token, 1)
    assert (failed.state, failed.first_failed_at) == (MessageState.FAILED, DUE)
    assert gave_up_at == DUE + timedelta(hours=10)  # the last try is at the window's end
    assert not ContactLogEntry.objects.filter(message=failed).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("breaks", ["prepare", "coupon", "send"])
def test_an_unexpected_error_is_retried_like_a_delivery_failure(track, monkeypatch, breaks):
    token = track()
    put_cart(token, tea_line())
    cart_reminders.advance_due_carts(now=DUE)
    send = send_message
    if breaks == "prepare":

        def broken_prepare(self, message, settings, now):
            raise KeyError("template variable")

        monkeypatch.setattr(cart_reminders.CartReminderFlow, "prepare", broken_prepare)
    elif breaks == "coupon":
        from decimal import Decimal

        from saleor_retention_plugin.domain.schedules import DiscountKind, Incentive

        monkeypatch.setattr(
            cart_reminders.CartReminderFlow,
            "prepare",
            _with_incentive(
                cart_reminders.CartReminderFlow.prepare, Incentive(DiscountKind.FIXED, Decimal(5))
            ),
        )

        class DownIssuer:
            def issue(self, request):
                raise RuntimeError("voucher service down")

        monkeypatch.setattr(flows, "coupon_issuer", lambda: DownIssuer())
    else:

        def send(outgoing, settings):
            raise ValueError("custom channel bug")

    assert deliver_due(DUE, send) == ["retry"]
    waiting = message(token, 1)
    assert waiting.state == MessageState.DEFERRED  # not left claimed for ever
    assert waiting.attempts == 1
    assert waiting.first_failed_at == DUE
    assert waiting.next_attempt_at == DUE + flows.FIRST_RETRY_DELAY
    assert not ContactLogEntry.objects.exists()

    monkeypatch.undo()
    assert deliver_due(DUE + flows.FIRST_RETRY_DELAY, send_message) == ["sent"]


@pytest.mark.django_db
def test_a_database_error_while_preparing_is_left_to_the_task_retry_not_the_backoff(
    track, monkeypatch
):
    """Seen in the crash suite: PostgreSQL 'starting up' failed one message's prepare, the
    failure was booked as the flow's, and the message waited the 2-minute backoff.
    """
    token = track()
    put_cart(token, tea_line())
    cart_reminders.advance_due_carts(now=DUE)
    [claim] = flows.claim_due_messages(now=DUE)

    def starting_up(self, message, settings, now):
        raise OperationalError("the database system is starting up")

    monkeypatch.setattr(cart_reminders.CartReminderFlow, "prepare", starting_up)
    with pytest.raises(OperationalError):
        flows.deliver_message(claim.message_id, claim.claim_token, now=DUE, send=send_message)
    waiting = message(token, 1)
    assert (waiting.state, str(waiting.claim_token), waiting.attempts) == (
        MessageState.CLAIMED,
        claim.claim_token,
        0,
    )
    assert waiting.first_failed_at is None
    assert waiting.send_started_at is None

    monkeypatch.undo()  # the task's retry, seconds later, with the same claim
    assert (
        flows.deliver_message(claim.message_id, claim.claim_token, now=DUE, send=send_message)
        == "sent"
    )


def _with_incentive(prepare, incentive):
    import dataclasses

    def prepare_with_coupon(self, message, settings, now):
        ready = prepare(self, message, settings, now)
        return dataclasses.replace(ready, incentive=incentive)

    return prepare_with_coupon


@pytest.mark.django_db
def test_a_message_whose_worker_keeps_dying_is_given_up_when_claiming(track, settings):
    settings.RETENTION_DELIVERY_RETRY_HOURS = 2
    token = track()
    put_cart(token, tea_line())
    cart_reminders.advance_due_carts(now=DUE)

    at, claims = DUE, 0
    while at < DUE + timedelta(hours=6):
        claims += len(flows.claim_due_messages(now=at))  # claimed, then the worker dies
        at += flows.CLAIM_TIMEOUT + timedelta(minutes=1)
    died = message(token, 1)
    assert died.state == MessageState.FAILED
    assert "worker never finished" in died.last_error
    assert 2 <= claims <= 2 * 60 // 16 + 2  # claimed again only within the window


@pytest.mark.django_db
def test_failed_messages_can_be_requeued_once_the_cause_is_fixed(track, settings):
    from io import StringIO

    from django.core.management import call_command

    from . import cart_shop

    settings.RETENTION_DELIVERY_RETRY_HOURS = 1
    cart_shop.configure("other-channel")
    tokens = [track(), track(channel="other-channel")]
    for token in tokens:
        put_cart(token, tea_line())
    cart_reminders.advance_due_carts(now=DUE)
    at = DUE
    while FlowMessage.objects.exclude(state=MessageState.FAILED).exists():
        deliver_due(at, refused)
        at += timedelta(minutes=30)

    out = StringIO()
    call_command("retention_outbox", "--requeue-failed", "--channel", cart_shop.CHANNEL, stdout=out)
    assert "Requeued 1 failed message" in out.getvalue()
    assert message(tokens[1], 1).state == MessageState.FAILED  # another channel: untouched
    requeued = message(tokens[0], 1)
    assert (requeued.state, requeued.first_failed_at) == (MessageState.SCHEDULED, None)
    assert deliver_due(requeued.next_attempt_at, send_message) == ["sent"]

    call_command("retention_outbox", "--requeue-failed", "--since", "2999-01-01", stdout=out)
    assert message(tokens[1], 1).state == MessageState.FAILED  # failed before that date
    with pytest.raises(CommandError):
        call_command("retention_outbox", "--requeue-failed", "--since", "yesterday")


@pytest.mark.django_db
def test_a_permanent_failure_is_recorded_and_does_not_count_against_the_cap(track):
    token = track()
    put_cart(token, tea_line())
    cart_reminders.advance_due_carts(now=DUE)
    [claim] = flows.claim_due_messages(now=DUE)

    def rejected(outgoing, settings):
        raise PermanentDeliveryError("550 mailbox unavailable")

    assert (
        flows.deliver_message(claim.message_id, claim.claim_token, now=DUE, send=rejected)
        == "failed"
    )
    failed = message(token, 1)
    assert (failed.state, failed.last_error) == (MessageState.FAILED, "550 mailbox unavailable")
    assert not ContactLogEntry.objects.exists()
    assert flows.claim_due_messages(now=DUE + timedelta(days=1)) == []


@pytest.mark.django_db
def test_a_broken_smtp_server_delays_the_reminder_without_losing_it(track):
    from aiosmtpd.controller import Controller

    from ..delivery_servers import RecordingSMTPHandler, free_port
    from . import cart_shop

    port = free_port()
    cart_shop.configure(smtp_host="127.0.0.1", smtp_port=str(port), smtp_use_tls="false")
    token = track()
    put_cart(token, tea_line())

    assert sweep(DUE) == ["retry"]  # nothing listens on the port yet
    handler = RecordingSMTPHandler()
    handler.rcpt_reply = "451 4.3.0 try again later"
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert sweep(DUE + flows.retry_delay(1)) == ["retry"]
        handler.rcpt_reply = None
        assert sweep(DUE + flows.retry_delay(1) + flows.retry_delay(2)) == ["sent"]
    finally:
        controller.stop()
    [received] = handler.messages
    assert received["Message-ID"] == message(token, 1).provider_message_id
    assert message(token, 1).attempts == 3


# --- invariants in the database ------------------------------------------------------------


def outbox_row(**fields):
    defaults = {
        "flow": "cart",
        "subject_key": "cart-1",
        "step": 1,
        "channel_slug": "tea-cn",
        "idempotency_key": "key-1",
        "next_attempt_at": T0,
    }
    return FlowMessage(**{**defaults, **fields})


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"state": MessageState.SENT}, id="sent without sent_at"),
        pytest.param({"state": MessageState.CLAIMED}, id="claimed without a claim"),
        pytest.param(
            {"state": MessageState.SCHEDULED, "next_attempt_at": None}, id="waiting without a time"
        ),
        pytest.param({"state": MessageState.CANCELLED}, id="cancelled without a reason"),
        pytest.param({"step": 0}, id="step zero"),
        pytest.param({"state": "lost"}, id="unknown state"),
    ],
)
def test_the_database_rejects_impossible_outbox_rows(fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        outbox_row(**fields).save()


@pytest.mark.django_db
def test_the_database_allows_one_row_per_subject_flow_and_step():
    outbox_row().save()
    with pytest.raises(IntegrityError), transaction.atomic():
        outbox_row(idempotency_key="key-2").save()
    outbox_row(idempotency_key="key-3", step=2).save()


@pytest.mark.django_db
def test_the_portable_claim_writes_one_claim_or_many_in_the_same_statements(track):
    # The path SQLite (the sandbox) takes, run here on PostgreSQL.
    abandoned_carts(track, 6)
    cart_reminders.advance_due_carts(now=DUE)
    lease_until = DUE + timedelta(minutes=1)

    def claim(limit):
        with CaptureQueriesContext(connection) as queries:
            claims = flow_claims._claim_due_portably(
                DUE, DUE - timedelta(hours=1), DUE - timedelta(days=2), limit, "w1", lease_until
            )
        return claims, len(queries)

    one, one_statements = claim(1)
    five, five_statements = claim(5)

    assert (len(one), len(five)) == (1, 5)
    assert one_statements == five_statements
    rows = {row.pk: row for row in FlowMessage.objects.all()}
    for claimed in one + five:
        row = rows[claimed.message_id]
        assert row.state == MessageState.CLAIMED
        assert str(row.claim_token) == claimed.claim_token
        assert (row.claimed_by, row.claimed_at, row.lease_expires_at) == ("w1", DUE, lease_until)
    assert len({claimed.claim_token for claimed in one + five}) == 6
