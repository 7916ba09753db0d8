"""Claim leases: a dead worker's unsent reminders come back fast, a send in doubt never
goes out twice early, and a live worker keeps what it holds (issue 12, crashes).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail

from saleor_retention_plugin.delivery import send_message
from saleor_retention_plugin.models import FlowMessage, MessageState
from saleor_retention_plugin.services import cart_reminders, flow_leases, flows
from tests.integration.carts.cart_shop import HOUR, T0, put_cart, tea_line
from tests.integration.carts.conftest import shop, track  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

DUE = T0 + HOUR
LEASE = flow_leases.CLAIM_LEASE


@pytest.fixture
def claimed(track):  # noqa: F811
    """One due reminder, claimed at ``DUE`` by a worker that then dies."""
    token = track()
    put_cart(token, tea_line())
    cart_reminders.advance_due_carts(now=DUE)
    [claim] = flows.claim_due_messages(now=DUE, worker="worker-a:1")
    return claim


def test_a_dead_workers_unsent_claim_goes_to_another_worker_once_the_lease_lapsed(claimed):
    assert flows.claim_due_messages(now=DUE + LEASE - timedelta(seconds=1)) == []

    [again] = flows.claim_due_messages(now=DUE + LEASE + timedelta(seconds=1), worker="b:2")

    assert again.message_id == claimed.message_id
    row = FlowMessage.objects.get(pk=again.message_id)
    assert row.claimed_by == "b:2"
    # Every task queued for it stays good (the claim kept its token, so a backlog never
    # starves it); the first to run sends, the others find the send started.
    assert again.claim_token == claimed.claim_token
    assert flows.deliver_message(again.message_id, again.claim_token, now=DUE) == "sent"
    assert flows.deliver_message(claimed.message_id, claimed.claim_token, now=DUE) == "claim_lost"
    assert len(mail.outbox) == 1


def test_a_claim_whose_send_started_waits_the_claim_timeout_not_the_lease(claimed):
    class Died(BaseException):
        """The worker process dying in the middle of the send."""

    def dies_while_sending(outgoing, settings):
        raise Died

    with pytest.raises(Died):
        flows.deliver_message(
            claimed.message_id, claimed.claim_token, now=DUE, send=dies_while_sending
        )
    row = FlowMessage.objects.get(pk=claimed.message_id)
    assert row.state == MessageState.CLAIMED
    assert row.send_started_at is not None

    # Maybe it reached the server: the short lease must not hand it out again.
    assert flows.claim_due_messages(now=DUE + 10 * LEASE) == []
    [again] = flows.claim_due_messages(now=DUE + flows.CLAIM_TIMEOUT + timedelta(seconds=1))
    assert again.message_id == claimed.message_id
    # A new token: the dying worker's task, were it retried, cannot send it again.
    assert again.claim_token != claimed.claim_token
    assert flows.deliver_message(claimed.message_id, claimed.claim_token, now=DUE) == "claim_lost"
    assert flows.deliver_message(again.message_id, again.claim_token, now=DUE) == "sent"
    assert len(mail.outbox) == 1


def test_a_live_worker_keeps_its_claims_by_renewing_them_within_its_patience(claimed):
    later = DUE + LEASE - timedelta(seconds=5)
    assert flow_leases.renew_leases("worker-a:1", now=later) == 1
    assert flow_leases.renew_leases("someone-else:9", now=later) == 0

    assert flows.claim_due_messages(now=DUE + LEASE + timedelta(seconds=1)) == []

    # Past its patience a claim lapses although its worker lives: its task may be lost.
    too_late = DUE + flow_leases.CLAIM_PATIENCE + timedelta(seconds=1)
    assert flow_leases.renew_leases("worker-a:1", now=too_late) == 0
    assert len(flows.claim_due_messages(now=too_late + LEASE)) == 1


def test_the_same_claim_delivered_twice_at_once_sends_once(claimed):
    outcomes = []

    def send_while_the_broker_redelivers(outgoing, settings):
        # The broker hands the same task to a second worker while this one is sending.
        outcomes.append(flows.deliver_message(claimed.message_id, claimed.claim_token, now=DUE))
        return send_message(outgoing, settings)

    first = flows.deliver_message(
        claimed.message_id, claimed.claim_token, now=DUE, send=send_while_the_broker_redelivers
    )

    assert (first, outcomes) == ("sent", ["claim_lost"])
    assert len(mail.outbox) == 1


def test_a_message_sent_back_to_waiting_holds_no_lease_and_no_send_in_doubt(claimed, settings):
    settings.RETENTION_DELIVERY_RETRY_HOURS = 48
    from saleor_retention_plugin.delivery import TransientDeliveryError

    def refused(outgoing, settings):
        raise TransientDeliveryError("451 try again later")

    assert (
        flows.deliver_message(claimed.message_id, claimed.claim_token, now=DUE, send=refused)
        == "retry"
    )
    row = FlowMessage.objects.get(pk=claimed.message_id)
    assert (row.state, row.send_started_at, row.lease_expires_at) == (
        MessageState.DEFERRED,
        None,
        None,
    )
