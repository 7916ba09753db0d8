"""Refresh the stored customer segments of a channel (``models.CustomerSegment``).

``refresh_segments`` rescores every customer with a counted order in the channel as of a
day (default: today in the shop's timezone) and makes the stored rows exactly that set:
new and changed customers are upserted, customers who no longer have a counted order
(say, every order refunded) are deleted. Idempotent: the same history and day give the
same rows, whatever ran before.

Definitions (docs/analytics.md, ``domain.metrics.score_customers``): new / active /
dormant by the shop's median repurchase cycle C (new: first order < C days ago; active:
last order < 2C days ago; dormant otherwise), RFM quintiles 1-5 (5 best), the share of
orders with a discount (discount-driven: two orders or more, at least half discounted),
high value: the top 10 % by predicted lifetime value (BG/NBD x Gamma-Gamma, the next
52 weeks; ``selectors.lifetime.high_value``), by net goods amount when the models cannot be
fitted (``SegmentRefresh.high_value_basis`` says which).

On PostgreSQL it is set-based: the channel's kept purchase summaries are moved to ``tz``
first when kept in another timezone (``services.purchase_summaries``), the per-customer
rows are read from them (or built by one pass over the orders when they do not answer for
``as_of``), the models are fitted and every customer predicted, and one
``INSERT ... SELECT ... ON CONFLICT`` scores and writes every customer with their
prediction, then one ``DELETE`` drops those who left, and the fit is stored
(``SegmentFit``, which the report reuses while it is current); all in one transaction, so
readers see the old set or the new one, never a mix. Elsewhere (the SQLite sandbox) the
pure function scores the loaded orders and the rows are replaced in batches of ``BATCH``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.utils import timezone

from ..domain import metrics
from ..models import CustomerSegment, PurchasedOrder, SegmentFit
from ..selectors import lifetime, purchases, segments
from . import purchase_summaries

if TYPE_CHECKING:
    from datetime import date, datetime

SEGMENT_TABLE = CustomerSegment._meta.db_table
BATCH = 2000


@dataclass(frozen=True)
class SegmentRefresh:
    """What one refresh wrote: customers scored, per segment, and stale rows removed."""

    channel: str
    as_of: date
    cycle_days: int
    customers: int
    by_segment: dict[str, int]
    removed: int
    high_value_basis: str = "revenue"
    high_value_fallback_reason: str = ""


def channels_with_orders() -> list[str]:
    """Channels that have at least one order in the purchase history, by slug."""
    return sorted(
        PurchasedOrder.objects.values_list("channel_slug", flat=True).distinct().order_by()
    )


def refresh_segments(channel: str, tz: str = "UTC", as_of: date | None = None) -> SegmentRefresh:
    """Rescore and store every customer of ``channel`` as of ``as_of`` (local day in ``tz``).

    Raises ``ZoneInfoNotFoundError`` (a ``KeyError``) for an unknown timezone, before
    writing anything.
    """
    # Before ``computed_at``: a rebuild for a new timezone is older than the fit.
    purchase_summaries.keep_summaries_in(channel, tz)
    scope = purchases.channel_scope(channel, tz, as_of)
    computed_at = timezone.now()
    with transaction.atomic():
        high = None
        if scope.currency is None:
            limits = metrics.segment_thresholds(None)
            written = 0
        elif scope.postgres:
            with purchases.prepared(scope):
                limits = segments.thresholds(scope)
                fitted_at = _database_clock()
                table = lifetime.customer_table(scope)
                started = time.perf_counter()
                fit = lifetime.fit_models(table)
                high = lifetime.high_value(scope, table=table, fit=fit)
                predicted = lifetime.predictions(table, fit)
                fit_seconds = time.perf_counter() - started
                written = _upsert_in_sql(scope, limits, high, computed_at, table, predicted)
            _store_fit(scope, table, fit, fitted_at, fit_seconds)
        else:
            limits = segments.thresholds(scope)
            facts = purchases.order_facts(scope)
            high = lifetime.high_value(scope, facts)
            written = _replace_from_scores(scope, limits, facts, high, computed_at)
        if high is None or not scope.postgres:
            SegmentFit.objects.filter(channel_slug=channel).delete()
        removed = 0
        if scope.postgres or scope.currency is None:
            # From scores, every row of the channel was replaced above: none older is left.
            removed, _ = (
                CustomerSegment.objects.filter(channel_slug=channel)
                .exclude(computed_at=computed_at)
                .delete()
            )
    by_segment = dict.fromkeys(("new", "active", "dormant"), 0)
    for segment, count in _counts(channel):
        by_segment[segment] = count
    return SegmentRefresh(
        channel, scope.as_of, limits.cycle_days, written, by_segment, removed,
        high.basis if high else "revenue", high.fallback_reason if high else "",
    )  # fmt: skip


def _counts(channel: str) -> list[tuple[str, int]]:
    from django.db.models import Count

    return list(
        CustomerSegment.objects.filter(channel_slug=channel)
        .values_list("segment")
        .annotate(n=Count("id"))
        .order_by()
    )


_COLUMNS = (
    "channel_slug, customer_key, segment, cycle_days, orders, revenue, currency, "
    "first_order_on, last_order_on, recency_score, frequency_score, monetary_score, "
    "discount_share, discount_driven, high_value, probability_alive, expected_orders, "
    "expected_value, as_of, computed_at"
)


def _database_clock() -> datetime:
    """The database's clock now: what the kept summaries' ``updated_at`` is compared with.

    A summary written after this is newer than the fit. One written before by a
    transaction that commits after the fit read is missed until the next refresh.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        (now,) = cursor.fetchone()
    return now


def _store_fit(
    scope: purchases.ChannelScope,
    table: lifetime.CustomerTable,
    fit: lifetime.Fit,
    fitted_at: datetime,
    seconds: float,
) -> None:
    """The channel's one ``SegmentFit`` row: what was fitted, on what, as of when."""
    record = lifetime.fit_record(fit)
    SegmentFit.objects.update_or_create(
        channel_slug=scope.channel,
        defaults={
            "currency": scope.currency or "",
            "tz": scope.tz,
            "as_of": scope.as_of,
            "fitted_at": fitted_at,
            "customers": len(table),
            "repeat_customers": sum(1 for x in table.frequency if x > 0),
            "distinct_rows": record["distinct_rows"],
            "horizon_weeks": lifetime.HORIZON_WEEKS,
            "bg_nbd": record["bg_nbd"],
            "gamma_gamma": record["gamma_gamma"],
            "unavailable": record["unavailable"],
            "fit_seconds": round(seconds, 3),
        },
    )


def _upsert_in_sql(
    scope: purchases.ChannelScope,
    limits: metrics.SegmentThresholds,
    high: lifetime.HighValue,
    computed_at: datetime,
    table: lifetime.CustomerTable,
    predicted: Any,
) -> int:
    alive, orders, values = (
        [column.tolist() for column in predicted] if predicted is not None else ([], [], [])
    )
    updates = ", ".join(
        f"{column} = EXCLUDED.{column}"
        for column in _COLUMNS.replace(" ", "").split(",")
        if column not in {"channel_slug", "customer_key"}
    )
    sql = f"""
        INSERT INTO {SEGMENT_TABLE} ({_COLUMNS})
        SELECT %(channel)s, c,
               CASE WHEN %(as_of)s - first_day < %(new_days)s THEN 'new'
                    WHEN %(as_of)s - last_day < %(active_days)s THEN 'active'
                    ELSE 'dormant' END,
               %(cycle)s, n, rev, %(currency)s, first_day, last_day,
               ntile(5) OVER (ORDER BY %(as_of)s - last_day DESC, c),
               ntile(5) OVER (ORDER BY n, c),
               ntile(5) OVER (ORDER BY rev, c),
               round(disc_n::numeric / n, 4),
               n >= 2 AND round(disc_n::numeric / n, 4) >= %(driven)s,
               high.key IS NOT NULL,
               p.alive, p.orders, p.value,
               %(as_of)s, %(computed_at)s
        FROM {purchases.customers_source(scope)}
        -- A hash join with the high-value keys, not ``c = ANY(array)`` (a scan of the
        -- array for each customer: 200 thousand x 20 thousand comparisons).
        LEFT JOIN (SELECT DISTINCT unnest(%(high)s::text[]) COLLATE "C" AS key) high
            ON high.key = c
        -- The refresh's predictions, one row per customer (none without a fit).
        LEFT JOIN (SELECT unnest(%(keys)s::text[]) COLLATE "C" AS key,
                          unnest(%(alive)s::float8[]) AS alive,
                          unnest(%(orders)s::float8[]) AS orders,
                          unnest(%(values)s::float8[]) AS value) p
            ON p.key = c
        ON CONFLICT (channel_slug, customer_key) DO UPDATE SET {updates}
    """
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                "channel": scope.channel,
                "currency": scope.currency,
                "as_of": scope.as_of,
                "new_days": limits.new_days,
                "active_days": limits.active_days,
                "cycle": limits.cycle_days,
                "driven": metrics.DISCOUNT_DRIVEN_SHARE,
                "high": sorted(high.keys),
                "computed_at": computed_at,
                "keys": table.keys if predicted is not None else [],
                "alive": alive,
                "orders": orders,
                "values": values,
            },
        )
        return int(cursor.rowcount)


def _replace_from_scores(
    scope: purchases.ChannelScope,
    limits: metrics.SegmentThresholds,
    facts: list[metrics.OrderFact],
    high: lifetime.HighValue,
    computed_at: datetime,
) -> int:
    days: dict[str, list[date]] = {}
    for fact in facts:
        days.setdefault(fact.customer, []).append(fact.day)
    scores = metrics.score_customers(facts, scope.as_of, limits)
    CustomerSegment.objects.filter(channel_slug=scope.channel).delete()
    rows = [
        CustomerSegment(
            channel_slug=scope.channel,
            customer_key=score.customer,
            segment=score.segment,
            cycle_days=limits.cycle_days,
            orders=score.orders,
            revenue=score.revenue,
            currency=scope.currency or "",
            first_order_on=min(days[score.customer]),
            last_order_on=max(days[score.customer]),
            recency_score=score.recency_score,
            frequency_score=score.frequency_score,
            monetary_score=score.monetary_score,
            discount_share=score.discount_share,
            discount_driven=score.orders >= 2
            and score.discount_share >= metrics.DISCOUNT_DRIVEN_SHARE,
            high_value=score.customer in high.keys,
            as_of=scope.as_of,
            computed_at=computed_at,
        )
        for score in scores
    ]
    CustomerSegment.objects.bulk_create(rows, batch_size=BATCH)
    return len(rows)
