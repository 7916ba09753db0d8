"""One follow-up task per account however many parts of an order intake ask for it (issue 11).

``coalesced_enqueues`` holds what commits inside it and sends each distinct task once at
its end; what rolls back is never sent. Real commits here, as in a worker: on-commit work
runs when the transaction commits. The broker is the outside boundary: a task's
``delay`` is replaced by one that records what was sent.
"""

from __future__ import annotations

import pytest
from django.db import transaction

from saleor_retention_plugin import metadata_display, tasks
from saleor_retention_plugin.conf import ChannelSettings
from saleor_retention_plugin.enqueue import coalesced_enqueues, enqueue_after_commit
from saleor_retention_plugin.models import LoyaltyAccount, TierChange
from saleor_retention_plugin.services import tiers

pytestmark = pytest.mark.django_db(transaction=True)


class RecordingTask:
    """A Celery task as far as ``enqueue`` sees it: a name and ``delay``."""

    def __init__(self, name: str = "tests.recording") -> None:
        self.name = name
        self.sent: list[tuple] = []

    def delay(self, *args):
        self.sent.append(args)


def test_the_same_task_asked_for_twice_in_one_block_is_sent_once_at_its_end():
    task = RecordingTask()

    with coalesced_enqueues():
        with transaction.atomic():
            enqueue_after_commit(task, 7)
            enqueue_after_commit(task, 7)
            enqueue_after_commit(task, 8)
        assert task.sent == []  # committed, held until the block ends

    assert task.sent == [(7,), (8,)]


def test_two_tasks_with_the_same_arguments_are_both_sent():
    first, second = RecordingTask("tests.first"), RecordingTask("tests.second")

    with coalesced_enqueues(), transaction.atomic():
        enqueue_after_commit(first, 7)
        enqueue_after_commit(second, 7)

    assert (first.sent, second.sent) == ([(7,)], [(7,)])


def test_a_task_whose_argument_is_a_dict_is_held_and_coalesced_too():
    """A flow event is sent as a dict (a tier change inside an order intake's block)."""
    task = RecordingTask()
    event = {"kind": "tier_changed", "account_id": 7, "details": {"to": "gold"}}

    with coalesced_enqueues():
        with transaction.atomic():
            enqueue_after_commit(task, event)
            enqueue_after_commit(task, dict(reversed(event.items())))
        assert task.sent == []

    assert task.sent == [(event,)]


def failing_intake(task: RecordingTask, *args) -> None:
    with transaction.atomic():
        enqueue_after_commit(task, *args)
        raise RuntimeError("the intake failed")


def committed_then_failing(task: RecordingTask, *args) -> None:
    with coalesced_enqueues():
        with transaction.atomic():
            enqueue_after_commit(task, *args)
        raise RuntimeError("after the commit")


def test_what_rolls_back_is_never_sent():
    task = RecordingTask()

    with coalesced_enqueues():
        with pytest.raises(RuntimeError):
            failing_intake(task, 7)
        with transaction.atomic():
            enqueue_after_commit(task, 8)

    assert task.sent == [(8,)]


def test_what_committed_is_sent_even_when_the_block_then_raises():
    task = RecordingTask()

    with pytest.raises(RuntimeError):
        committed_then_failing(task, 7)

    assert task.sent == [(7,)]


def test_a_nested_block_sends_with_the_outer_one():
    task = RecordingTask()

    with coalesced_enqueues():
        with coalesced_enqueues(), transaction.atomic():
            enqueue_after_commit(task, 7)
        with transaction.atomic():
            enqueue_after_commit(task, 7)
        assert task.sent == []

    assert task.sent == [(7,)]


def test_outside_a_block_every_request_is_sent_at_commit():
    task = RecordingTask()

    with transaction.atomic():
        enqueue_after_commit(task, 7)
        enqueue_after_commit(task, 7)
        assert task.sent == []

    assert task.sent == [(7,), (7,)]


def test_a_first_order_that_earns_and_joins_a_tier_mirrors_the_account_once(
    monkeypatch, make_order
):
    """The points signal and the new tier change both ask for the metadata mirror."""
    mirror = RecordingTask(metadata_display.copy_loyalty_to_metadata_task.name)
    monkeypatch.setattr(metadata_display, "mirror_enabled", lambda: True)
    monkeypatch.setattr(metadata_display.copy_loyalty_to_metadata_task, "delay", mirror.delay)
    tiers.seed_default_tiers("main")

    outcome = tasks.sync_order_points_task(
        make_order(customer_id=7).to_json(), ChannelSettings().as_task_configuration()
    )

    account = LoyaltyAccount.objects.get(customer_id=7)
    assert outcome["earned"] == 100
    assert TierChange.objects.filter(account=account).count() == 1  # joined: 2 reasons
    assert mirror.sent == [(account.pk,)]
