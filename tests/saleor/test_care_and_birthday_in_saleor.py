"""Lifecycle flows inside a real Saleor (issue 10).

Fulfilling an order with Saleor's ``orderFulfill`` starts the post-purchase care clock at
the fulfilment, and a birthday coupon is a real single-use Saleor voucher that a real
checkout accepts once. Everything runs through Saleor's API, its hooks and the plugin's
eager tasks and periodic sweep, as in production without a broker.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from decimal import Decimal

import graphene
import pytest
import time_machine
from django.core import mail
from django.utils import timezone
from saleor.discount.models import VoucherCode
from saleor.graphql.tests.utils import get_graphql_content
from saleor.order.models import Order

from saleor_retention_plugin import tasks
from saleor_retention_plugin.models import (
    BenefitKind,
    CustomerTier,
    FlowEnrolment,
    FlowMessage,
    LoyaltyAccount,
)
from saleor_retention_plugin.services import ledger, tiers
from saleor_retention_plugin.tasks import reconcile_recent_orders_task, sweep_flows_task
from tests.integration.tracked_links import tracked_targets

MESSAGES_AT_ONCE = {
    "holdout_percent": "0",
    "quiet_hours_start": "00:00",
    "quiet_hours_end": "00:00",
    "frequency_cap_hours": "0",
    "public_api_url": "https://api.tea.example",
}

CHECKOUT_COMPLETE = """
    mutation Complete($id: ID!) {
      checkoutComplete(id: $id) {
        order { id number voucherCode total { gross { amount } } }
        errors { field code message }
      }
    }
"""

ORDER_FULFILL = """
    mutation Fulfil($order: ID!, $input: OrderFulfillInput!) {
      orderFulfill(order: $order, input: $input) {
        fulfillments { id status }
        errors { field code message }
      }
    }
"""

CHECKOUT_CREATE = """
    mutation($channel: String!, $variantId: ID!) {
      checkoutCreate(input: {
        channel: $channel, lines: [{quantity: 1, variantId: $variantId}]
      }) {
        errors { field message code }
        checkout { id }
      }
    }
"""

ADD_PROMO_CODE = """
    mutation($id: ID!, $code: String!) {
      checkoutAddPromoCode(id: $id, promoCode: $code) {
        errors { field message code }
        checkout { discount { amount } subtotalPrice { gross { amount } } }
      }
    }
"""


@pytest.fixture
def post(django_capture_on_commit_callbacks):
    """``post_graphql`` that also runs every on-commit callback (hooks, then eager tasks)."""

    def post_graphql(client, query, variables=None, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post_graphql(query, variables, **kwargs)
        return get_graphql_content(response)["data"]

    return post_graphql


@pytest.fixture
def placed_order(user_api_client, customer_user, ready_checkout, post):
    """A signed-in customer's paid checkout, completed through Saleor's API."""

    def place() -> Order:
        checkout = ready_checkout(user=customer_user)
        data = post(
            user_api_client,
            CHECKOUT_COMPLETE,
            {"id": graphene.Node.to_global_id("Checkout", checkout.pk)},
        )["checkoutComplete"]
        assert data["errors"] == []
        return Order.objects.get(number=data["order"]["number"])

    return place


@pytest.fixture
def fulfil(staff_api_client, permission_group_manage_orders, post):
    """Fulfil every line of an order from its allocated stock with ``orderFulfill``."""
    permission_group_manage_orders.user_set.add(staff_api_client.user)

    def fulfil_order(order: Order) -> None:
        lines = [
            {
                "orderLineId": graphene.Node.to_global_id("OrderLine", line.pk),
                "stocks": [
                    {
                        "quantity": line.quantity,
                        "warehouse": graphene.Node.to_global_id(
                            "Warehouse", line.allocations.get().stock.warehouse_id
                        ),
                    }
                ],
            }
            for line in order.lines.all()
        ]
        data = post(
            staff_api_client,
            ORDER_FULFILL,
            {
                "order": graphene.Node.to_global_id("Order", order.pk),
                "input": {"lines": lines, "notifyCustomer": False},
            },
        )["orderFulfill"]
        assert data["errors"] == []

    return fulfil_order


def care_mails(order: Order) -> list:
    return [m for m in mail.outbox if f"How was your order {order.number}?" in m.subject]


def test_fulfilling_an_order_starts_the_care_clock_and_the_day_3_check_goes_out(
    enable_retention_plugin, placed_order, fulfil
):
    enable_retention_plugin(care_enabled="true", **MESSAGES_AT_ONCE)
    # Saleor's fixtures price the goods as of now: the order is placed now, the clock
    # only moves forward from there.
    order = placed_order()
    # Placed and paid: no care yet (counted from the fulfilment).
    assert not FlowEnrolment.objects.filter(flow="care").exists()

    fulfilled_at = timezone.now().replace(microsecond=0) + timedelta(days=1, hours=2)
    with time_machine.travel(fulfilled_at, tick=False):
        fulfil(order)

    order.refresh_from_db()
    assert order.status == "fulfilled"
    fulfilment = order.fulfillments.get()
    enrolment = FlowEnrolment.objects.get(flow="care", subject_key=f"order:{order.pk}")
    assert enrolment.anchor_at == fulfilment.created_at == fulfilled_at
    assert enrolment.customer_id == order.user_id

    with time_machine.travel(fulfilled_at + timedelta(days=3) - timedelta(minutes=1), tick=False):
        sweep_flows_task()
    assert care_mails(order) == []

    with time_machine.travel(fulfilled_at + timedelta(days=3), tick=False):
        sweep_flows_task()
    [check] = care_mails(order)
    assert check.to == [order.user_email]
    message = FlowMessage.objects.get(enrolment=enrolment)
    assert (message.step, message.state, message.sent_at) == (
        1,
        "sent",
        fulfilled_at + timedelta(days=3),
    )
    # The satisfaction check carries its five signed rating links.
    links = message.context["rating_links"]
    assert [link["score"] for link in links] == [1, 2, 3, 4, 5]
    # Through the click redirect (delivery.tracking), each to its own rating page.
    rated = [target for kind, target in tracked_targets(check.body) if kind == "rating"]
    assert rated == [link["url"] for link in links]

    with time_machine.travel(fulfilled_at + timedelta(days=3, hours=6), tick=False):
        sweep_flows_task()
    assert len(care_mails(order)) == 1  # once


def test_a_fulfilment_seen_hours_later_still_counts_from_saleors_fulfilment(
    monkeypatch, enable_retention_plugin, placed_order, fulfil, caplog
):
    enable_retention_plugin(care_enabled="true", **MESSAGES_AT_ONCE)
    order = placed_order()

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    fulfilled_at = timezone.now().replace(microsecond=0) + timedelta(hours=5)
    with monkeypatch.context() as broken, time_machine.travel(fulfilled_at, tick=False):
        # The fulfilment hook's task is lost (the broker is down when Saleor commits).
        broken.setattr(tasks.sync_saleor_order_points_task, "delay", broker_down)
        fulfil(order)
    assert "broker unreachable" in caplog.text
    assert not FlowEnrolment.objects.filter(flow="care").exists()

    # The periodic reconciliation sees the order fulfilled two hours later.
    with time_machine.travel(fulfilled_at + timedelta(hours=2), tick=False):
        reconcile_recent_orders_task()

    enrolment = FlowEnrolment.objects.get(flow="care", subject_key=f"order:{order.pk}")
    assert enrolment.anchor_at == order.fulfillments.get().created_at == fulfilled_at
    assert enrolment.next_check_at == fulfilled_at + timedelta(days=3)


def test_a_birthday_coupon_gives_its_discount_in_a_real_checkout_once(
    enable_retention_plugin,
    channel_USD,
    customer_user,
    user_api_client,
    checkout_with_item,
    ready_checkout,
    product,
    post,
):
    enable_retention_plugin(
        birthday_greetings_enabled="true", birthday_greeting_hour="0", **MESSAGES_AT_ONCE
    )
    ladder = {tier.code: tier for tier in tiers.seed_default_tiers(channel_USD.slug)}
    tiers.create_benefit(
        ladder["gold"].pk, kind=BenefitKind.BIRTHDAY_GIFT, value=300, config={"coupon": "15%"}
    )
    account = ledger.account_for(channel_USD.slug, customer_user.pk, customer_user.email)
    CustomerTier.objects.create(
        account=account,
        channel_slug=channel_USD.slug,
        tier=ladder["gold"],
        achieved_at=account.created_at,
    )
    today = timezone.now().astimezone(UTC).date()
    tiers.set_birthday(customer_user.pk, month=today.month, day=today.day, staff=True)

    sweep_flows_task()

    [greeting] = [m for m in mail.outbox if m.subject.startswith("Happy birthday")]
    assert greeting.to == [customer_user.email]
    code = FlowMessage.objects.get(flow="birthday", customer_id=customer_user.pk).coupon_code
    assert code
    assert f"Your birthday code {code} gives 15% off" in greeting.body
    voucher_code = VoucherCode.objects.select_related("voucher").get(code=code)
    assert voucher_code.voucher.single_use
    assert LoyaltyAccount.objects.get(pk=account.pk).balance == 300  # the gift's points

    # The customer applies the code to a real checkout: 15% off the goods, then pays.
    checkout_id = graphene.Node.to_global_id("Checkout", checkout_with_item.pk)
    applied = post(user_api_client, ADD_PROMO_CODE, {"id": checkout_id, "code": code})[
        "checkoutAddPromoCode"
    ]
    assert applied["errors"] == []
    subtotal = Decimal(str(applied["checkout"]["subtotalPrice"]["gross"]["amount"]))
    discount = Decimal(str(applied["checkout"]["discount"]["amount"]))
    assert discount == ((subtotal + discount) * Decimal("0.15")).quantize(Decimal("0.01"))
    checkout_with_item.refresh_from_db()
    checkout = ready_checkout(user=customer_user)
    completed = post(
        user_api_client,
        CHECKOUT_COMPLETE,
        {"id": graphene.Node.to_global_id("Checkout", checkout.pk)},
    )["checkoutComplete"]
    assert completed["errors"] == []
    assert completed["order"]["voucherCode"] == code
    assert not VoucherCode.objects.get(code=code).is_active  # used up

    # A second checkout cannot use it again.
    created = post(
        user_api_client,
        CHECKOUT_CREATE,
        {
            "channel": channel_USD.slug,
            "variantId": graphene.Node.to_global_id("ProductVariant", product.variants.first().pk),
        },
    )["checkoutCreate"]
    assert created["errors"] == []
    again = post(user_api_client, ADD_PROMO_CODE, {"id": created["checkout"]["id"], "code": code})[
        "checkoutAddPromoCode"
    ]
    assert [error["field"] for error in again["errors"]] == ["promoCode"]
