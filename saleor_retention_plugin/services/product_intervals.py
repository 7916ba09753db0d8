"""Replenishment's product medians: each product's usual repurchase interval, kept.

``models.ProductInterval`` holds, per channel and product, the median of the gaps (at
least ``domain.replenishment.MIN_INTERVAL_DAYS``) between successive counted orders of
the product by the same customer, across customers, when it rests on at least
``MIN_PRODUCT_OBSERVATIONS`` gaps. ``services.replenishment`` plans with it; its full
rebuild recomputes every product's, on PostgreSQL in SQL (``medians_in_sql``), elsewhere
from the lines the rebuild loaded for its plan (``store_medians``), and the incremental
refreshes in between read them (docs/lifecycle.md, "Kept due rows").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import connection

from ..domain import replenishment as rules
from ..models import ProductInterval, PurchasedLine, PurchasedOrder

if TYPE_CHECKING:
    from datetime import datetime

ORDERS = PurchasedOrder._meta.db_table
MEDIANS = ProductInterval._meta.db_table
LINES = PurchasedLine._meta.db_table

# A purchase of the history the flows may act on (``o`` is the order).
COUNTED = (
    "o.counts AND o.net_goods_amount > 0 AND o.customer_key NOT LIKE 'anonymised:%%' "
    "AND l.product_id IS NOT NULL"
)

# One row per order and product (lines of one product summed), then the gaps between a
# customer's successive orders of the product.
PER_ORDER = f"""
    per_order AS (
        SELECT o.customer_key, o.customer_id, o.email, o.order_id, o.placed_at,
               l.product_id, max(l.product_type_id) AS product_type_id,
               max(l.category_id) AS category_id, sum(l.quantity) AS qty
        FROM {LINES} l JOIN {ORDERS} o ON o.id = l.order_id
        WHERE o.channel_slug = %(channel)s AND o.placed_at <= %(now)s AND {COUNTED}
              {{customers}}
        GROUP BY o.id, o.customer_key, o.customer_id, o.email, o.order_id, o.placed_at,
                 l.product_id
    ),
    gaps AS (
        SELECT per_order.*,
               extract(epoch FROM placed_at - lag(placed_at) OVER (
                   PARTITION BY customer_key, product_id ORDER BY placed_at, order_id
               )) / 86400.0 AS gap
        FROM per_order
    )"""

# The product medians, rewritten by a full rebuild (before its plan, which reads them).
_MEDIANS = f"""
    WITH {PER_ORDER.format(customers="")}
    INSERT INTO {MEDIANS} (channel_slug, product_id, median_days, observations, computed_at)
    SELECT %(channel)s, product_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY gap), count(*),
           %(now)s
    FROM gaps WHERE gap >= %(min_gap)s
    GROUP BY product_id HAVING count(*) >= %(min_obs)s
"""


def medians_in_sql(channel: str, now: datetime) -> None:
    """Recompute and store the channel's product medians (PostgreSQL)."""
    ProductInterval.objects.filter(channel_slug=channel).delete()
    with connection.cursor() as cursor:
        cursor.execute(
            _MEDIANS,
            {
                "channel": channel,
                "now": now,
                "min_gap": rules.MIN_INTERVAL_DAYS,
                "min_obs": rules.MIN_PRODUCT_OBSERVATIONS,
            },
        )


def store_medians(channel: str, now: datetime, gaps: dict[str, list[float]]) -> dict[str, float]:
    """Replace the channel's medians with those of ``gaps`` (each product's intervals).

    Returns the medians stored, product id to days (a product with too few intervals has
    none). One DELETE and one INSERT.
    """
    medians: dict[str, float] = {}
    rows = []
    for product, product_gaps in gaps.items():
        median = rules.product_median(product_gaps)
        if median is not None:
            medians[product] = median
            rows.append(
                ProductInterval(
                    channel_slug=channel,
                    product_id=product,
                    median_days=median,
                    observations=len(product_gaps),
                    computed_at=now,
                )
            )
    ProductInterval.objects.filter(channel_slug=channel).delete()
    ProductInterval.objects.bulk_create(rows)
    return medians
