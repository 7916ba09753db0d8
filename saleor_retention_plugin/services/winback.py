"""Win-back: keep when each customer goes dormant, answer "which step is due now".

* ``refresh_winback(channel, settings)`` (a periodic task, every 6 hours, after the
  segments' refresh) keeps ``models.WinbackDue``: one row per customer with a counted
  order, holding their last order, their usual interval (median gap between orders) and
  the moment they become dormant (``domain.winback``), so time passing needs no re-plan.
  It is incremental (``services.due_rows``): only the customers whose history changed
  since the last refresh are re-planned; a full rebuild runs on the first refresh, a
  change of the dormancy settings, ``rebuild=True`` and at least daily. On PostgreSQL
  each is one ``INSERT ... SELECT ... ON CONFLICT`` (``lag`` and ``percentile_cont``);
  elsewhere the pure rules plan each loaded customer. Whether a customer is high-value
  or price-sensitive (discount-driven) is read from the stored segments when a step is
  due, so a segments' refresh needs no re-plan (the row keeps the flags seen at planning).
* ``due_winback_steps(channel, settings, start, end)`` returns every series step due in
  ``(start, end]``: for step ``i``, the rows with ``dormant_at`` in
  ``(start - days_i, end - days_i]``, one ``(channel, dormant_at)`` index range per step,
  re-checked against the history (the last order still the customer's and still counted,
  no order since). ``winback_still_due`` is the same check at send time.

Purchases count as in ``services.replenishment`` (counted, above zero, not anonymised).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.db.models import Exists, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..domain import winback as rules
from ..domain.replenishment import MIN_INTERVAL_DAYS
from ..models import CustomerSegment, PurchasedOrder, WinbackDue
from . import due_rows
from .due_rows import DueSubject, RefreshResult, cycle_of

if TYPE_CHECKING:
    from collections.abc import Collection

    from django.db.models import QuerySet

    from ..config_lifecycle import WinbackSettings

FLOW = "winback"
SUBJECT_KIND = "customer"
DUE = WinbackDue._meta.db_table
ORDERS = PurchasedOrder._meta.db_table
SEGMENTS = CustomerSegment._meta.db_table
_COUNTED = "o.counts AND o.net_goods_amount > 0 AND o.customer_key NOT LIKE 'anonymised:%%'"


def refresh_winback(
    channel: str,
    settings: WinbackSettings,
    *,
    now: datetime | None = None,
    set_based: bool | None = None,
    rebuild: bool = False,
) -> RefreshResult:
    """Re-plan when the customers whose history changed become dormant; idempotent.

    Incremental between full rebuilds (``services.due_rows.refresh_channel``; ``rebuild``
    forces one). ``set_based`` picks the SQL statement (PostgreSQL only) or the pure rules
    over the loaded orders; by default the database decides.
    """
    now = now or timezone.now()
    policy = settings.policy
    digest = due_rows.settings_digest(
        default_days=policy.default_days, factor=str(policy.dormancy_factor)
    )

    def plan(set_based: bool, keys: Collection[str] | None) -> int:
        if set_based:
            return _plan_in_sql(channel, policy, now, keys)
        return _plan_in_python(channel, policy, now, keys)

    return due_rows.refresh_channel(
        WinbackDue,
        FLOW,
        channel,
        now,
        digest=digest,
        rebuild=rebuild,
        set_based=set_based,
        anchor_field="last_order_id",
        full=lambda set_based: plan(set_based, None),
        partial=plan,
    )


def forget_channel(channel: str) -> int:
    """Drop the channel's kept rows and refresh state (the flow was switched off)."""
    return due_rows.forget_channel(WinbackDue, channel, FLOW)


_PLAN = f"""
    WITH orders AS (
        SELECT o.customer_key, o.customer_id, o.email, o.order_id, o.placed_at,
               extract(epoch FROM o.placed_at - lag(o.placed_at) OVER (
                   PARTITION BY o.customer_key ORDER BY o.placed_at, o.order_id
               )) / 86400.0 AS gap
        FROM {ORDERS} o
        WHERE o.channel_slug = %(channel)s AND o.placed_at <= %(now)s AND {_COUNTED}
              {{customers}}
    ),
    usual AS (
        SELECT customer_key,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY gap)
                   FILTER (WHERE gap >= %(min_gap)s) AS days
        FROM orders GROUP BY customer_key
    ),
    last AS (
        SELECT DISTINCT ON (customer_key) *
        FROM orders ORDER BY customer_key, placed_at DESC, order_id DESC
    )
    INSERT INTO {DUE} (channel_slug, customer_key, customer_id, email, last_order_id,
                       last_order_at, usual_interval_days, dormant_at, high_value,
                       price_sensitive, computed_at)
    SELECT %(channel)s, last.customer_key, last.customer_id, last.email, last.order_id,
           last.placed_at, usual.days,
           last.placed_at + CASE WHEN usual.days IS NULL THEN %(default_days)s
                                 ELSE greatest(%(factor)s * usual.days, %(min_days)s)
                            END * interval '1 day',
           coalesce(s.high_value, false), coalesce(s.discount_driven, false), %(now)s
    FROM last JOIN usual USING (customer_key)
    LEFT JOIN {SEGMENTS} s ON s.channel_slug = %(channel)s AND s.customer_key = last.customer_key
    ON CONFLICT (channel_slug, customer_key) DO UPDATE SET
        customer_id = EXCLUDED.customer_id, email = EXCLUDED.email,
        last_order_id = EXCLUDED.last_order_id, last_order_at = EXCLUDED.last_order_at,
        usual_interval_days = EXCLUDED.usual_interval_days, dormant_at = EXCLUDED.dormant_at,
        high_value = EXCLUDED.high_value, price_sensitive = EXCLUDED.price_sensitive,
        computed_at = EXCLUDED.computed_at
"""


def _plan_in_sql(
    channel: str, policy: rules.WinbackPolicy, now: datetime, keys: Collection[str] | None
) -> int:
    customers = "" if keys is None else "AND o.customer_key = ANY(%(keys)s)"
    with connection.cursor() as cursor:
        cursor.execute(
            _PLAN.format(customers=customers),
            {
                "keys": list(keys or ()),
                "channel": channel,
                "now": now,
                "min_gap": MIN_INTERVAL_DAYS,
                "default_days": policy.default_days,
                "factor": float(policy.dormancy_factor),
                "min_days": rules.MIN_DORMANCY_DAYS,
            },
        )
        return int(cursor.rowcount)


def plans_in_python(
    channel: str,
    policy: rules.WinbackPolicy,
    now: datetime,
    *,
    keys: Collection[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """The reference plan from the pure rules, ``customer_key -> WinbackDue fields``.

    Loads the channel's counted orders once, of the customers ``keys`` only if given (the
    SQLite sandbox; the tests' reference).
    """
    orders = (
        PurchasedOrder.objects.filter(
            channel_slug=channel, placed_at__lte=now, counts=True, net_goods_amount__gt=0
        )
        .exclude(customer_key__startswith="anonymised:")
        .filter(**({} if keys is None else {"customer_key__in": list(keys)}))
        .values("customer_key", "customer_id", "email", "order_id", "placed_at")
    )
    by_customer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for order in orders:
        by_customer[order["customer_key"]].append(dict(order))
    segments = {
        key: (high_value, driven)
        for key, high_value, driven in CustomerSegment.objects.filter(
            channel_slug=channel, **({} if keys is None else {"customer_key__in": list(keys)})
        ).values_list("customer_key", "high_value", "discount_driven")
    }
    plans = {}
    for key, placed in by_customer.items():
        last = max(placed, key=lambda order: (order["placed_at"], order["order_id"]))
        usual = rules.usual_interval_days([order["placed_at"] for order in placed])
        high_value, driven = segments.get(key, (False, False))
        plans[key] = {
            "customer_id": last["customer_id"],
            "email": last["email"],
            "last_order_id": last["order_id"],
            "last_order_at": last["placed_at"],
            "usual_interval_days": usual,
            "dormant_at": rules.dormant_at(last["placed_at"], usual, policy),
            "high_value": high_value,
            "price_sensitive": driven,
        }
    return plans


def _plan_in_python(
    channel: str, policy: rules.WinbackPolicy, now: datetime, keys: Collection[str] | None
) -> int:
    plans = plans_in_python(channel, policy, now, keys=keys)
    # One upsert per batch instead of a locked read and a write per row (the same rows).
    rows = [
        WinbackDue(channel_slug=channel, customer_key=key, **fields, computed_at=now)
        for key, fields in plans.items()
    ]
    if rows:
        WinbackDue.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["channel_slug", "customer_key"],
            update_fields=[*next(iter(plans.values())), "computed_at"],
        )
    return len(plans)


def still_dormant(queryset: QuerySet[WinbackDue]) -> QuerySet[WinbackDue]:
    """Rows whose last order is still the customer's and counts, with no order since."""
    counted = PurchasedOrder.objects.filter(counts=True, net_goods_amount__gt=0)
    last_holds = Exists(
        counted.filter(order_id=OuterRef("last_order_id"), customer_key=OuterRef("customer_key"))
    )
    ordered_since = Exists(
        counted.filter(
            channel_slug=OuterRef("channel_slug"),
            customer_key=OuterRef("customer_key"),
            placed_at__gt=OuterRef("last_order_at"),
        )
    )
    return queryset.filter(last_holds).filter(~ordered_since)


def with_current_segment(queryset: QuerySet[WinbackDue]) -> list[WinbackDue]:
    """The rows with ``high_value`` / ``price_sensitive`` from the stored segments now.

    One indexed look-up per row (``(channel, customer_key)``); a customer without a
    segment row is neither.
    """
    segment = CustomerSegment.objects.filter(
        channel_slug=OuterRef("channel_slug"), customer_key=OuterRef("customer_key")
    )
    rows: list[WinbackDue] = list(
        queryset.annotate(
            segment_high_value=Coalesce(
                Subquery(segment.values("high_value")[:1]),
                Value(False),
            ),
            segment_discount_driven=Coalesce(
                Subquery(segment.values("discount_driven")[:1]),
                Value(False),
            ),
        )
    )
    for row in rows:
        row.high_value = getattr(row, "segment_high_value")  # noqa: B009 (an annotation)
        row.price_sensitive = getattr(row, "segment_discount_driven")  # noqa: B009
    return rows


def due_winback_steps(
    channel: str, settings: WinbackSettings, start: datetime, end: datetime
) -> list[DueSubject]:
    """Every win-back step due in ``(start, end]``, with the incentive it offers.

    ``step`` is 1-based; ``anchor_at`` the last order; ``data`` holds ``incentive``
    (perk / discount / none), ``discount`` and ``perk`` of this step, ``dormant_at``
    (ISO), ``high_value``, ``price_sensitive`` and ``steps`` (how many the series has).
    An engine that enrols at dormancy reads the steps after the first with
    ``domain.winback.next_step`` from ``dormant_at``; a scan per step can use every row.
    """
    policy = settings.policy
    due: list[DueSubject] = []
    # One query for every step's dormancy range (a row may fall in several), then the
    # rows step by step, each step's in the order of its own range.
    ranges = [
        (start - timedelta(days=step.days_after), end - timedelta(days=step.days_after))
        for step in policy.steps
    ]
    in_any = Q(pk__in=[])
    for after, through in ranges:
        in_any |= Q(dormant_at__gt=after, dormant_at__lte=through)
    rows = with_current_segment(
        still_dormant(WinbackDue.objects.filter(in_any, channel_slug=channel)).order_by(
            "dormant_at", "id"
        )
    )
    for index, (step, (after, through)) in enumerate(zip(policy.steps, ranges, strict=True)):
        for row in (row for row in rows if after < row.dormant_at <= through):
            incentive = rules.incentive_for(
                index,
                high_value=row.high_value,
                price_sensitive=row.price_sensitive,
                policy=policy,
            )
            due.append(
                DueSubject(
                    flow=FLOW,
                    subject_kind=SUBJECT_KIND,
                    subject_key=row.customer_key,
                    channel_slug=channel,
                    customer_key=row.customer_key,
                    customer_id=row.customer_id,
                    email=row.email,
                    anchor_at=row.last_order_at,
                    due_at=rules.step_due_at(row.dormant_at, step),
                    cycle=cycle_of(row.last_order_at),
                    step=index + 1,
                    data={
                        "incentive": incentive.kind.value,
                        "discount": incentive.discount,
                        "perk": incentive.perk,
                        "dormant_at": row.dormant_at.isoformat(),
                        "high_value": row.high_value,
                        "price_sensitive": row.price_sensitive,
                        "steps": len(policy.steps),
                    },
                )
            )
    due.sort(key=lambda message: (message.due_at, message.subject_key))
    return due


def winback_still_due(channel: str, customer_key: str, anchor_at: datetime) -> bool:
    """The re-check at send time: no order since the series' anchor, which still counts."""
    return still_dormant(
        WinbackDue.objects.filter(
            channel_slug=channel, customer_key=customer_key, last_order_at=anchor_at
        )
    ).exists()
