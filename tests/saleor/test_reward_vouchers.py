"""Points-mall rewards become real Saleor voucher codes that a real checkout accepts."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from saleor.discount.models import Voucher, VoucherCode
from saleor.graphql.core.utils import to_global_id_or_none
from saleor.graphql.tests.utils import get_graphql_content
from saleor.order.models import Order

from saleor_retention_plugin.conf import LedgerSettings
from saleor_retention_plugin.integrations.saleor.vouchers import SaleorVoucherIssuer
from saleor_retention_plugin.models import CustomerTier, PointsEntry, Redemption
from saleor_retention_plugin.services import ledger, mall
from saleor_retention_plugin.services.codes import default_code_issuer

ADD_PROMO_CODE = """
    mutation($id: ID, $promoCode: String!) {
        checkoutAddPromoCode(id: $id, promoCode: $promoCode) {
            errors { field message code }
            checkout {
                voucherCode
                discount { amount currency }
                subtotalPrice { gross { amount } }
                totalPrice { gross { amount } }
            }
        }
    }
"""


@pytest.fixture
def customer_account(customer_user, channel_USD):
    account = ledger.account_for(channel_USD.slug, customer_user.pk, customer_user.email)
    ledger.adjust_points(
        account.pk,
        2000,
        reason="welcome",
        actor="user:1",
        idempotency_key=f"welcome:{account.pk}",
        settings=LedgerSettings(),
    )
    account.refresh_from_db()
    return account


def apply_code(client, checkout, code):
    response = client.post_graphql(
        ADD_PROMO_CODE, {"id": to_global_id_or_none(checkout), "promoCode": code}
    )
    return get_graphql_content(response)["data"]["checkoutAddPromoCode"]


def subtotal_of(checkout_with_item):
    line = checkout_with_item.lines.select_related("variant").first()
    listing = line.variant.channel_listings.get(channel=checkout_with_item.channel)
    return listing.price_amount * line.quantity, listing.price_amount


def test_inside_saleor_the_mall_issues_saleor_vouchers():
    assert isinstance(default_code_issuer(), SaleorVoucherIssuer)


def test_a_redeemed_fixed_discount_applies_to_a_real_checkout(
    api_client, checkout_with_item, customer_account, channel_USD
):
    reward = mall.create_reward(
        channel_USD.slug,
        kind="fixed_discount",
        name={"en": "5 USD off", "zh-Hans": "立减 5 美元"},
        points_cost=500,
        discount_value="5",
    )
    redemption = mall.redeem_reward(customer_account, reward.pk, "redeem-1")

    assert redemption.issuer == "saleor_voucher"
    code = VoucherCode.objects.select_related("voucher").get(code=redemption.code)
    voucher = code.voucher
    assert voucher.single_use
    assert voucher.end_date == redemption.expires_at
    assert voucher.channel_listings.get().channel == channel_USD
    customer_account.refresh_from_db()
    assert customer_account.balance == 1500

    subtotal, _ = subtotal_of(checkout_with_item)
    result = apply_code(api_client, checkout_with_item, redemption.code)

    assert result["errors"] == []
    assert result["checkout"]["voucherCode"] == redemption.code
    assert Decimal(str(result["checkout"]["discount"]["amount"])) == Decimal(5)
    assert Decimal(str(result["checkout"]["subtotalPrice"]["gross"]["amount"])) == subtotal - 5


def test_a_percentage_reward_takes_its_share_off(
    api_client, checkout_with_item, customer_account, channel_USD
):
    reward = mall.create_reward(
        channel_USD.slug,
        kind="percentage_discount",
        name={"en": "10% off"},
        points_cost=300,
        discount_value="10",
    )
    redemption = mall.redeem_reward(customer_account, reward.pk, "redeem-pct")
    subtotal, _ = subtotal_of(checkout_with_item)
    result = apply_code(api_client, checkout_with_item, redemption.code)
    assert result["errors"] == []
    assert Decimal(str(result["checkout"]["discount"]["amount"])) == (subtotal / 10).quantize(
        Decimal("0.01")
    )


def test_a_gift_product_reward_makes_one_unit_free(
    api_client, checkout_with_item, customer_account, channel_USD
):
    product = checkout_with_item.lines.first().variant.product
    reward = mall.create_reward(
        channel_USD.slug,
        kind="gift_product",
        name={"en": "A free one"},
        points_cost=800,
        gift_product_id=to_global_id_or_none(product),
    )
    redemption = mall.redeem_reward(customer_account, reward.pk, "redeem-gift")
    _, unit_price = subtotal_of(checkout_with_item)
    result = apply_code(api_client, checkout_with_item, redemption.code)
    assert result["errors"] == []
    assert Decimal(str(result["checkout"]["discount"]["amount"])) == unit_price


def test_an_expired_reward_code_is_refused_by_saleor(
    api_client, checkout_with_item, customer_account, channel_USD
):
    reward = mall.create_reward(
        channel_USD.slug, kind="fixed_discount", name="5 off", points_cost=100, discount_value="5"
    )
    redemption = mall.redeem_reward(customer_account, reward.pk, "redeem-old")
    Voucher.objects.filter(codes__code=redemption.code).update(
        end_date=timezone.now() - timedelta(minutes=1)
    )
    result = apply_code(api_client, checkout_with_item, redemption.code)
    assert result["errors"]
    assert result["errors"][0]["field"] == "promoCode"


def test_a_missing_gift_product_spends_no_points(customer_account, channel_USD):
    reward = mall.create_reward(
        channel_USD.slug,
        kind="gift_product",
        name="Gone",
        points_cost=100,
        gift_product_id="UHJvZHVjdDo5OTk5OTk=",  # Product:999999
    )
    with pytest.raises(mall.RetentionError, match="does not exist"):
        mall.redeem_reward(customer_account, reward.pk, "redeem-gone")
    customer_account.refresh_from_db()
    assert customer_account.balance == 2000
    assert not Redemption.objects.exists()
    assert not Voucher.objects.exists()


def test_a_used_code_is_never_refunded_and_an_unused_one_is(customer_account, channel_USD):
    from saleor.discount.utils.voucher import increase_voucher_usage

    reward = mall.create_reward(
        channel_USD.slug, kind="fixed_discount", name="5 off", points_cost=500, discount_value="5"
    )
    used = mall.redeem_reward(customer_account, reward.pk, "used")
    unused = mall.redeem_reward(customer_account, reward.pk, "unused")
    code = VoucherCode.objects.select_related("voucher").get(code=used.code)
    # What Saleor does when an order is placed with the code.
    increase_voucher_usage(code.voucher, code, "customer@example.com")

    report = mall.expire_unused_codes(now=timezone.now() + timedelta(days=31))

    assert (report.found_used, report.refunded) == (1, 1)
    used.refresh_from_db()
    unused.refresh_from_db()
    assert used.status == Redemption.Status.USED
    assert unused.status == Redemption.Status.REFUNDED
    customer_account.refresh_from_db()
    assert customer_account.balance == 1500


COMPLETE_CHECKOUT = """
    mutation($id: ID) {
        checkoutComplete(id: $id) {
            order { id voucherCode total { gross { amount } } }
            errors { field code message }
        }
    }
"""


def test_an_order_placed_with_a_reward_code_marks_the_redemption_used(
    user_api_client,
    checkout_with_item,
    ready_checkout,
    enable_retention_plugin,
    customer_user,
    customer_account,
    channel_USD,
    django_capture_on_commit_callbacks,
):
    enable_retention_plugin()
    reward = mall.create_reward(
        channel_USD.slug, kind="fixed_discount", name="5 off", points_cost=500, discount_value="5"
    )
    redemption = mall.redeem_reward(customer_account, reward.pk, "to-use")
    assert apply_code(user_api_client, checkout_with_item, redemption.code)["errors"] == []
    checkout_with_item.refresh_from_db()
    checkout = ready_checkout(user=customer_user)

    # Saleor's post_graphql flushes on-commit callbacks, but not the ones our hooks
    # register while those run; capturing runs the whole chain, as a real commit would.
    with django_capture_on_commit_callbacks(execute=True):
        response = user_api_client.post_graphql(
            COMPLETE_CHECKOUT, {"id": to_global_id_or_none(checkout)}
        )

    result = get_graphql_content(response)["data"]["checkoutComplete"]
    assert result["errors"] == []
    assert result["order"]["voucherCode"] == redemption.code
    redemption.refresh_from_db()
    assert redemption.status == Redemption.Status.USED
    assert not VoucherCode.objects.get(code=redemption.code).is_active  # single use
    # The same order earned points (at the tier's multiplier) and gave the customer a tier.
    order_id = Order.objects.get(voucher_code=redemption.code).pk
    assert PointsEntry.objects.filter(order_id=str(order_id), kind="earn").exists()
    assert CustomerTier.objects.get(account=customer_account).tier.code == "member"
    # An expiry run later never gives these points back.
    report = mall.expire_unused_codes(now=timezone.now() + timedelta(days=31))
    assert report.refunded == 0
