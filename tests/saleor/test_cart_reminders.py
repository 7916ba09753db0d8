"""Cart reminders inside a real Saleor: a checkout built through Saleor's GraphQL API is
tracked by the hooks, reminded with its lines, link and a real voucher code, and its
series stops when the checkout is completed.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import graphene
import pytest
import time_machine
from django.core import mail
from django.utils import timezone
from saleor.checkout.models import Checkout
from saleor.discount.models import VoucherCode
from saleor.graphql.tests.utils import get_graphql_content
from saleor.product.models import ProductMedia

from saleor_retention_plugin.models import (
    CartState,
    FlowConversion,
    FlowEnrolment,
    FlowMessage,
    TrackedCart,
)
from saleor_retention_plugin.plugin import RetentionPlugin
from saleor_retention_plugin.tasks import sweep_flows_task
from tests.integration.tracked_links import tracked_targets

CHECKOUT_CREATE = """
    mutation($channel: String!, $email: String!, $variantId: ID!) {
      checkoutCreate(input: {
        channel: $channel, email: $email, languageCode: ZH_HANS,
        lines: [{quantity: 1, variantId: $variantId}]
      }) {
        errors { field message code }
        checkout { id token }
      }
    }
"""

LINES_ADD = """
    mutation($id: ID!, $variantId: ID!) {
      checkoutLinesAdd(id: $id, lines: [{quantity: 2, variantId: $variantId}]) {
        errors { field message code }
        checkout { lines { quantity } }
      }
    }
"""

ADD_PROMO_CODE = """
    mutation($id: ID!, $code: String!) {
      checkoutAddPromoCode(id: $id, promoCode: $code) {
        errors { field message code }
        checkout { discount { amount } }
      }
    }
"""

COMPLETE = """
    mutation($id: ID!) {
      checkoutComplete(id: $id) {
        errors { field message code }
        order { id number total { gross { amount } } }
      }
    }
"""


@pytest.fixture
def reminders_on(enable_retention_plugin, channel_USD):
    enable_retention_plugin(
        cart_reminders_enabled="true",
        holdout_percent="0",
        quiet_hours_start="00:00",
        quiet_hours_end="00:00",
        frequency_cap_hours="0",
        public_api_url="https://api.tea.example",
        checkout_url_template="https://tea.example/checkout?token={token}",
    )
    return channel_USD


def pay_and_ship(checkout, address, shipping_method, payment_dummy):
    """Addresses, shipping and a dummy payment covering the total, as a storefront would."""
    from saleor.checkout.fetch import fetch_checkout_info, fetch_checkout_lines
    from saleor.plugins.manager import get_plugins_manager

    from saleor_retention_plugin.integrations.saleor.compat import (
        assign_checkout_shipping,
        checkout_total_with_gift_cards,
    )

    checkout.shipping_address = address
    checkout.billing_address = address.get_copy()
    checkout.save()
    assign_checkout_shipping(checkout, shipping_method)
    manager = get_plugins_manager(allow_replica=False)
    lines, _ = fetch_checkout_lines(checkout)
    info = fetch_checkout_info(checkout, lines, manager)
    total = checkout_total_with_gift_cards(manager, info, lines, address)
    payment_dummy.is_active = True
    payment_dummy.order = None
    payment_dummy.total = total.gross.amount
    payment_dummy.currency = total.gross.currency
    payment_dummy.checkout = checkout
    payment_dummy.save()


def test_a_checkout_is_reminded_with_its_lines_and_a_voucher_then_stops_once_completed(
    reminders_on,
    api_client,
    product,
    product_with_two_variants,
    address,
    shipping_method,
    payment_dummy,
    django_capture_on_commit_callbacks,
):
    variant = product.variants.first()
    second_variant = product_with_two_variants.variants.first()
    image_url = "https://cdn.tea.example/longjing.jpg"
    ProductMedia.objects.create(product=product, external_url=image_url, alt="Longjing")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        created = get_graphql_content(
            api_client.post_graphql(
                CHECKOUT_CREATE,
                {
                    "channel": reminders_on.slug,
                    "email": "Ann@Example.com",
                    "variantId": graphene.Node.to_global_id("ProductVariant", variant.pk),
                },
            )
        )["data"]["checkoutCreate"]
        assert created["errors"] == []
        checkout_id, token = created["checkout"]["id"], created["checkout"]["token"]
    with time_machine.travel(start + timedelta(minutes=10), tick=False):
        added = get_graphql_content(
            api_client.post_graphql(
                LINES_ADD,
                {
                    "id": checkout_id,
                    "variantId": graphene.Node.to_global_id("ProductVariant", second_variant.pk),
                },
            )
        )["data"]["checkoutLinesAdd"]
        assert added["errors"] == []

    cart = TrackedCart.objects.get(checkout_token=token)
    assert (cart.channel_slug, cart.email, cart.language_code) == (
        reminders_on.slug,
        "ann@example.com",
        "zh-hans",
    )
    assert cart.last_activity_at == start + timedelta(minutes=10)
    # No holdout in this channel (holdout_percent 0): a held-out cart is never reminded.
    assert not FlowEnrolment.objects.get(flow="cart", subject_key=f"cart:{token}").is_holdout

    # Still active 65 minutes after creation: the lines were added 55 minutes ago.
    with time_machine.travel(start + timedelta(minutes=65), tick=False):
        sweep_flows_task()
    assert mail.outbox == []

    with time_machine.travel(start + timedelta(minutes=71), tick=False):
        sweep_flows_task()
    [first] = mail.outbox
    assert first.to == ["ann@example.com"]
    assert variant.product.name in first.body
    assert second_variant.product.name in first.body
    checkout = f"https://tea.example/checkout?token={token}"
    assert ("checkout", checkout) in tracked_targets(first.body)  # through the click redirect
    reminder = FlowMessage.objects.get(subject_key=token, step=1)
    assert [line["quantity"] for line in reminder.context["lines"]] == [1, 2]
    assert reminder.context["currency"] == reminders_on.currency_code
    # Each line at the channel's current price, with its product image where it has one.
    prices = [
        v.channel_listings.get(channel=reminders_on).price_amount for v in (variant, second_variant)
    ]
    assert [Decimal(line["unit_price"]) for line in reminder.context["lines"]] == prices
    assert Decimal(reminder.context["total"]) == prices[0] + 2 * prices[1]
    assert [line["image_url"] for line in reminder.context["lines"]] == [image_url, None]
    html = next(body for body, kind in first.alternatives if kind == "text/html")
    assert f'<img src="{image_url}"' in html
    for price in prices:
        assert f"{price:.2f}" in first.body

    with time_machine.travel(start + timedelta(hours=24, minutes=11), tick=False):
        sweep_flows_task()
    second = mail.outbox[1]
    coupon = FlowMessage.objects.get(subject_key=token, step=2).coupon_code
    assert coupon in second.body
    voucher_code = VoucherCode.objects.get(code=coupon)
    assert voucher_code.voucher.single_use
    # The coupon is a real Saleor voucher the customer can apply to this very checkout.
    with time_machine.travel(start + timedelta(hours=25), tick=False):
        applied = get_graphql_content(
            api_client.post_graphql(ADD_PROMO_CODE, {"id": checkout_id, "code": coupon})
        )["data"]["checkoutAddPromoCode"]
    assert applied["errors"] == []
    assert applied["checkout"]["discount"]["amount"] > 0

    with time_machine.travel(start + timedelta(hours=30), tick=False):
        pay_and_ship(Checkout.objects.get(token=token), address, shipping_method, payment_dummy)
        with django_capture_on_commit_callbacks(execute=True):
            completed = get_graphql_content(api_client.post_graphql(COMPLETE, {"id": checkout_id}))
        result = completed["data"]["checkoutComplete"]
        assert result["errors"] == []

    cart.refresh_from_db()
    assert cart.state == CartState.CONVERTED
    recovery = FlowConversion.objects.get(enrolment__subject_key=f"cart:{cart.checkout_token}")
    assert recovery.step == 2
    assert float(recovery.revenue) == result["order"]["total"]["gross"]["amount"]

    with time_machine.travel(start + timedelta(hours=80), tick=False):
        sweep_flows_task()
    assert len(mail.outbox) == 2
    assert not FlowMessage.objects.filter(subject_key=token, step=3).exists()


def test_checkout_hooks_cost_a_fixed_five_queries(
    reminders_on, checkout, django_assert_num_queries
):
    plugin = RetentionPlugin(configuration=[], active=True, channel=reminders_on)
    checkout.user = None
    checkout.email = "guest@example.com"
    # SAVEPOINT, a short lock timeout, the upsert, the caller's timeout back, RELEASE: the
    # same for a new cart and a known one.
    with django_assert_num_queries(5):
        plugin.checkout_created(checkout, previous_value=None)
    with django_assert_num_queries(5):
        plugin.checkout_updated(checkout, previous_value=None)
    assert TrackedCart.objects.filter(checkout_token=checkout.token).exists()


def test_a_signed_in_checkout_update_adds_only_the_user_and_guest_points_lookups(
    reminders_on, checkout, customer_user, django_assert_num_queries
):
    plugin = RetentionPlugin(configuration=[], active=True, channel=reminders_on)
    checkout.user = customer_user
    checkout.email = customer_user.email
    checkout.save(update_fields=["user", "email"])
    # Saleor had the user loaded (checkoutCustomerAttach): the five statements of the cart
    # upsert, and one indexed lookup of guest points under the user's email.
    with django_assert_num_queries(6):
        plugin.checkout_updated(checkout, previous_value=None)
    # Loaded without its user: one more query to read the user's own email.
    fresh = Checkout.objects.get(pk=checkout.pk)
    with django_assert_num_queries(7):
        plugin.checkout_updated(fresh, previous_value=None)


def test_a_hook_that_fails_leaves_saleors_transaction_usable(reminders_on, checkout):
    from django.db import transaction

    plugin = RetentionPlugin(configuration=[], active=True, channel=reminders_on)
    checkout.email = "x" * 300 + "@example.com"  # longer than the column: the upsert fails
    with transaction.atomic():
        assert plugin.checkout_updated(checkout, previous_value="kept") == "kept"
        assert Checkout.objects.filter(pk=checkout.pk).exists()  # the transaction still works
