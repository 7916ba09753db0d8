"""Verify and rebuild the kept purchase summaries; choose the timezone they are kept in.

The triggers of migration 0018 keep ``PurchaseDay``, ``PurchaseKindDay`` and
``PurchaseSummary`` (``models.summaries``) in every writer's transaction. This module is
the repair side, as ``services.ledger_audit`` is for the ledger's kept totals:
``find_summary_drift`` recomputes a channel's rows from ``PurchasedOrder`` and lists the
customers whose kept rows differ, ``rebuild_summaries`` recomputes them, and
``keep_summaries_in`` moves a channel's order days to the shop's timezone (rebuilding the
channel when it changes). PostgreSQL only: elsewhere nothing is kept and every function
returns an empty result.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db import connection, transaction

from ..models import (
    PurchaseDay,
    PurchasedOrder,
    PurchaseKindDay,
    PurchaseSummary,
    PurchaseSummaryZone,
)

ORDERS = PurchasedOrder._meta.db_table
DAYS = PurchaseDay._meta.db_table
KINDS = PurchaseKindDay._meta.db_table
SUMMARIES = PurchaseSummary._meta.db_table
ZONES = PurchaseSummaryZone._meta.db_table

# The kept rows of one table as comparable tuples, and the same recomputed from the orders
# (the triggers' statements over the whole channel).
_KEPT = {
    "days": f"""SELECT channel_slug, currency, customer_key, day, revenue, orders,
                       discount_orders, first_day, prev_day FROM {DAYS}""",
    "kinds": f"""SELECT channel_slug, currency, customer_key, dimension, kind, day, prev_day
                 FROM {KINDS}""",
    "summaries": f"""SELECT channel_slug, currency, customer_key, first_day, second_day,
                            last_day, first_order_at, last_order_at, orders, order_days,
                            revenue, repeat_revenue, discount_orders FROM {SUMMARIES}""",
}
_O = f"""
    o AS (SELECT po.id, po.channel_slug, po.currency, po.customer_key, po.placed_at,
                 (po.placed_at AT TIME ZONE coalesce(z.tz, 'UTC'))::date AS d,
                 po.net_goods_amount AS a, po.used_discount AS disc
          FROM {ORDERS} po LEFT JOIN {ZONES} z ON z.channel_slug = po.channel_slug
          WHERE po.channel_slug = %(channel)s AND po.counts AND po.net_goods_amount > 0),
    days AS (SELECT channel_slug, currency, customer_key, d AS day, sum(a) AS revenue,
                    count(*) AS orders, count(*) FILTER (WHERE disc) AS discount_orders,
                    first_value(d) OVER w AS first_day, lag(d) OVER w AS prev_day
             FROM o GROUP BY channel_slug, currency, customer_key, d
             WINDOW w AS (PARTITION BY channel_slug, currency, customer_key ORDER BY d))
"""
_FRESH = {
    "days": f"WITH {_O} SELECT * FROM days",
    "kinds": f"""WITH {_O}, kinds AS (
            SELECT o.channel_slug, o.currency, o.customer_key, 'product_type' AS dimension,
                   l.product_type_id AS kind, o.d
            FROM o JOIN saleor_retention_plugin_purchasedline l ON l.order_id = o.id
            WHERE l.product_type_id IS NOT NULL
            UNION
            SELECT o.channel_slug, o.currency, o.customer_key, 'category', l.category_id, o.d
            FROM o JOIN saleor_retention_plugin_purchasedline l ON l.order_id = o.id
            WHERE l.category_id IS NOT NULL)
        SELECT channel_slug, currency, customer_key, dimension, kind, d,
               lag(d) OVER (PARTITION BY channel_slug, currency, customer_key, dimension,
                            kind ORDER BY d)
        FROM kinds""",
    "summaries": f"""WITH {_O}
        SELECT days.channel_slug, days.currency, days.customer_key, min(day),
               min(day) FILTER (WHERE prev_day IS NOT NULL), max(day),
               min(t.first_at), max(t.last_at), sum(days.orders), count(*), sum(revenue),
               coalesce(sum(revenue) FILTER (WHERE prev_day IS NOT NULL), 0),
               sum(discount_orders)
        FROM days JOIN (SELECT channel_slug, currency, customer_key,
                               min(placed_at) AS first_at, max(placed_at) AS last_at
                        FROM o GROUP BY 1, 2, 3) t
             USING (channel_slug, currency, customer_key)
        GROUP BY 1, 2, 3""",
}


@dataclass(frozen=True)
class SummaryDrift:
    """A customer of ``channel`` whose kept rows differ from their orders, and where."""

    channel: str
    customer_key: str
    tables: tuple[str, ...]


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def find_summary_drift(channel: str) -> list[SummaryDrift]:
    """Customers of ``channel`` whose kept days, kinds or summary differ from their orders.

    Recomputes the channel from ``PurchasedOrder`` (a full pass: a repair check, not a hot
    path). Empty when everything agrees, and always on databases other than PostgreSQL.
    """
    if not _postgres():
        return []
    drift: dict[str, set[str]] = {}
    with connection.cursor() as cursor:
        for table, kept in _KEPT.items():
            cursor.execute(
                f"""
                WITH kept AS ({kept} WHERE channel_slug = %(channel)s),
                     fresh AS ({_FRESH[table]})
                SELECT differ.customer_key FROM (
                    (SELECT * FROM kept EXCEPT ALL SELECT * FROM fresh)
                    UNION ALL
                    (SELECT * FROM fresh EXCEPT ALL SELECT * FROM kept)) differ
                """,
                {"channel": channel},
            )
            for (key,) in cursor.fetchall():
                drift.setdefault(key, set()).add(table)
    return [
        SummaryDrift(channel, key, tuple(sorted(tables))) for key, tables in sorted(drift.items())
    ]


def rebuild_summaries(channel: str, customer_keys: list[str] | None = None) -> int:
    """Recompute the kept rows of ``customer_keys`` (default: every customer) of ``channel``.

    Returns how many customers were recomputed. Customers without a counted order lose
    their rows. One transaction; concurrent writers of the same customers wait for it.
    """
    if not _postgres():
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        if customer_keys is None:
            cursor.execute(
                f"""SELECT DISTINCT customer_key FROM {ORDERS} WHERE channel_slug = %s
                    UNION SELECT customer_key FROM {SUMMARIES} WHERE channel_slug = %s
                    UNION SELECT customer_key FROM {KINDS} WHERE channel_slug = %s""",
                [channel, channel, channel],
            )
            customer_keys = [key for (key,) in cursor.fetchall()]
        if not customer_keys:
            return 0
        cursor.execute(
            "SELECT retention_resummarise(%s::text[], %s::text[])",
            [[channel] * len(customer_keys), customer_keys],
        )
    return len(customer_keys)


def summary_zone(channel: str) -> str:
    """The timezone the channel's kept order days are in (``UTC`` without a choice)."""
    zone = PurchaseSummaryZone.objects.filter(channel_slug=channel).first()
    return zone.tz if zone else "UTC"


def keep_summaries_in(channel: str, tz: str) -> bool:
    """Keep ``channel``'s order days in ``tz``; rebuilds the channel when it changes.

    Returns whether anything changed. Raises ``ZoneInfoNotFoundError`` for an unknown
    timezone, before writing.
    """
    ZoneInfo(tz)
    if not _postgres() or summary_zone(channel) == tz:
        return False
    with transaction.atomic():
        PurchaseSummaryZone.objects.update_or_create(channel_slug=channel, defaults={"tz": tz})
        rebuild_summaries(channel)
    return True
