"""Coupons as Saleor vouchers. Imports Saleor: runs only inside a Saleor process."""

from __future__ import annotations

from ...domain.schedules import DiscountKind
from ...services.incentives import CouponRequest, PlainCodeIssuer


class SaleorVoucherIssuer:
    """One single-use entire-order voucher per request, with one code.

    The code is derived from the idempotency key (``PlainCodeIssuer``), so asking again
    for the same key finds the voucher made the first time instead of making another.
    """

    def issue(self, request: CouponRequest) -> str:
        from saleor.channel.models import Channel
        from saleor.discount import DiscountValueType, VoucherType
        from saleor.discount.models import Voucher, VoucherChannelListing, VoucherCode

        code = PlainCodeIssuer().issue(request)
        if VoucherCode.objects.filter(code=code).exists():
            return code
        channel = Channel.objects.get(slug=request.channel_slug)
        incentive = request.incentive
        voucher = Voucher.objects.create(
            name=f"{request.purpose} ({code})",
            type=VoucherType.ENTIRE_ORDER,
            discount_value_type=(
                DiscountValueType.PERCENTAGE
                if incentive.kind is DiscountKind.PERCENTAGE
                else DiscountValueType.FIXED
            ),
            single_use=True,
            usage_limit=1,
            end_date=request.valid_until,
        )
        VoucherChannelListing.objects.create(
            voucher=voucher,
            channel=channel,
            discount_value=incentive.value,
            currency=channel.currency_code,
        )
        VoucherCode.objects.create(voucher=voucher, code=code)
        return code
