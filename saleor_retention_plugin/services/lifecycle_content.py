"""The template context of replenishment and win-back messages, with recommendations.

What a flow's ``compose`` hands the outbox (``Ready(context=...)``) for the templates under
``templates/saleor_retention_plugin/messages/replenishment/`` and ``.../winback/``. Both
build on the ``data`` of a ``DueSubject`` (``services.replenishment`` /
``services.winback``), add product links from the channel's ``product_url_template``,
product names from the ``ProductCatalogue`` seam and a "customers who bought this also
bought" block from ``services.recommendations``. Everything returned is JSON-native.

The engine adds ``coupon_code`` when it mints the step's coupon (a single-use voucher for
the ``discount`` here); the templates show the code when there is one, else the offer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import recommendations

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping
    from datetime import datetime

    from ..conf import ChannelSettings
    from .recommendations import ProductCatalogue

RECOMMENDATIONS_SHOWN = 3


def storefront_url(settings: ChannelSettings) -> str:
    """The scheme and host of the channel's product link, or "" without one."""
    template = settings.replenishment.product_url_template
    if not template:
        return ""
    parts = urlsplit(template.format(product_id="0"))
    return f"{parts.scheme}://{parts.netloc}"


def product_cards(
    channel: str,
    product_ids: Collection[str],
    settings: ChannelSettings,
    catalogue: ProductCatalogue,
) -> list[dict[str, str]]:
    """``[{"product_id", "name", "url"}]`` in the order given; names from the catalogue."""
    names = catalogue.names(channel, product_ids)
    template = settings.replenishment.product_url_template
    return [
        {
            "product_id": product_id,
            "name": names.get(product_id, ""),
            "url": template.format(product_id=product_id) if template else "",
        }
        for product_id in product_ids
    ]


def recommendation_cards(
    channel: str,
    customer_key: str | None,
    settings: ChannelSettings,
    catalogue: ProductCatalogue,
    now: datetime,
    *,
    seed_products: Collection[str] = (),
) -> list[dict[str, str]]:
    """Up to ``RECOMMENDATIONS_SHOWN`` cards of products paired with the seeds."""
    picked = recommendations.recommend_for(
        channel,
        customer_key,
        limit=RECOMMENDATIONS_SHOWN,
        exclude_days=settings.recommendations.recommendations_exclude_days,
        availability=catalogue,
        seed_products=seed_products,
        now=now,
    )
    return product_cards(channel, [pick.product_id for pick in picked], settings, catalogue)


def replenishment_context(
    channel: str,
    customer_key: str,
    data: Mapping[str, Any],
    settings: ChannelSettings,
    catalogue: ProductCatalogue,
    now: datetime,
) -> dict[str, Any]:
    """Context of a replenishment reminder: ``product`` (card) and ``recommendations``."""
    product_id = str(data["product_id"])
    [product] = product_cards(channel, [product_id], settings, catalogue)
    return {
        "product": product,
        "product_url": product["url"],
        "last_quantity": data.get("last_quantity"),
        "recommendations": recommendation_cards(
            channel, customer_key, settings, catalogue, now, seed_products=[product_id]
        ),
    }


def winback_context(
    channel: str,
    customer_key: str,
    step: int,
    data: Mapping[str, Any],
    settings: ChannelSettings,
    catalogue: ProductCatalogue,
    now: datetime,
    *,
    currency: str = "",
) -> dict[str, Any]:
    """Context of win-back step ``step`` (1-based): the offer and ``recommendations``.

    ``incentive`` is perk / discount / none for this customer at this step
    (``domain.winback.incentive_for``, from ``data``'s segment flags); ``discount`` is
    ``"15%"`` or a fixed amount in ``currency``; ``last_step`` says whether this is the
    series' last message; ``shop_url`` is the storefront (the product link's origin).
    """
    from ..domain.winback import incentive_for

    policy = settings.winback.policy
    offer = incentive_for(
        step - 1,
        high_value=bool(data.get("high_value")),
        price_sensitive=bool(data.get("price_sensitive")),
        policy=policy,
    )
    return {
        "incentive": offer.kind.value,
        "discount": offer.discount,
        "perk": offer.perk,
        "currency": currency,
        "step": step,
        "last_step": step >= len(policy.steps),
        "shop_url": storefront_url(settings),
        "recommendations": recommendation_cards(channel, customer_key, settings, catalogue, now),
    }
