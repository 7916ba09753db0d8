"""Saleor voucher codes: points-mall rewards and reminder coupons. Imports Saleor.

Rewards as Saleor voucher codes: the points mall's issuer inside Saleor.

Each redemption gets its own single-use ``Voucher`` with one ``VoucherCode`` and a
``VoucherChannelListing`` for the customer's channel, ending when the reward code expires.
The customer applies it with ``checkoutAddPromoCode``. One voucher per code (rather than
many codes on a shared voucher) lets every code carry its own expiry and value, which a
prize draw's prizes and per-reward validity need.

Codes are bearer codes: Saleor does not bind them to a customer. Saleor marks a
single-use code inactive once an order used it (and does not reactivate it when that
order is cancelled), so "used" is ``not is_active or used > 0``.
"""

from __future__ import annotations

import base64
import binascii
import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ...domain.schedules import DiscountKind
from ...services.codes import IssuedCode, IssuedReward, generate_code
from ...services.errors import RetentionError
from ...services.incentives import CouponRequest, PlainCodeIssuer

if TYPE_CHECKING:
    from datetime import datetime

    from ...models import Redemption, Reward

logger = logging.getLogger(__name__)

VOUCHER_NAME_PREFIX = "Points reward"


class VoucherIssueError(RetentionError):
    """The voucher cannot be created (e.g. the gift product or channel is missing).

    Raised inside the redemption's transaction, so no points are spent.
    """

    code = "reward_unavailable"


class SaleorVoucherIssuer:
    name = "saleor_voucher"

    def issue(
        self,
        reward: Reward,
        redemption: Redemption,
        channel_slug: str,
        expires_at: datetime | None,
        *,
        what: IssuedReward,
    ) -> IssuedCode:
        from saleor.channel.models import Channel

        channel = Channel.objects.filter(slug=channel_slug).first()
        if channel is None:
            raise VoucherIssueError(f"Channel {channel_slug!r} does not exist in Saleor.")
        voucher_type, value_type, value = _voucher_terms(what)
        product = _gift_product(what) if what.kind == "gift_product" else None
        voucher = create_single_use_voucher(
            channel,
            code=generate_code(),
            name=f"{VOUCHER_NAME_PREFIX}: {what.name}",
            voucher_type=voucher_type,
            value_type=value_type,
            value=value,
            end_date=expires_at,
            min_spent_amount=what.min_order_amount,
            gift_product=product,
            private_metadata={
                "saleor.retention.reward_id": str(reward.pk),
                "saleor.retention.account_id": str(redemption.account_id),
            },
        )
        return IssuedCode(
            code=voucher.code,
            issuer=self.name,
            reference=str(voucher.voucher_id),
            expires_at=expires_at,
        )

    def is_used(self, code: str) -> bool:
        from saleor.discount.models import VoucherCode

        row = VoucherCode.objects.filter(code=code).values("used", "is_active").first()
        if row is None:
            return False  # deleted by staff: nothing was bought with it that we can see
        return row["used"] > 0 or not row["is_active"]


class SaleorCouponIssuer:
    """Reminder coupons: one single-use entire-order voucher per outbox message.

    The code is derived from the message's idempotency key (``PlainCodeIssuer``), so a
    retried send finds the voucher made the first time instead of making another.
    """

    def issue(self, request: CouponRequest) -> str:
        from saleor.channel.models import Channel
        from saleor.discount import DiscountValueType, VoucherType
        from saleor.discount.models import VoucherCode

        code = PlainCodeIssuer().issue(request)
        if VoucherCode.objects.filter(code=code).exists():
            return code
        incentive = request.incentive
        create_single_use_voucher(
            Channel.objects.get(slug=request.channel_slug),
            code=code,
            name=f"{request.purpose} ({code})",
            voucher_type=VoucherType.ENTIRE_ORDER,
            value_type=(
                DiscountValueType.PERCENTAGE
                if incentive.kind is DiscountKind.PERCENTAGE
                else DiscountValueType.FIXED
            ),
            value=incentive.value,
            end_date=request.valid_until,
        )
        return code


def create_single_use_voucher(
    channel: Any,
    *,
    code: str,
    name: str,
    voucher_type: str,
    value_type: str,
    value: Decimal,
    end_date: datetime | None,
    min_spent_amount: Decimal | None = None,
    gift_product: Any = None,
    private_metadata: dict[str, str] | None = None,
) -> Any:
    """A ``Voucher`` usable once, listed in ``channel``; returns its one ``VoucherCode``.

    One voucher per code lets each code carry its own expiry and value.
    """
    from django.utils import timezone
    from saleor.discount.models import Voucher, VoucherChannelListing, VoucherCode

    voucher = Voucher.objects.create(
        name=name[:255],
        type=voucher_type,
        discount_value_type=value_type,
        single_use=True,
        usage_limit=1,
        # A gift is one unit of the product, not every unit in the cart.
        apply_once_per_order=gift_product is not None,
        start_date=timezone.now(),
        end_date=end_date,
        private_metadata=private_metadata or {},
    )
    if gift_product is not None:
        voucher.products.add(gift_product)
    VoucherChannelListing.objects.create(
        voucher=voucher,
        channel=channel,
        discount_value=value,
        currency=channel.currency_code,
        min_spent_amount=min_spent_amount,
    )
    return VoucherCode.objects.create(voucher=voucher, code=code)


def _voucher_terms(what: IssuedReward) -> tuple[str, str, Decimal]:
    from saleor.discount import DiscountValueType, VoucherType

    if what.kind == "fixed_discount":
        return VoucherType.ENTIRE_ORDER, DiscountValueType.FIXED, _value(what)
    if what.kind == "percentage_discount":
        return VoucherType.ENTIRE_ORDER, DiscountValueType.PERCENTAGE, _value(what)
    if what.kind == "free_shipping":
        return VoucherType.SHIPPING, DiscountValueType.PERCENTAGE, Decimal(100)
    if what.kind == "gift_product":
        return VoucherType.SPECIFIC_PRODUCT, DiscountValueType.PERCENTAGE, Decimal(100)
    raise VoucherIssueError(f"A {what.kind} reward cannot be a voucher.")


def _value(what: IssuedReward) -> Decimal:
    if what.discount_value is None or what.discount_value <= 0:
        raise VoucherIssueError("A discount reward needs a discount value.")
    return what.discount_value


def _gift_product(what: IssuedReward) -> Any:
    from saleor.product.models import Product

    pk = product_pk(what.gift_product_id)
    product = Product.objects.filter(pk=pk).first() if pk is not None else None
    if product is None:
        raise VoucherIssueError(f"The gift product {what.gift_product_id!r} does not exist.")
    return product


def product_pk(raw: str) -> int | None:
    """A Saleor product id given as its number or as its global id (``Product:72``)."""
    text = (raw or "").strip()
    if text.isdigit():
        return int(text)
    try:
        decoded = base64.b64decode(text + "=" * (-len(text) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    kind, _, number = decoded.partition(":")
    return int(number) if kind == "Product" and number.isdigit() else None


def voucher_code_of_order(order_id: str) -> str | None:
    """The promo code an order used, if any (to mark a reward code as used at once)."""
    from saleor.order.models import Order

    return Order.objects.filter(pk=order_id).values_list("voucher_code", flat=True).first()
