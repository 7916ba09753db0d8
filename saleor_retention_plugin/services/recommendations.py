"""Co-purchase recommendations: "customers who bought this also bought".

``refresh_co_purchases(channel, min_support)`` (a periodic task, daily) rebuilds the
channel's ``models.CoPurchasePair`` rows with one ``INSERT ... SELECT`` over the purchase
history's lines of the last ``LOOKBACK_DAYS`` (each order's distinct products joined with
themselves), keeping pairs bought together in at least ``min_support`` orders; no order
is loaded into Python. The same statement runs on PostgreSQL and SQLite.

``recommend_for(channel, customer_key, ...)`` ranks the products paired with what the
customer bought (or with ``seed_products``) by summed confidence, leaves out what they
bought in the last ``exclude_days`` and what is no longer sold. Whether a product is sold
is the ``ProductCatalogue`` seam: by default a product with a counted order line in
the channel in the last ``RECENT_DAYS`` (``RecentlySold``); inside Saleor,
``integrations.saleor.catalogue.SaleorCatalogue`` reads product channel listings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from django.db import connection, transaction
from django.db.models import Max, Sum
from django.utils import timezone

from .. import app_settings
from ..models import CoPurchasePair, PurchasedLine, PurchasedOrder

if TYPE_CHECKING:
    from collections.abc import Collection

LOOKBACK_DAYS = 365
RECENT_DAYS = 180
PAIRS = CoPurchasePair._meta.db_table
ORDERS = PurchasedOrder._meta.db_table
LINES = PurchasedLine._meta.db_table


class ProductCatalogue(Protocol):
    """What messages need to know of the shop's products (the ``PRODUCT_CATALOGUE`` seam)."""

    def sold(self, channel: str, product_ids: Collection[str], now: datetime) -> set[str]:
        """The ids among ``product_ids`` still sold in ``channel`` at ``now``."""
        ...

    def names(self, channel: str, product_ids: Collection[str]) -> dict[str, str]:
        """Display names by id; an id left out has no known name (templates say "it")."""
        ...


class RecentlySold:
    """A product is sold when a counted order line of the channel holds it recently.

    The purchase history keeps no product names, so ``names`` knows none.
    """

    def __init__(self, days: int = RECENT_DAYS) -> None:
        self.days = days

    def sold(self, channel: str, product_ids: Collection[str], now: datetime) -> set[str]:
        # One indexed EXISTS per product (stops at its first recent line), so the cost
        # follows the products asked about, not how often they sold.
        recent = PurchasedLine.objects.filter(
            order__channel_slug=channel,
            order__counts=True,
            order__placed_at__gt=now - timedelta(days=self.days),
        )
        return {
            product_id
            for product_id in set(product_ids)
            if recent.filter(product_id=product_id).exists()
        }

    def names(self, channel: str, product_ids: Collection[str]) -> dict[str, str]:
        return {}


def product_catalogue() -> ProductCatalogue:
    """The ``RETENTION_PRODUCT_CATALOGUE`` seam, instantiated (see ``app_settings``)."""
    availability: ProductCatalogue = app_settings.product_catalogue_class()
    return availability


@dataclass(frozen=True)
class PairRefresh:
    channel: str
    pairs: int


_REFRESH = f"""
    WITH basket AS (
        SELECT DISTINCT l.order_id AS basket_id, l.product_id AS product
        FROM {LINES} l JOIN {ORDERS} o ON o.id = l.order_id
        WHERE o.channel_slug = %s AND o.counts AND o.net_goods_amount > 0
          AND o.placed_at > %s AND o.placed_at <= %s AND l.product_id IS NOT NULL
    ),
    baskets AS (SELECT count(DISTINCT basket_id) AS n FROM basket),
    single AS (SELECT product, count(*) AS n FROM basket GROUP BY product),
    pair AS (
        SELECT a.product AS product_a, b.product AS product_b, count(*) AS support
        FROM basket a JOIN basket b ON a.basket_id = b.basket_id AND a.product <> b.product
        GROUP BY a.product, b.product HAVING count(*) >= %s
    )
    INSERT INTO {PAIRS} (channel_slug, product_a, product_b, support, confidence, lift,
                         computed_at)
    SELECT %s, pair.product_a, pair.product_b, pair.support,
           1.0 * pair.support / sa.n,
           (1.0 * pair.support / sa.n) / (1.0 * sb.n / baskets.n),
           %s
    FROM pair
    JOIN single sa ON sa.product = pair.product_a
    JOIN single sb ON sb.product = pair.product_b
    CROSS JOIN baskets
"""


def refresh_co_purchases(
    channel: str, min_support: int, *, now: datetime | None = None
) -> PairRefresh:
    """Rebuild the channel's co-purchase pairs from the last ``LOOKBACK_DAYS`` of orders.

    Raises ``ValueError`` for ``min_support`` below 1 (nothing changed). Readers see the
    old pairs or the new ones, never a mix (one transaction).
    """
    if min_support < 1:
        raise ValueError("min_support must be at least 1.")
    now = now or timezone.now()
    with transaction.atomic():
        CoPurchasePair.objects.filter(channel_slug=channel).delete()
        with connection.cursor() as cursor:
            cursor.execute(
                _REFRESH,
                [channel, now - timedelta(days=LOOKBACK_DAYS), now, min_support, channel, now],
            )
    return PairRefresh(channel, CoPurchasePair.objects.filter(channel_slug=channel).count())


@dataclass(frozen=True)
class Recommendation:
    product_id: str
    score: float  # summed confidence over the products it is paired with
    support: int  # the largest support among those pairs


def recommend_for(
    channel: str,
    customer_key: str | None,
    *,
    limit: int = 3,
    exclude_days: int = 90,
    availability: ProductCatalogue,
    seed_products: Collection[str] = (),
    now: datetime | None = None,
) -> list[Recommendation]:
    """Up to ``limit`` products to show the customer, best first.

    Seeds: ``seed_products`` when given (a replenishment reminder's product), else every
    product the customer bought in the channel. Never recommends a given seed, a product
    the customer bought within ``exclude_days`` or a product ``availability`` says is not
    sold. One indexed query over the pairs of the seeds; the best ``4 * limit`` are
    checked for availability, so fewer than ``limit`` can come back when most are gone.
    """
    now = now or timezone.now()
    bought = (
        dict(
            PurchasedLine.objects.filter(
                order__channel_slug=channel,
                order__customer_key=customer_key,
                order__counts=True,
                product_id__isnull=False,
            )
            .values_list("product_id")
            .annotate(last=Max("order__placed_at"))
            .order_by()
        )
        if customer_key
        else {}
    )
    seeds = set(seed_products) or set(bought)
    if not seeds:
        return []
    cutoff = now - timedelta(days=exclude_days)
    # An old purchase may come back as another product's partner; a recent one never.
    excluded = set(seed_products) | {product for product, last in bought.items() if last >= cutoff}
    ranked = list(
        CoPurchasePair.objects.filter(channel_slug=channel, product_a__in=seeds)
        .exclude(product_b__in=excluded)
        .values("product_b")
        .annotate(score=Sum("confidence"), best_support=Max("support"))
        .order_by("-score", "-best_support", "product_b")[: limit * 4]
    )
    sold = availability.sold(channel, {row["product_b"] for row in ranked}, now)
    return [
        Recommendation(row["product_b"], float(row["score"]), int(row["best_support"]))
        for row in ranked
        if row["product_b"] in sold
    ][:limit]
