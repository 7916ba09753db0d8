"""Customer segments of one channel: new / active / dormant, RFM, price sensitivity, value.

Definitions are ``domain.metrics.score_customers`` and ``segment_thresholds``: the
thresholds follow the shop's median repurchase cycle over its whole history. On
PostgreSQL one statement scores every customer (``NTILE(5)`` windows, ties by the
customer key in byte order, as the pure function does); elsewhere the pure function runs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..domain import metrics
from ..domain.metrics import CustomerScore, OrderFact
from .lifetime import HighValue, high_value
from .purchases import ChannelScope, _days_query, order_facts, repurchase_cycle

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from django.db.models import QuerySet

    from ..models import CustomerSegment

FIRST_DAY = date(1900, 1, 1)


def thresholds(
    scope: ChannelScope, facts: Sequence[OrderFact] | None = None
) -> metrics.SegmentThresholds:
    """From the median gap between consecutive order days over the whole history."""
    cycle = repurchase_cycle(scope, FIRST_DAY, date.max, facts=facts)
    return metrics.segment_thresholds(cycle.median_days)


def customer_scores(
    scope: ChannelScope,
    limits: metrics.SegmentThresholds | None = None,
    facts: Sequence[OrderFact] | None = None,
    high: HighValue | None = None,
) -> list[CustomerScore]:
    """Every customer's segment and scores as of ``scope.as_of``, by customer key.

    ``high_value`` follows ``high`` (default: ``lifetime.high_value``, the top 10 % by
    predicted lifetime value, or by revenue when the models cannot be fitted).
    """
    limits = limits or thresholds(scope, facts)
    if not scope.postgres or facts is not None or scope.currency is None:
        facts = (order_facts(scope) if scope.currency else []) if facts is None else facts
        scores = metrics.score_customers(facts, scope.as_of, limits)
    else:
        rows = _days_query(
            scope,
            """
            SELECT c, first_day, last_day, n, rev, disc_n,
                   ntile(5) OVER (ORDER BY %(as_of)s - last_day DESC, c),
                   ntile(5) OVER (ORDER BY n, c),
                   ntile(5) OVER (ORDER BY rev, c)
            FROM customers ORDER BY c
            """,
        )
        scores = []
        for c, first_day, last_day, n, revenue, discounted, r, f, m in rows:
            if (scope.as_of - first_day).days < limits.new_days:
                segment = "new"
            elif (scope.as_of - last_day).days < limits.active_days:
                segment = "active"
            else:
                segment = "dormant"
            scores.append(
                CustomerScore(
                    c, segment, n, revenue, (scope.as_of - last_day).days, r, f, m,
                    metrics.share(discounted, n) or metrics.ZERO_SHARE, False,
                )
            )  # fmt: skip
    high = high_value(scope, facts) if high is None else high
    return [replace(score, high_value=score.customer in high.keys) for score in scores]


@dataclass(frozen=True)
class SegmentSizes:
    """How many customers are in each segment, and what they brought in (all time)."""

    thresholds: metrics.SegmentThresholds
    customers: int
    by_segment: dict[str, int]
    revenue_by_segment: dict[str, Decimal]
    high_value: int
    high_value_revenue: Decimal
    discount_driven: int
    # Customers per (recency score, frequency score), 5 best.
    recency_frequency: dict[tuple[int, int], int]
    # What ranks the high-value customers: "predicted_value" (the next
    # ``high_value_horizon_weeks`` weeks) or "revenue" when the models cannot be fitted.
    high_value_basis: str = "revenue"
    high_value_horizon_weeks: int = 0
    high_value_fallback_reason: str = ""


def segment_sizes(
    scope: ChannelScope, facts: Sequence[OrderFact] | None = None, high: HighValue | None = None
) -> SegmentSizes:
    """Customers and revenue per segment; high value from ``high`` (see ``customer_scores``)."""
    limits = thresholds(scope, facts)
    high = high_value(scope, facts) if high is None else high
    if scope.postgres and facts is None and scope.currency is not None:
        return _segment_sizes_in_sql(scope, limits, high)
    scores = customer_scores(scope, limits, facts, high)
    by_segment = Counter({"new": 0, "active": 0, "dormant": 0})
    revenue: dict[str, Decimal] = {"new": Decimal(0), "active": Decimal(0), "dormant": Decimal(0)}
    for score in scores:
        by_segment[score.segment] += 1
        revenue[score.segment] += score.revenue
    return SegmentSizes(
        limits,
        len(scores),
        dict(by_segment),
        revenue,
        sum(score.high_value for score in scores),
        sum((score.revenue for score in scores if score.high_value), Decimal(0)),
        sum(
            score.orders >= 2 and score.discount_share >= metrics.DISCOUNT_DRIVEN_SHARE
            for score in scores
        ),
        dict(Counter((score.recency_score, score.frequency_score) for score in scores)),
        high.basis,
        high.horizon_weeks,
        high.fallback_reason,
    )


def stored_segment_sizes(scope: ChannelScope, cycle_days: int, high: HighValue) -> SegmentSizes:
    """``segment_sizes`` from the rows the segment refresh stored for ``scope``.

    Only when they are current (``lifetime.stored_prediction`` said so): they hold the
    same scores the SQL of ``segment_sizes`` computes, one aggregate reads them.
    """
    from django.db.models import Count, Q, Sum

    from ..models import CustomerSegment

    rows = (
        CustomerSegment.objects.filter(channel_slug=scope.channel)
        .values_list("segment", "recency_score", "frequency_score")
        .annotate(
            n=Count("id"), rev=Sum("revenue"), driven=Count("id", filter=Q(discount_driven=True))
        )
        .order_by()
    )
    return _sizes_from_grid(metrics.segment_thresholds(cycle_days), rows, high)


def tiers_by_customer(channel: str) -> dict[str, str]:
    """Customer key -> code of the member's current tier in the channel."""
    from ..models import CustomerTier

    return {
        f"customer:{customer_id}": code
        for customer_id, code in CustomerTier.objects.filter(
            channel_slug=channel, account__customer_id__isnull=False
        ).values_list("account__customer_id", "tier__code")
    }


def repurchase_by_segment(
    scope: ChannelScope,
    start: date,
    end: date,
    limits: metrics.SegmentThresholds | None = None,
    facts: Sequence[OrderFact] | None = None,
) -> list[metrics.GroupRepurchase]:
    """``domain.metrics.repurchase_by_segment`` for the channel (segments and tiers)."""
    limits = limits or thresholds(scope, facts)
    tier_of = tiers_by_customer(scope.channel)
    if not scope.postgres or facts is not None or scope.currency is None:
        facts = (order_facts(scope) if scope.currency else []) if facts is None else facts
        return metrics.repurchase_by_segment(facts, start, end, limits, tier_of)
    rows = _days_query(
        scope,
        """
        SELECT c, first_day, max(d) FILTER (WHERE d < %(start)s),
               bool_or(d >= %(start)s AND d < %(end)s)
        FROM days WHERE first_day < %(start)s GROUP BY c, first_day
        """,
        start=start,
        end=end,
    )
    return metrics.group_repurchase(
        (
            (c, metrics.segment_at_start(first_day, last_before, start, limits), ordered)
            for c, first_day, last_before, ordered in rows
        ),
        tier_of,
    )


def _segment_sizes_in_sql(
    scope: ChannelScope, limits: metrics.SegmentThresholds, high: HighValue
) -> SegmentSizes:
    """``segment_sizes`` aggregated in PostgreSQL: at most 75 rows come back."""
    rows = _days_query(
        scope,
        """
        , scored AS (
            SELECT n, rev, disc_n,
                   CASE WHEN %(as_of)s - first_day < %(new_days)s THEN 'new'
                        WHEN %(as_of)s - last_day < %(active_days)s THEN 'active'
                        ELSE 'dormant' END AS segment,
                   ntile(5) OVER (ORDER BY %(as_of)s - last_day DESC, c) AS r,
                   ntile(5) OVER (ORDER BY n, c) AS f
            FROM customers)
        SELECT segment, r, f, count(*), sum(rev),
               count(*) FILTER (WHERE n >= 2 AND round(disc_n::numeric / n, 4) >= %(driven)s)
        FROM scored GROUP BY segment, r, f
        """,
        new_days=limits.new_days,
        active_days=limits.active_days,
        driven=metrics.DISCOUNT_DRIVEN_SHARE,
    )
    return _sizes_from_grid(limits, rows, high)


def _sizes_from_grid(
    limits: metrics.SegmentThresholds, rows: Iterable[tuple[Any, ...]], high: HighValue
) -> SegmentSizes:
    """``SegmentSizes`` from (segment, R, F, customers, revenue, discount-driven) rows."""
    by_segment = {"new": 0, "active": 0, "dormant": 0}
    revenue = {"new": Decimal(0), "active": Decimal(0), "dormant": Decimal(0)}
    grid: Counter[tuple[int, int]] = Counter()
    driven = 0
    for segment, r, f, count, rev, driven_count in rows:
        by_segment[segment] += count
        revenue[segment] += rev
        grid[(r, f)] += count
        driven += driven_count
    return SegmentSizes(
        limits,
        sum(by_segment.values()),
        by_segment,
        revenue,
        high.customers,
        high.revenue,
        driven,
        dict(grid),
        high.basis,
        high.horizon_weeks,
        high.fallback_reason,
    )


# --- the stored segments (services.segments.refresh_segments writes them) --------------------

SEGMENT_NAMES = ("new", "active", "dormant", "high_value", "discount_driven")


def customers_in_segment(channel: str, segment: str) -> QuerySet[CustomerSegment]:
    """The stored rows of ``channel``'s customers in ``segment``, by customer key.

    ``segment`` is ``new``, ``active``, ``dormant``, ``high_value``, ``discount_driven``, or
    an RFM pattern ``rfm:RFM`` of three scores 1-5 where ``*`` means any and a score means
    that score or better (``rfm:5**``: recency 5; ``rfm:*44``: frequency and monetary 4
    or 5). As fresh as the last refresh (``computed_at``). Raises ``ValueError`` for an
    unknown segment.
    """
    from ..models import CustomerSegment

    rows = CustomerSegment.objects.filter(channel_slug=channel).order_by("customer_key")
    if segment in {"new", "active", "dormant"}:
        return rows.filter(segment=segment)
    if segment in {"high_value", "discount_driven"}:
        return rows.filter(**{segment: True})
    pattern = segment.removeprefix("rfm:")
    if (
        segment.startswith("rfm:")
        and len(pattern) == 3
        and all(part == "*" or part in "12345" for part in pattern)
    ):
        fields = ("recency_score", "frequency_score", "monetary_score")
        return rows.filter(
            **{f"{field}__gte": int(part) for field, part in zip(fields, pattern, strict=True)
               if part != "*"}
        )  # fmt: skip
    raise ValueError(
        f"Unknown segment {segment!r}: use one of {', '.join(SEGMENT_NAMES)} "
        "or an RFM pattern such as rfm:5** or rfm:*44."
    )
