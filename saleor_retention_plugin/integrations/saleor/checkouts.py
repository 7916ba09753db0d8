"""Saleor checkout -> CartContents, and "did the customer order?". Imports Saleor.

Runs in Celery tasks only: the checkout hooks never read lines or prices. Prices are
the variant's current channel price (discounted by catalogue promotions when Saleor has
computed one); a line without a variant or a channel listing any more is left out.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.resources
import logging
import zoneinfo
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from ...domain.carts import CartContents, CartLine

if TYPE_CHECKING:
    from datetime import datetime

logger = logging.getLogger(__name__)


def load_cart_contents(checkout_token: str) -> CartContents | None:
    from saleor.checkout.models import Checkout
    from saleor.product.models import ProductVariantChannelListing

    checkout = (
        Checkout.objects.select_related("channel", "user", "shipping_address", "billing_address")
        .filter(token=checkout_token)
        .first()
    )
    if checkout is None:
        return None
    lines = list(
        checkout.lines.select_related("variant__product").prefetch_related(
            "variant__product__media", "variant__media"
        )
    )
    listings = {
        listing.variant_id: listing
        for listing in ProductVariantChannelListing.objects.filter(
            channel_id=checkout.channel_id,
            variant_id__in=[line.variant_id for line in lines if line.variant_id],
        )
    }
    cart_lines = []
    for line in lines:
        variant = line.variant
        listing = listings.get(line.variant_id)
        if variant is None or listing is None or listing.price_amount is None:
            continue  # deleted variant, or no longer sold in this channel
        unit_price = (
            line.price_override
            if line.price_override is not None
            else (listing.discounted_price_amount or listing.price_amount)
        )
        cart_lines.append(
            CartLine(
                product_name=variant.product.name,
                variant_name=variant.name or "",
                sku=variant.sku,
                quantity=line.quantity,
                unit_price=Decimal(unit_price),
                currency=checkout.currency,
                image_url=_image_url(variant),
            )
        )
    address = checkout.shipping_address or checkout.billing_address
    return CartContents(
        currency=checkout.currency,
        lines=tuple(cart_lines),
        email=checkout.email or (checkout.user.email if checkout.user else None),
        customer_id=checkout.user_id,
        timezone=_single_timezone(address.country.code if address and address.country else None),
    )


def customer_ordered_since(
    channel_slug: str, customer_id: int | None, email: str | None, since: datetime
) -> bool:
    from django.db.models import Q
    from saleor.order.models import Order

    who = Q(pk__in=[])
    if customer_id is not None:
        who |= Q(user_id=customer_id)
    if email:
        who |= Q(user_email__iexact=email)
    return (
        Order.objects.non_draft()
        .filter(who, channel__slug=channel_slug, created_at__gt=since)
        .exists()
    )


def _image_url(variant: object) -> str | None:
    from saleor.core.utils import build_absolute_uri

    media = list(variant.media.all()) or list(variant.product.media.all())  # type: ignore[attr-defined]
    for item in media:
        if item.image:
            return build_absolute_uri(item.image.url)
        if item.external_url:
            return item.external_url
    return None


def _single_timezone(country_code: str | None) -> str | None:
    """The customer's zone when their country has only one (CN, DE, FR...), else None."""
    if not country_code:
        return None
    zones = _country_zones().get(country_code.upper(), [])
    if len(zones) == 1:
        return zones[0]
    if country_code.upper() == "CN":
        return "Asia/Shanghai"  # China keeps one civil time; Urumqi is listed for history
    return None


@functools.cache
def _country_zones() -> dict[str, list[str]]:
    """ISO 3166 country code -> its IANA zones, from the tz database's ``zone.tab``.

    Read from the system's zoneinfo or the ``tzdata`` package (Saleor 3.23 no longer
    ships pytz, which 3.20 did). Empty when neither is there: no zone is then guessed.
    """
    sources = [Path(directory) / "zone.tab" for directory in zoneinfo.TZPATH]
    with contextlib.suppress(ModuleNotFoundError):
        sources.append(Path(str(importlib.resources.files("tzdata.zoneinfo") / "zone.tab")))
    for source in sources:
        if source.is_file():
            zones: dict[str, list[str]] = {}
            for line in source.read_text(encoding="utf-8").splitlines():
                if line and not line.startswith("#"):
                    country, _coordinates, zone, *_ = line.split("\t")
                    zones.setdefault(country, []).append(zone)
            return zones
    logger.warning("No zone.tab found (system zoneinfo or tzdata): customer time zones unknown")
    return {}
