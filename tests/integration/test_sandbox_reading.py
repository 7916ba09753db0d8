"""The sandbox's customers read every message a sweep sent, however long it waited.

``read_messages`` looks at the outbox only from its oldest message that may still be sent
(the whole outbox after every sweep made a long story quadratic); a message written long
before it goes out must still be read, exactly once, and the ones sent earlier not again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from saleor_retention_plugin.domain.customers import normalise_email
from saleor_retention_plugin.models import FlowMessage, MessageState
from saleor_retention_plugin.sandbox import messages
from saleor_retention_plugin.sandbox.store import SimulatedStore

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
HOUR = timedelta(hours=1)


def write(store: SimulatedStore, number: int, state: str, sent_at=None) -> FlowMessage:
    customer = store.customers[0]
    return FlowMessage.objects.create(
        flow="welcome",
        subject_key=f"customer:{number}",
        step=1,
        channel_slug=customer.channel.slug,
        recipient_email=normalise_email(customer.email),
        state=state,
        next_attempt_at=T0,
        sent_at=sent_at,
        cancel_reason="stopped" if state == MessageState.CANCELLED else "",
        idempotency_key=f"welcome:{number}",
    )


def send(message: FlowMessage, at: datetime) -> None:
    FlowMessage.objects.filter(pk=message.pk).update(state=MessageState.SENT, sent_at=at)


def read(store: SimulatedStore, now: datetime, since: datetime | None) -> int:
    store._now = now
    before = store.log.messages_read
    messages.read_messages(store, since)
    return store.log.messages_read - before


def test_a_message_sent_long_after_it_was_written_is_read_once():
    store = SimulatedStore(seed=1, weeks=1, start=T0, customers_per_channel=1)
    waiting = write(store, 1, MessageState.SCHEDULED)  # the oldest row: sent only later
    for number in range(2, 7):
        write(store, number, MessageState.SENT, sent_at=T0 + HOUR)
    assert read(store, T0 + 2 * HOUR, None) == 5
    assert store.outbox_floor == waiting.pk

    send(waiting, T0 + 3 * HOUR)
    write(store, 7, MessageState.SENT, sent_at=T0 + 3 * HOUR)
    cancelled = write(store, 8, MessageState.CANCELLED)
    assert read(store, T0 + 4 * HOUR, T0 + 2 * HOUR) == 2  # the old one and the new one
    assert waiting.pk < store.outbox_floor <= cancelled.pk

    assert read(store, T0 + 5 * HOUR, T0 + 4 * HOUR) == 0
    write(store, 9, MessageState.SENT, sent_at=T0 + 6 * HOUR)
    assert read(store, T0 + 6 * HOUR, T0 + 5 * HOUR) == 1


def test_a_deferred_message_keeps_the_floor_below_it():
    store = SimulatedStore(seed=1, weeks=1, start=T0, customers_per_channel=1)
    deferred = write(store, 1, MessageState.DEFERRED)
    write(store, 2, MessageState.SENT, sent_at=T0 + HOUR)
    assert read(store, T0 + HOUR, None) == 1
    assert store.outbox_floor == deferred.pk
    send(deferred, T0 + 2 * HOUR)
    assert read(store, T0 + 2 * HOUR, T0 + HOUR) == 1


def test_one_read_of_the_outbox_per_look():
    """The floor's waiting ids and the sent messages come from the same statement."""
    store = SimulatedStore(seed=1, weeks=1, start=T0, customers_per_channel=1)
    write(store, 1, MessageState.SCHEDULED)
    for number in range(2, 5):
        write(store, number, MessageState.SENT, sent_at=T0 + HOUR)
    table = FlowMessage._meta.db_table
    with CaptureQueriesContext(connection) as queries:
        assert read(store, T0 + 2 * HOUR, None) == 3
    assert sum(table in query["sql"] for query in queries.captured_queries) == 1


def test_an_order_looks_for_a_reward_code_only_of_a_customer_who_redeemed(
    django_assert_num_queries,
):
    store = SimulatedStore(seed=1, weeks=1, start=T0, customers_per_channel=1)
    customer = store.customers[0]
    with django_assert_num_queries(0):  # never redeemed: holds no code
        store._use_a_reward_code(customer)
    store._redeemers.add((customer.channel.slug, normalise_email(customer.email)))
    with django_assert_num_queries(1):  # none issued yet: nothing marked used
        store._use_a_reward_code(customer)
    assert store.log.codes_used == 0
