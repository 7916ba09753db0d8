"""Which products are still sold in a channel, and their names, from Saleor's catalogue.

A product is sold when it is published in the channel, available for purchase now (its
``available_for_purchase_at`` is set and past) and has at least one variant listed with a
price there. Imports Saleor; runs in tasks only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Collection
    from datetime import datetime


class SaleorCatalogue:
    """``services.recommendations.ProductCatalogue`` over Saleor's listings."""

    def sold(self, channel: str, product_ids: Collection[str], now: datetime) -> set[str]:
        from saleor.product.models import ProductChannelListing, ProductVariantChannelListing

        ids = [int(product_id) for product_id in product_ids if str(product_id).isdigit()]
        if not ids:
            return set()
        listed = ProductChannelListing.objects.filter(
            channel__slug=channel,
            product_id__in=ids,
            is_published=True,
            available_for_purchase_at__lte=now,
        ).values_list("product_id", flat=True)
        priced = ProductVariantChannelListing.objects.filter(
            channel__slug=channel,
            variant__product_id__in=ids,
            price_amount__isnull=False,
        ).values_list("variant__product_id", flat=True)
        return {str(product_id) for product_id in set(listed) & set(priced)}

    def names(self, channel: str, product_ids: Collection[str]) -> dict[str, str]:
        from saleor.product.models import Product

        ids = [int(product_id) for product_id in product_ids if str(product_id).isdigit()]
        return {
            str(pk): name
            for pk, name in Product.objects.filter(pk__in=ids).values_list("pk", "name")
        }
