"""Retention metrics as pure functions over a channel's orders (no Django, no Saleor).

These are the definitions (docs/analytics.md repeats them for merchants) and the
implementation used on databases without PostgreSQL (the SQLite sandbox); on PostgreSQL
``selectors.analytics`` computes the same figures set-based in SQL, and the tests hold
both to the same hand-computed values.

Input: ``OrderFact`` per counted order (not cancelled, draft, unconfirmed or expired),
with ``day`` the local calendar day in the shop's timezone (so a DST change moves no
order to another day) and ``amount`` the net goods amount after refunds in the channel's
currency. A customer's *first order* is their first counted order ever in the channel; a
*returning order* is one placed on a later day than the customer's first. Days between
orders are calendar days. Periods are half-open: ``start <= day < end``.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

# The holdout experiments' statistics live in ``experiments``; importable from here too.
from .experiments import MIN_PER_CELL as MIN_PER_CELL
from .experiments import Z_95 as Z_95
from .experiments import Uplift as Uplift
from .experiments import uplift as uplift
from .experiments import wilson_interval as wilson_interval

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

CYCLE_BUCKETS = (7, 14, 30, 60, 90, 180, 365)
DEFAULT_CYCLE_DAYS = 30
# The cycle that drives the segments is clamped to this range (days).
CYCLE_RANGE = (7, 365)


@dataclass(frozen=True)
class OrderFact:
    customer: str
    day: date
    amount: Decimal
    discounted: bool = False
    product_types: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()


def _by_customer(facts: Iterable[OrderFact]) -> dict[str, list[OrderFact]]:
    grouped: dict[str, list[OrderFact]] = defaultdict(list)
    for fact in facts:
        grouped[fact.customer].append(fact)
    for orders in grouped.values():
        orders.sort(key=lambda fact: fact.day)
    return grouped


ZERO_SHARE = Decimal("0.0000")


def share(part: int | Decimal, whole: int | Decimal) -> Decimal | None:
    """``part / whole`` to 4 decimals (0.1234 = 12.34 %); None when ``whole`` is 0."""
    if not whole:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"))


# --- repurchase -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RepurchaseRate:
    """``within_days`` rate: of the customers whose first order fell in the period and whose
    window has closed by ``as_of``, how many ordered again on a later day within
    ``within_days`` days. ``simple``: of the customers who ordered in the period, how many
    ordered on two or more days in it (the seeds' 复购率)."""

    within_days: int
    new_customers: int
    new_customers_in_window: int
    repeated: int
    rate: Decimal | None
    buyers: int
    repeat_buyers: int
    simple_rate: Decimal | None


def repurchase_rate(
    facts: Iterable[OrderFact], start: date, end: date, within_days: int, as_of: date
) -> RepurchaseRate:
    new = in_window = repeated = buyers = repeat_buyers = 0
    for orders in _by_customer(facts).values():
        first = orders[0].day
        if start <= first < end:
            new += 1
            if first + timedelta(days=within_days) > as_of:
                in_window += 1
            else:
                limit = first + timedelta(days=within_days)
                repeated += any(first < o.day <= limit for o in orders)
        days_in = {o.day for o in orders if start <= o.day < end}
        buyers += bool(days_in)
        repeat_buyers += len(days_in) >= 2
    matured = new - in_window
    return RepurchaseRate(
        within_days,
        new,
        in_window,
        repeated,
        share(repeated, matured),
        buyers,
        repeat_buyers,
        share(repeat_buyers, buyers),
    )


@dataclass(frozen=True)
class RevenueSplit:
    """Revenue in the period from first-day orders and from returning orders."""

    orders: int
    revenue: Decimal
    returning_orders: int
    returning_revenue: Decimal
    returning_share: Decimal | None

    @property
    def new_revenue(self) -> Decimal:
        return self.revenue - self.returning_revenue


def revenue_split(facts: Iterable[OrderFact], start: date, end: date) -> RevenueSplit:
    orders = returning = 0
    revenue = returning_revenue = Decimal(0)
    for customer_orders in _by_customer(facts).values():
        first = customer_orders[0].day
        for fact in customer_orders:
            if start <= fact.day < end:
                orders += 1
                revenue += fact.amount
                if fact.day > first:
                    returning += 1
                    returning_revenue += fact.amount
    return RevenueSplit(
        orders, revenue, returning, returning_revenue, share(returning_revenue, revenue)
    )


# --- cycle ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CycleSummary:
    """Days between a customer's consecutive order days, for later days in the period.

    ``histogram``: (upper bound in days, count) per bucket of ``CYCLE_BUCKETS`` (a gap
    counts in the first bucket whose bound it does not exceed) and (None, count) above.
    """

    gaps: int
    median_days: float | None
    histogram: tuple[tuple[int | None, int], ...] = field(default=())


def repurchase_gaps(
    facts: Iterable[OrderFact],
    start: date,
    end: date,
    *,
    product_type: str | None = None,
    category: str | None = None,
) -> list[int]:
    gaps: list[int] = []
    for orders in _by_customer(facts).values():
        days = sorted(
            {
                o.day
                for o in orders
                if (product_type is None or product_type in o.product_types)
                and (category is None or category in o.categories)
            }
        )
        gaps.extend(
            (later - earlier).days
            for earlier, later in itertools.pairwise(days)
            if start <= later < end
        )
    return gaps


def summarise_gaps(gaps: Sequence[int]) -> CycleSummary:
    counts = [0] * (len(CYCLE_BUCKETS) + 1)
    for gap in gaps:
        index = next((i for i, bound in enumerate(CYCLE_BUCKETS) if gap <= bound), -1)
        counts[index] += 1
    bounds: list[int | None] = [*CYCLE_BUCKETS, None]
    return CycleSummary(
        len(gaps),
        float(statistics.median(gaps)) if gaps else None,
        tuple(zip(bounds, counts, strict=True)),
    )


def summarise_gap_counts(counts: Mapping[int, int]) -> CycleSummary:
    """``summarise_gaps`` from how many times each gap (days) occurs: the same summary.

    What PostgreSQL hands back (one row per distinct gap) instead of every gap: the median
    is the middle gap, or the mean of the two middle gaps, as ``statistics.median``.
    """
    total = sum(counts.values())
    buckets = [0] * (len(CYCLE_BUCKETS) + 1)
    middle: list[int] = []
    wanted = [(total - 1) // 2, total // 2] if total else []
    seen = 0
    for gap, count in sorted(counts.items()):
        index = next((i for i, bound in enumerate(CYCLE_BUCKETS) if gap <= bound), -1)
        buckets[index] += count
        seen += count
        while wanted and wanted[0] < seen:
            middle.append(gap)
            wanted.pop(0)
    bounds: list[int | None] = [*CYCLE_BUCKETS, None]
    return CycleSummary(
        total,
        (middle[0] + middle[1]) / 2 if total else None,
        tuple(zip(bounds, buckets, strict=True)),
    )


# --- cohorts and LTV --------------------------------------------------------------------------


def month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def month_of(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Cohort:
    """Customers whose first order fell in ``month``; per month of age 0, 1, 2... up to
    ``as_of``: the share who ordered in that month and the revenue per cohort customer so
    far (cumulative)."""

    month: date
    customers: int
    retention: tuple[Decimal, ...]
    revenue_per_customer: tuple[Decimal, ...]


def cohorts(facts: Iterable[OrderFact], start: date, end: date, as_of: date) -> list[Cohort]:
    active: dict[int, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    revenue: dict[int, dict[int, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    sizes: dict[int, int] = defaultdict(int)
    for customer, orders in _by_customer(facts).items():
        first = orders[0].day
        if not start <= first < end:
            continue
        cohort = month_index(first)
        sizes[cohort] += 1
        for fact in orders:
            age = month_index(fact.day) - cohort
            active[cohort][age].add(customer)
            revenue[cohort][age] += fact.amount
    last = month_index(as_of)
    result = []
    for cohort in sorted(sizes):
        size = sizes[cohort]
        ages = range(last - cohort + 1)
        running = Decimal(0)
        per_customer = []
        for age in ages:
            running += revenue[cohort].get(age, Decimal(0))
            per_customer.append((running / size).quantize(Decimal("0.01")))
        result.append(
            Cohort(
                month_of(cohort),
                size,
                tuple(share(len(active[cohort].get(age, ())), size) or ZERO_SHARE for age in ages),
                tuple(per_customer),
            )
        )
    return result


@dataclass(frozen=True)
class FormulaLtv:
    """The seeds' LTV = average order value x orders per customer per year x lifespan years.

    AOV and orders per year are measured over the period (orders per customer scaled to
    365 days); ``lifespan_years`` is the merchant's assumption (the seed's example: 3).
    """

    average_order_value: Decimal | None
    orders_per_year: Decimal | None
    lifespan_years: Decimal
    ltv: Decimal | None


def formula_ltv(
    facts: Iterable[OrderFact], start: date, end: date, lifespan_years: Decimal
) -> FormulaLtv:
    in_period = [f for f in facts if start <= f.day < end]
    customers = len({f.customer for f in in_period})
    days = (end - start).days
    if not in_period or days <= 0:
        return FormulaLtv(None, None, lifespan_years, None)
    aov = sum((f.amount for f in in_period), Decimal(0)) / len(in_period)
    per_year = Decimal(len(in_period)) / customers * Decimal(365) / Decimal(days)
    return FormulaLtv(
        aov.quantize(Decimal("0.01")),
        per_year.quantize(Decimal("0.01")),
        lifespan_years,
        (aov * per_year * lifespan_years).quantize(Decimal("0.01")),
    )


# --- segments -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentThresholds:
    """new: first order within ``new_days``; active: last order within ``active_days``;
    dormant: last order longer ago. Both follow the shop's median repurchase cycle C
    (clamped to 7-365 days; 30 when the shop has no repeat orders yet): new = C, active = 2C.
    """

    cycle_days: int
    new_days: int
    active_days: int


def segment_thresholds(median_cycle_days: float | None) -> SegmentThresholds:
    if median_cycle_days is None:
        cycle = DEFAULT_CYCLE_DAYS
    else:
        cycle = min(max(round(median_cycle_days), CYCLE_RANGE[0]), CYCLE_RANGE[1])
    return SegmentThresholds(cycle, cycle, 2 * cycle)


@dataclass(frozen=True)
class CustomerScore:
    customer: str
    segment: str
    orders: int
    revenue: Decimal
    days_since_last: int
    recency_score: int
    frequency_score: int
    monetary_score: int
    discount_share: Decimal
    high_value: bool

    @property
    def rfm(self) -> str:
        return f"{self.recency_score}{self.frequency_score}{self.monetary_score}"


def ntile(count: int, buckets: int = 5) -> list[int]:
    """SQL's ``NTILE(buckets)`` over ``count`` ordered rows: bucket 1..buckets per row."""
    base, extra = divmod(count, buckets)
    scores: list[int] = []
    for bucket in range(1, buckets + 1):
        scores.extend([bucket] * (base + (1 if bucket <= extra else 0)))
    return scores


HIGH_VALUE_SHARE = Decimal("0.1")
DISCOUNT_DRIVEN_SHARE = Decimal("0.5")


def top_share(values: Mapping[str, Any], portion: Decimal = HIGH_VALUE_SHARE) -> set[str]:
    """The keys of the ``ceil(portion x n)`` highest values (numbers), ties by key.

    The high-value rule: applied to predicted lifetime value, or to realised revenue when
    no prediction can be made. An empty mapping gives an empty set.
    """
    top = math.ceil(len(values) * portion)
    return set(sorted(values, key=lambda key: (-values[key], key))[:top])


def score_customers(
    facts: Iterable[OrderFact], as_of: date, thresholds: SegmentThresholds
) -> list[CustomerScore]:
    """Segment, RFM quintile scores (5 best), discount share and high value per customer.

    Quintiles are NTILE(5) over customers ordered from worst to best (recency: most days
    since the last order first; ties by the customer key). High value here: the top 10 % by
    revenue (rounded up), the rule when no prediction can be made; the selectors replace
    it by the top 10 % of predicted lifetime value (``selectors.lifetime.high_value``).
    Only orders up to ``as_of`` count.
    """
    grouped = {
        customer: [o for o in orders if o.day <= as_of]
        for customer, orders in _by_customer(facts).items()
    }
    grouped = {customer: orders for customer, orders in grouped.items() if orders}
    base = {}
    for customer, orders in grouped.items():
        first, last = orders[0].day, orders[-1].day
        if (as_of - first).days < thresholds.new_days:
            segment = "new"
        elif (as_of - last).days < thresholds.active_days:
            segment = "active"
        else:
            segment = "dormant"
        base[customer] = (
            segment,
            len(orders),
            sum((o.amount for o in orders), Decimal(0)),
            (as_of - last).days,
            share(sum(o.discounted for o in orders), len(orders)) or ZERO_SHARE,
        )
    n = len(base)

    def scores(key: Callable[[tuple[str, int, Decimal, int, Decimal]], Any]) -> dict[str, int]:
        ordered = sorted(base, key=lambda customer: (key(base[customer]), customer))
        return dict(zip(ordered, ntile(n), strict=True))

    recency = scores(lambda row: -row[3])
    frequency = scores(lambda row: row[1])
    monetary = scores(lambda row: row[2])
    high_value = top_share({customer: row[2] for customer, row in base.items()})
    return [
        CustomerScore(
            customer,
            row[0],
            row[1],
            row[2],
            row[3],
            recency[customer],
            frequency[customer],
            monetary[customer],
            row[4],
            customer in high_value,
        )
        for customer, row in sorted(base.items())
    ]


@dataclass(frozen=True)
class GroupRepurchase:
    """Of a group's customers (who had ordered before the period), how many ordered in it."""

    group: str
    customers: int
    ordered: int
    rate: Decimal | None


def segment_at_start(
    first_day: date, last_before: date, start: date, thresholds: SegmentThresholds
) -> str:
    """A customer's segment on the day before the period: the report's "by segment"."""
    if (start - first_day).days <= thresholds.new_days:
        return "new"
    if (start - last_before).days <= thresholds.active_days:
        return "active"
    return "dormant"


def repurchase_by_segment(
    facts: Iterable[OrderFact],
    start: date,
    end: date,
    thresholds: SegmentThresholds,
    tier_of: dict[str, str] | None = None,
) -> list[GroupRepurchase]:
    """Repurchase of customers who had ordered before ``start``: per segment on the day
    before the period (new / active / dormant, thresholds as in ``SegmentThresholds``
    counted from ``start``), and per membership tier (``tier_of``: customer key -> tier
    code; everyone else is ``non-member``). The rate is the share who ordered in the period.
    """
    rows = []
    for customer, orders in _by_customer(facts).items():
        before = [o.day for o in orders if o.day < start]
        if not before:
            continue
        ordered = any(start <= o.day < end for o in orders)
        rows.append((customer, segment_at_start(before[0], before[-1], start, thresholds), ordered))
    return group_repurchase(rows, tier_of or {})


def group_repurchase(
    rows: Iterable[tuple[str, str, bool]], tier_of: dict[str, str]
) -> list[GroupRepurchase]:
    """Counts per segment and per tier from (customer, segment, ordered in the period)."""
    counts: dict[str, list[int]] = {
        name: [0, 0] for name in ("new", "active", "dormant", "non-member")
    }
    for customer, segment, ordered in rows:
        for group in (
            segment,
            f"tier:{tier_of[customer]}" if customer in tier_of else "non-member",
        ):
            tally = counts.setdefault(group, [0, 0])
            tally[0] += 1
            tally[1] += ordered
    return [
        GroupRepurchase(group, total, ordered, share(ordered, total))
        for group, (total, ordered) in counts.items()
    ]
