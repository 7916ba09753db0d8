"""Replenishment reminders: keep each customer's next run-out, answer "who is due now".

Two halves, so the frequent question costs what is due, not what the history holds:

* ``refresh_replenishment(channel, settings)`` (a periodic task, every 6 hours) keeps
  ``models.ReplenishmentDue``: one row per customer and product with the next reminder,
  by the rules of ``domain.replenishment``. It is incremental (``services.due_rows``):
  only the customers whose history changed since the last refresh are re-planned, with
  the product medians kept in ``models.ProductInterval``; a full rebuild (first run, a
  change of cycles or lead days, ``rebuild=True``, at least daily) recomputes the medians
  and every customer. On PostgreSQL each is one ``INSERT ... SELECT ... ON CONFLICT``
  over the purchase history's lines (``lag`` for the intervals, ``percentile_cont`` for
  the medians); elsewhere (the SQLite sandbox) the lines are loaded and the pure rules
  plan each pair.
* ``due_replenishments(channel, start, end, ...)`` reads the ``(channel, due_at)`` index
  range and re-checks each row against the history: the anchor order still belongs to
  the customer and still counts, and no later order holds the product. The same checks
  answer ``replenishment_still_due`` at send time, so a reorder, a refund or an
  anonymisation between two refreshes stops the reminder.

Which purchases count: counted orders (not drafts, cancelled, ...) with a net goods amount
above zero (an order refunded in full is no purchase) of a known customer (anonymised keys
never; guests by their email key, merged guests under the customer's key). The history
keeps no per-line refunds, so a partly refunded order still counts as a purchase of each
of its products. Products no longer sold are dropped by the ``ProductCatalogue`` the
caller passes (``services.recommendations.product_catalogue()``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.db.models import Exists, OuterRef
from django.utils import timezone

from ..domain import replenishment as rules
from ..models import ProductInterval, PurchasedLine, PurchasedOrder, ReplenishmentDue
from . import due_rows
from .due_rows import DueSubject, RefreshResult, cycle_of
from .product_intervals import PER_ORDER, medians_in_sql, store_medians

if TYPE_CHECKING:
    from collections.abc import Collection
    from datetime import datetime

    from django.db.models import QuerySet

    from ..config_lifecycle import ReplenishmentSettings
    from .recommendations import ProductCatalogue

FLOW = "replenishment"
SUBJECT_KIND = "customer_product"
DUE = ReplenishmentDue._meta.db_table
ORDERS = PurchasedOrder._meta.db_table
MEDIANS = ProductInterval._meta.db_table
LINES = PurchasedLine._meta.db_table


def product_subject_key(customer_key: str, product_id: str) -> str:
    """``customer:<id>:product:<product>`` (the engine's ``Subject.customer_product``)."""
    return f"{customer_key}:product:{product_id}"


def refresh_replenishment(
    channel: str,
    settings: ReplenishmentSettings,
    *,
    now: datetime | None = None,
    set_based: bool | None = None,
    rebuild: bool = False,
) -> RefreshResult:
    """Re-plan the next reminder per product of the customers whose history changed.

    Incremental between full rebuilds (``services.due_rows.refresh_channel``; ``rebuild``
    forces one). ``set_based`` picks the SQL statement (PostgreSQL only) or the pure rules
    over the loaded lines; by default the database decides. Pairs with no interval known
    (one purchase, no product median, no configured cycle) get no row. Returns how many
    rows were planned and how many stale rows went.
    """
    now = now or timezone.now()
    cycles = settings.replenishment_cycles.rules
    digest = due_rows.settings_digest(
        lead=settings.replenishment_lead_days,
        cycles=[(rule.level.value, rule.object_id, rule.cycle.expected_days) for rule in cycles],
    )

    def full(set_based: bool) -> int:
        if set_based:
            medians_in_sql(channel, now)
            return _plan_in_sql(channel, settings, now, None)
        pairs = _load_pairs(channel, now)
        medians = store_medians(channel, now, _product_gaps(pairs))
        return _store_plans(channel, now, _plan_pairs(pairs, medians, settings))

    def partial(set_based: bool, keys: Collection[str]) -> int:
        # Against the medians the last full rebuild kept: a median couples every customer
        # of its product, so keeping it exact here would re-plan them all.
        if set_based:
            return _plan_in_sql(channel, settings, now, keys)
        pairs = _load_pairs(channel, now, keys=keys)
        return _store_plans(channel, now, _plan_pairs(pairs, _medians_of(channel), settings))

    return due_rows.refresh_channel(
        ReplenishmentDue,
        FLOW,
        channel,
        now,
        digest=digest,
        rebuild=rebuild,
        set_based=set_based,
        anchor_field="last_order_id",
        full=full,
        partial=partial,
    )


def _medians_of(channel: str) -> dict[str, float]:
    return dict(
        ProductInterval.objects.filter(channel_slug=channel).values_list(
            "product_id", "median_days"
        )
    )


def forget_channel(channel: str) -> int:
    """Drop the channel's kept rows and medians (the flow was switched off)."""
    ProductInterval.objects.filter(channel_slug=channel).delete()
    return due_rows.forget_channel(ReplenishmentDue, channel, FLOW)


_COLUMNS = (
    "channel_slug, customer_key, customer_id, email, product_id, last_order_id, "
    "last_purchased_at, last_quantity, purchases, interval_days, interval_source, "
    "run_out_at, due_at, computed_at"
)

# ``{customers}``: empty (everyone) or the filter to the customers re-planned.
_PLAN = f"""
    WITH {PER_ORDER},
    product_median AS (
        SELECT product_id, median_days AS days FROM {MEDIANS} WHERE channel_slug = %(channel)s
    ),
    own AS (
        SELECT customer_key, product_id,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY gap)
                   FILTER (WHERE gap >= %(min_gap)s) AS days,
               count(*) FILTER (WHERE gap >= %(min_gap)s) AS n,
               count(*) AS purchases, avg(qty) AS mean_qty
        FROM gaps GROUP BY customer_key, product_id
    ),
    last AS (
        SELECT DISTINCT ON (customer_key, product_id) *
        FROM per_order ORDER BY customer_key, product_id, placed_at DESC, order_id DESC
    ),
    configured AS (
        SELECT * FROM unnest(%(levels)s::text[], %(ids)s::text[], %(cycle_days)s::float8[])
            AS c(level, object_id, days)
    ),
    chosen AS (
        SELECT last.*, own.n, own.purchases, own.mean_qty, own.days AS own_days,
               pm.days AS product_days,
               coalesce(
                   (SELECT days FROM configured WHERE level = 'product'
                        AND object_id = last.product_id),
                   (SELECT days FROM configured WHERE level = 'product_type'
                        AND object_id = last.product_type_id),
                   (SELECT days FROM configured WHERE level = 'category'
                        AND object_id = last.category_id)
               ) AS cycle_days
        FROM last
        JOIN own USING (customer_key, product_id)
        LEFT JOIN product_median pm USING (product_id)
    ),
    planned AS (
        SELECT chosen.*,
               CASE WHEN n > 0 AND coalesce(product_days, cycle_days) IS NULL THEN own_days
                    WHEN n > 0 THEN (n * own_days + %(k)s * coalesce(product_days, cycle_days))
                                    / (n + %(k)s)
                    ELSE coalesce(product_days, cycle_days) END AS interval_days,
               CASE WHEN n > 0 AND coalesce(product_days, cycle_days) IS NULL THEN 'own'
                    WHEN n > 0 THEN 'shrunk'
                    WHEN product_days IS NOT NULL THEN 'product'
                    ELSE 'configured' END AS interval_source,
               CASE WHEN purchases > 1 AND mean_qty > 0
                    THEN least(greatest(qty / mean_qty, 1.0 / %(max_factor)s), %(max_factor)s)
                    ELSE 1 END AS factor
        FROM chosen
    ),
    timed AS (
        SELECT planned.*,
               placed_at + interval_days * factor * interval '1 day' AS run_out_at
        FROM planned WHERE interval_days IS NOT NULL
    )
    INSERT INTO {DUE} ({_COLUMNS})
    SELECT %(channel)s, customer_key, customer_id, email, product_id, order_id, placed_at,
           qty, purchases, interval_days, interval_source, run_out_at,
           greatest(run_out_at - %(lead)s * interval '1 day', placed_at), %(now)s
    FROM timed
    ON CONFLICT (channel_slug, customer_key, product_id) DO UPDATE SET
        customer_id = EXCLUDED.customer_id, email = EXCLUDED.email,
        last_order_id = EXCLUDED.last_order_id, last_purchased_at = EXCLUDED.last_purchased_at,
        last_quantity = EXCLUDED.last_quantity, purchases = EXCLUDED.purchases,
        interval_days = EXCLUDED.interval_days, interval_source = EXCLUDED.interval_source,
        run_out_at = EXCLUDED.run_out_at, due_at = EXCLUDED.due_at,
        computed_at = EXCLUDED.computed_at
"""


def _plan_in_sql(
    channel: str, settings: ReplenishmentSettings, now: datetime, keys: Collection[str] | None
) -> int:
    cycles = settings.replenishment_cycles.rules
    customers = "" if keys is None else "AND o.customer_key = ANY(%(keys)s)"
    with connection.cursor() as cursor:
        cursor.execute(
            _PLAN.format(customers=customers),
            {
                "keys": list(keys or ()),
                "channel": channel,
                "now": now,
                "min_gap": rules.MIN_INTERVAL_DAYS,
                "k": rules.CREDIBILITY_K,
                "max_factor": rules.MAX_QUANTITY_FACTOR,
                "lead": settings.replenishment_lead_days,
                "levels": [rule.level.value for rule in cycles],
                "ids": [rule.object_id for rule in cycles],
                "cycle_days": [rule.cycle.expected_days for rule in cycles],
            },
        )
        return int(cursor.rowcount)


@dataclass
class _Pair:
    purchases: list[rules.Purchase] = field(default_factory=list)
    last: dict[str, Any] = field(default_factory=dict)


def plans_in_python(
    channel: str,
    settings: ReplenishmentSettings,
    now: datetime,
    *,
    keys: Collection[str] | None = None,
    medians: dict[str, float] | None = None,
) -> dict[tuple[str, str], tuple[dict[str, Any], rules.ReplenishmentPlan, int]]:
    """The reference plan from the pure rules: ``(customer_key, product_id) -> (last, plan, n)``.

    Loads the channel's counted lines once (of the customers ``keys`` only, if given); the
    SQLite sandbox's path and the tests' reference for the SQL. ``medians`` (product id to
    days) replaces the medians computed from the loaded lines.
    """
    pairs = _load_pairs(channel, now, keys=keys)
    if medians is None:
        medians = {
            product: median
            for product, median in product_medians(pairs).items()
            if median is not None
        }
    return _plan_pairs(pairs, medians, settings)


def _load_pairs(
    channel: str, now: datetime, *, keys: Collection[str] | None = None
) -> dict[tuple[str, str], _Pair]:
    """Each ``(customer, product)``'s purchases (of the customers ``keys`` only, if given)."""
    lines = PurchasedLine.objects.filter(
        order__channel_slug=channel,
        order__placed_at__lte=now,
        order__counts=True,
        order__net_goods_amount__gt=0,
        product_id__isnull=False,
    ).exclude(order__customer_key__startswith="anonymised:")
    if keys is not None:
        lines = lines.filter(order__customer_key__in=list(keys))
    rows = lines.values(
        "order__customer_key", "order__customer_id", "order__email", "order__order_id",
        "order__placed_at", "product_id", "product_type_id", "category_id", "quantity",
    )  # fmt: skip
    per_order: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["order__customer_key"], str(row["product_id"]), row["order__order_id"])
        entry = per_order.setdefault(key, {**row, "quantity": 0})
        entry["quantity"] += row["quantity"]
        entry["product_type_id"] = max(
            filter(None, (entry["product_type_id"], row["product_type_id"])), default=None
        )
        entry["category_id"] = max(
            filter(None, (entry["category_id"], row["category_id"])), default=None
        )
    pairs: dict[tuple[str, str], _Pair] = defaultdict(_Pair)
    for (customer, product, order_id), entry in per_order.items():
        pair = pairs[(customer, product)]
        pair.purchases.append(rules.Purchase(entry["order__placed_at"], entry["quantity"]))
        if not pair.last or (entry["order__placed_at"], order_id) > (
            pair.last["order__placed_at"],
            pair.last["order__order_id"],
        ):
            pair.last = entry
    return pairs


def _plan_pairs(
    pairs: dict[tuple[str, str], _Pair],
    medians: dict[str, float],
    settings: ReplenishmentSettings,
) -> dict[tuple[str, str], tuple[dict[str, Any], rules.ReplenishmentPlan, int]]:
    plans = {}
    for (customer, product), pair in pairs.items():
        last = pair.last
        plan = rules.plan_reminder(
            pair.purchases,
            medians.get(product),
            settings.replenishment_cycles.cycle_for(
                product, last["product_type_id"], last["category_id"]
            ),
            settings.replenishment_lead_days,
        )
        if plan is not None:
            plans[(customer, product)] = (last, plan, len(pair.purchases))
    return plans


def _product_gaps(pairs: dict[tuple[str, str], _Pair]) -> dict[str, list[float]]:
    """Each product's intervals across the loaded customers (what its median is of)."""
    by_product: dict[str, list[float]] = defaultdict(list)
    for (_, product), pair in pairs.items():
        by_product[product].extend(rules.repurchase_intervals([p.at for p in pair.purchases]))
    return by_product


def product_medians(pairs: dict[tuple[str, str], _Pair]) -> dict[str, float | None]:
    """Each product's median interval across the loaded customers (``None``: too few)."""
    return {product: rules.product_median(gaps) for product, gaps in _product_gaps(pairs).items()}


# What a refresh writes on a customer's product row that exists already.
PLANNED_FIELDS = (
    "customer_id",
    "email",
    "last_order_id",
    "last_purchased_at",
    "last_quantity",
    "purchases",
    "interval_days",
    "interval_source",
    "run_out_at",
    "due_at",
)


def _store_plans(
    channel: str,
    now: datetime,
    plans: dict[tuple[str, str], tuple[dict[str, Any], rules.ReplenishmentPlan, int]],
) -> int:
    # One upsert per batch instead of a locked read and a write per row (the same rows).
    rows = [
        ReplenishmentDue(
            channel_slug=channel,
            customer_key=customer,
            product_id=product,
            customer_id=last["order__customer_id"],
            email=last["order__email"],
            last_order_id=last["order__order_id"],
            last_purchased_at=plan.last_purchased_at,
            last_quantity=last["quantity"],
            purchases=purchases,
            interval_days=plan.interval.days,
            interval_source=plan.interval.source.value,
            run_out_at=plan.run_out_at,
            due_at=plan.due_at,
            computed_at=now,
        )
        for (customer, product), (last, plan, purchases) in plans.items()
    ]
    ReplenishmentDue.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["channel_slug", "customer_key", "product_id"],
        update_fields=[*PLANNED_FIELDS, "computed_at"],
    )
    return len(plans)


def still_standing(queryset: QuerySet[ReplenishmentDue]) -> QuerySet[ReplenishmentDue]:
    """Rows whose anchor order is still the customer's and counts, with no later reorder.

    Two indexed ``EXISTS`` per row: the order by its unique id, the customer's later
    orders by ``(channel, customer, placed_at)``.
    """
    counted = PurchasedOrder.objects.filter(counts=True, net_goods_amount__gt=0)
    anchor_holds = Exists(
        counted.filter(order_id=OuterRef("last_order_id"), customer_key=OuterRef("customer_key"))
    )
    reordered = Exists(
        PurchasedLine.objects.filter(
            order__channel_slug=OuterRef("channel_slug"),
            order__customer_key=OuterRef("customer_key"),
            order__placed_at__gt=OuterRef("last_purchased_at"),
            order__counts=True,
            order__net_goods_amount__gt=0,
            product_id=OuterRef("product_id"),
        )
    )
    return queryset.filter(anchor_holds).filter(~reordered)


def due_replenishments(
    channel: str,
    start: datetime,
    end: datetime,
    availability: ProductCatalogue,
    *,
    limit: int | None = None,
) -> list[DueSubject]:
    """Reminders due in ``(start, end]`` that still stand, for products still sold.

    Cost: the ``(channel, due_at)`` index range plus two indexed look-ups per row.
    ``limit`` caps a batch (earliest first); call again with ``start`` at the last
    ``due_at`` returned for the next.
    """
    rows = list(
        still_standing(
            ReplenishmentDue.objects.filter(channel_slug=channel, due_at__gt=start, due_at__lte=end)
        ).order_by("due_at", "id")[:limit]
    )
    sold = availability.sold(channel, {row.product_id for row in rows}, end)
    return [
        DueSubject(
            flow=FLOW,
            subject_kind=SUBJECT_KIND,
            subject_key=product_subject_key(row.customer_key, row.product_id),
            channel_slug=channel,
            customer_key=row.customer_key,
            customer_id=row.customer_id,
            email=row.email,
            anchor_at=row.last_purchased_at,
            due_at=row.due_at,
            cycle=cycle_of(row.last_purchased_at),
            data={
                "product_id": row.product_id,
                "last_order_id": row.last_order_id,
                "last_quantity": row.last_quantity,
                "interval_days": round(row.interval_days, 1),
                "interval_source": row.interval_source,
                "run_out_at": row.run_out_at.isoformat(),
            },
        )
        for row in rows
        if row.product_id in sold
    ]


def replenishment_still_due(
    channel: str,
    customer_key: str,
    product_id: str,
    anchor_at: datetime,
    availability: ProductCatalogue,
    *,
    now: datetime | None = None,
) -> bool:
    """The re-check at send time: the reminder anchored at ``anchor_at`` still stands.

    False once the customer ordered the product again, the anchor order stopped counting
    (cancelled, refunded in full) or left the customer (anonymised), or the product is no
    longer sold.
    """
    # ``still_standing`` as one hand-written statement: this runs before every reminder
    # step and send, and building the ORM's nested EXISTS cost more than running it.
    with connection.cursor() as cursor:
        cursor.execute(
            _STILL_STANDING,
            [
                channel,
                customer_key,
                product_id,
                connection.ops.adapt_datetimefield_value(anchor_at),
            ],
        )
        standing = cursor.fetchone() is not None
    return standing and product_id in availability.sold(
        channel, {product_id}, now or timezone.now()
    )


# One kept row still standing (``still_standing``): its anchor order is still the
# customer's and counts, and no later counted order of the customer holds the product.
# Plain SQL both databases run (SQLite stores booleans as 0/1).
_STILL_STANDING = f"""
    SELECT 1 FROM {DUE} d
    WHERE d.channel_slug = %s AND d.customer_key = %s AND d.product_id = %s
      AND d.last_purchased_at = %s
      AND EXISTS (
          SELECT 1 FROM {ORDERS} o
          WHERE o.order_id = d.last_order_id AND o.customer_key = d.customer_key
            AND o.counts AND o.net_goods_amount > 0
      )
      AND NOT EXISTS (
          SELECT 1 FROM {LINES} l JOIN {ORDERS} o ON o.id = l.order_id
          WHERE o.channel_slug = d.channel_slug AND o.customer_key = d.customer_key
            AND o.placed_at > d.last_purchased_at AND o.counts AND o.net_goods_amount > 0
            AND l.product_id = d.product_id
      )
    LIMIT 1
"""
