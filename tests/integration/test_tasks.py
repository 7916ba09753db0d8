"""Celery tasks: JSON-native arguments, idempotent, retried only on transient database errors."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from celery import current_app
from django.db import OperationalError

from saleor_retention_plugin.conf import ChannelSettings, CreditTrigger
from saleor_retention_plugin.models import LoyaltyAccount, PointsEntry
from saleor_retention_plugin.schedule import PERIODIC_TASKS, register_periodic_tasks
from saleor_retention_plugin.services import ledger
from saleor_retention_plugin.tasks import sync_order_points_task

from .conftest import later

pytestmark = pytest.mark.django_db

EXPIRY = "saleor-retention-expire-points"


def as_json(value):
    """What a JSON broker would deliver: fails on anything that is not JSON-native."""
    return json.loads(json.dumps(value))


@pytest.fixture
def configuration() -> dict[str, str]:
    return ChannelSettings.from_configuration({"points_per_currency_unit": "2"}).as_configuration()


def test_sync_order_points_task_earns_from_json_arguments(make_order, configuration):
    order = make_order(points_base_amount="10.50")

    result = sync_order_points_task.delay(as_json(order.to_json()), as_json(configuration)).get()

    account = LoyaltyAccount.objects.get(customer_id=42)
    assert result == {
        "order_id": order.order_id,
        "account_id": account.pk,
        "earned": 21,
        "taken_back": 0,
        "written_off": 0,
        "net_goods_amount": "10.50",
        "tier_change": "member",
        "reward_codes_given_back": 0,
        "cart_recovered": False,
        "skipped_reason": "",
    }
    assert as_json(result) == result
    assert account.balance == 21


def test_delivering_the_same_task_twice_changes_nothing(make_order, configuration):
    payload = as_json(later(make_order(), status="canceled", refunded_amount=0).to_json())
    earned_payload = as_json(make_order().to_json())

    first = sync_order_points_task.delay(earned_payload, configuration).get()
    second = sync_order_points_task.delay(earned_payload, configuration).get()
    sync_order_points_task.delay(payload, configuration).get()

    assert (first["earned"], second["earned"]) == (200, 0)
    assert PointsEntry.objects.filter(kind="earn").count() == 2


def test_task_reports_why_an_order_was_skipped(make_order, configuration):
    order = make_order(currency="EUR")

    result = sync_order_points_task.delay(as_json(order.to_json()), configuration).get()

    assert result["skipped_reason"] == "order currency EUR is not the channel currency USD"
    assert not PointsEntry.objects.exists()


def test_a_stored_bad_configuration_falls_back_to_defaults_instead_of_failing(make_order):
    order = make_order(points_base_amount="10.00")

    result = sync_order_points_task.delay(
        as_json(order.to_json()),
        {"points_per_currency_unit": "lots", "credit_trigger": "whenever"},
    ).get()

    assert result["earned"] == 10


def test_task_uses_the_credit_trigger_it_was_given(make_order):
    order = make_order(is_fully_paid=False)
    on_created = ChannelSettings.from_configuration(
        {"credit_trigger": CreditTrigger.ORDER_CREATED.value}
    ).as_configuration()

    result = sync_order_points_task.delay(as_json(order.to_json()), on_created).get()

    assert result["earned"] == 100


def test_a_transient_database_error_is_retried(make_order, configuration, monkeypatch):
    real = ledger.sync_order_points
    calls = []

    def connection_dropped_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(*args, **kwargs)

    monkeypatch.setattr(ledger, "sync_order_points", connection_dropped_once)

    # throw=False: let the eager run handle the Retry the way a worker would, by running again.
    result = sync_order_points_task.apply(
        args=(as_json(make_order().to_json()), configuration), throw=False
    )

    assert len(calls) == 2
    assert result.state == "SUCCESS"
    assert result.get()["earned"] == 200
    assert LoyaltyAccount.objects.get().balance == 200


def test_errors_that_a_retry_cannot_fix_are_not_retried(make_order, configuration, monkeypatch):
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise ValueError("a bug, not a hiccup")

    monkeypatch.setattr(ledger, "sync_order_points", broken)

    result = sync_order_points_task.apply(
        args=(as_json(make_order().to_json()), configuration), throw=False
    )

    assert result.state == "FAILURE"
    assert len(calls) == 1


def test_a_malformed_order_payload_fails_without_touching_the_ledger(configuration):
    with pytest.raises(KeyError):
        sync_order_points_task.delay({"order_id": "x"}, configuration).get()

    assert not PointsEntry.objects.exists()


def test_order_json_keeps_decimal_amounts_exact(make_order):
    order = make_order(points_base_amount="0.10", total_amount="0.30", refunded_amount="0.20")

    payload = as_json(order.to_json())

    assert payload["refunded_amount"] == "0.20"
    assert Decimal(payload["total_amount"]) == Decimal("0.30")


def test_the_expiry_sweep_is_scheduled_without_overriding_the_merchants_entry(monkeypatch):
    # Saleor's Celery app exists before Django is ready; the test app is created later, so
    # register on it the way apps.ready() registers on Saleor's.
    merchant_entry = {"task": PERIODIC_TASKS[EXPIRY]["task"], "schedule": 3600}
    monkeypatch.setitem(current_app.conf, "beat_schedule", {"merchant-job": {}})

    register_periodic_tasks()
    register_periodic_tasks()

    schedule = current_app.conf.beat_schedule
    assert schedule[EXPIRY] == PERIODIC_TASKS[EXPIRY]
    assert schedule["merchant-job"] == {}
    assert PERIODIC_TASKS[EXPIRY]["task"] in current_app.tasks

    monkeypatch.setitem(current_app.conf, "beat_schedule", {EXPIRY: merchant_entry})
    register_periodic_tasks()
    assert current_app.conf.beat_schedule[EXPIRY] == merchant_entry


def test_the_claim_lease_heartbeat_is_only_for_real_workers():
    from celery import shared_task

    from saleor_retention_plugin.services.flow_leases import in_celery_worker

    seen: list[bool] = []

    @shared_task(name="tests.integration.test_tasks.probe_worker")
    def probe() -> None:
        seen.append(in_celery_worker())

    probe()  # called directly (a test, a shell, the sandbox)
    probe.apply()  # eagerly (Saleor without a broker)
    probe.delay()  # CELERY_TASK_ALWAYS_EAGER here

    assert seen == [False, False, False]
    assert not in_celery_worker()  # outside any task
