"""Extension signals: sent after commit with the documented arguments, never on rollback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction

from saleor_retention_plugin.conf import OverdraftPolicy
from saleor_retention_plugin.services import ledger

from .conftest import later

DOCUMENTED = {
    "points_earned": {
        "account_id",
        "channel_slug",
        "customer_id",
        "points",
        "entry_id",
        "order_id",
    },
    "points_spent": {"account_id", "channel_slug", "customer_id", "points", "entry_id", "reason"},
    "points_reversed": {
        "account_id",
        "channel_slug",
        "customer_id",
        "points",
        "written_off",
        "entry_id",
        "order_id",
    },
    "points_expired": {"account_id", "channel_slug", "customer_id", "points", "entry_id"},
    "points_adjusted": {
        "account_id",
        "channel_slug",
        "customer_id",
        "points",
        "delta",
        "entry_id",
        "reason",
        "actor",
    },
}


class Rollback(Exception):
    pass


@pytest.mark.django_db(transaction=True)
def test_every_signal_carries_the_documented_arguments(make_order, make_settings, received_signals):
    settings = make_settings(expiry_months=1)
    earned_at = datetime(2026, 1, 1, 12, tzinfo=UTC)
    order = make_order()
    outcome = ledger.sync_order_points(order, settings, now=earned_at)
    assert outcome.account_id is not None
    ledger.spend_points(
        outcome.account_id, 10, idempotency_key="s", reason="Voucher", now=earned_at
    )
    ledger.adjust_points(
        outcome.account_id,
        -5,
        reason="Fix",
        actor="user:1",
        idempotency_key="a",
        settings=settings,
        now=earned_at,
    )
    ledger.sync_order_points(later(order, refunded_amount="60.00"), settings, now=earned_at)
    ledger.expire_due_points(now=earned_at + timedelta(days=60))

    assert [name for name, _ in received_signals.calls] == [
        "points_earned",
        "points_spent",
        "points_adjusted",
        "points_reversed",
        "points_expired",
    ]
    for name, kwargs in received_signals.calls:
        assert set(kwargs) - {"sender"} == DOCUMENTED[name], name
        assert kwargs["account_id"] == outcome.account_id
        assert (kwargs["channel_slug"], kwargs["customer_id"]) == (order.channel_slug, 42)
        assert kwargs["points"] > 0
    points = {name: kwargs["points"] for name, kwargs in received_signals.calls}
    assert points == {
        "points_earned": 100,
        "points_spent": 10,
        "points_adjusted": 5,
        "points_reversed": 50,
        "points_expired": 35,
    }
    assert received_signals.of("points_earned")[0]["order_id"] == order.order_id
    assert received_signals.of("points_spent")[0]["reason"] == "Voucher"
    assert received_signals.of("points_adjusted")[0]["actor"] == "user:1"
    assert received_signals.of("points_adjusted")[0]["delta"] == -5  # taken, not added


@pytest.mark.django_db(transaction=True)
def test_signals_wait_for_the_commit(funded_account, received_signals):
    account = funded_account(100)
    received_signals.calls.clear()

    with transaction.atomic():
        ledger.spend_points(account.pk, 10, idempotency_key="inside")
        assert received_signals.calls == []

    assert [name for name, _ in received_signals.calls] == ["points_spent"]


@pytest.mark.django_db(transaction=True)
def test_no_signal_is_sent_when_the_transaction_rolls_back(
    make_order, make_settings, received_signals
):
    def earn_and_spend_then_fail() -> None:
        with transaction.atomic():
            outcome = ledger.sync_order_points(make_order(), make_settings())
            assert outcome.account_id is not None
            ledger.spend_points(outcome.account_id, 10, idempotency_key="rolled-back")
            raise Rollback

    with pytest.raises(Rollback):
        earn_and_spend_then_fail()

    assert received_signals.calls == []


@pytest.mark.django_db(transaction=True)
def test_a_failing_receiver_cannot_undo_the_change(funded_account, received_signals):
    from saleor_retention_plugin.signals import points_spent

    def broken(sender, **kwargs):
        raise RuntimeError("receiver bug")

    points_spent.connect(broken, dispatch_uid="broken-receiver")
    try:
        account = funded_account(100)
        ledger.spend_points(account.pk, 10, idempotency_key="spend")
    finally:
        points_spent.disconnect(dispatch_uid="broken-receiver")

    account.refresh_from_db()
    assert account.balance == 90
    assert len(received_signals.of("points_spent")) == 1


@pytest.mark.django_db(transaction=True)
def test_idempotent_repeats_send_no_second_signal(make_order, make_settings, received_signals):
    order = make_order()
    for _ in range(3):
        ledger.sync_order_points(order, make_settings())

    assert len(received_signals.of("points_earned")) == 1


@pytest.mark.django_db(transaction=True)
def test_take_back_with_nothing_left_is_signalled_as_written_off(
    make_order, make_settings, received_signals
):
    settings = make_settings(overdraft_policy=OverdraftPolicy.CLAMP_TO_ZERO)
    order = make_order()
    outcome = ledger.sync_order_points(order, settings)
    assert outcome.account_id is not None
    ledger.spend_points(outcome.account_id, 100, idempotency_key="all")

    ledger.sync_order_points(later(order, status="canceled"), settings)

    [reversed_] = received_signals.of("points_reversed")
    assert (reversed_["points"], reversed_["written_off"]) == (0, 100)
