"""Purchase metrics of one channel, set-based on PostgreSQL, from ``domain.metrics`` elsewhere.

Every function answers with the dataclasses of ``domain.metrics`` (whose docstrings give
the definitions). On PostgreSQL each is one SQL statement over one row per customer and
order day and one row per customer: the kept summaries (``models.summaries``, kept by
triggers) when they answer for the scope (``ChannelScope.kept``), else tables built by one
pass over the orders for the call (``prepared``); on other databases (the SQLite sandbox)
the channel's orders are loaded once and the pure functions compute the same figures.

Which orders count: purchases (``counts``: not cancelled, draft, unconfirmed or expired)
with a net goods amount above zero (an order refunded in full is no purchase), in the
channel's currency (the currency of most of its orders; orders in another currency are
left out of every figure and counted in ``ChannelScope.other_currency_orders``). Days are
calendar days in ``tz``, the shop's timezone.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Count

from ..domain import metrics
from ..domain.metrics import OrderFact
from ..models import (
    PurchaseDay,
    PurchasedLine,
    PurchasedOrder,
    PurchaseKindDay,
    PurchaseSummary,
    PurchaseSummaryZone,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

REPORT_WORK_MEM = "256MB"
ORDERS = PurchasedOrder._meta.db_table
LINES = PurchasedLine._meta.db_table


@dataclass(frozen=True)
class ChannelScope:
    """One channel's orders as the metrics see them."""

    channel: str
    currency: str | None
    tz: str
    as_of: date
    other_currency_orders: int = 0
    # Whether the kept summaries (``models.summaries``) answer for this scope: PostgreSQL,
    # kept in ``tz`` and no order placed after ``as_of``. Otherwise one pass over the
    # orders builds the same tables for the call (``prepared``).
    kept: bool = False

    @property
    def postgres(self) -> bool:
        return connection.vendor == "postgresql"

    def end_of(self, day: date) -> datetime:
        """The first moment after ``day`` in the shop's timezone."""
        return datetime.combine(day + timedelta(days=1), time(), tzinfo=ZoneInfo(self.tz))


def channel_scope(channel: str, tz: str = "UTC", as_of: date | None = None) -> ChannelScope:
    """The channel's currency (most orders) and how many orders are in other currencies."""
    zone = ZoneInfo(tz)  # raises for an unknown timezone before any query
    as_of = as_of or datetime.now(zone).date()
    by_currency = list(
        PurchasedOrder.objects.filter(channel_slug=channel, counts=True)
        .values_list("currency")
        .annotate(n=Count("id"))
        .order_by("-n", "currency")
    )
    if not by_currency:
        return ChannelScope(channel, None, tz, as_of)
    scope = ChannelScope(channel, by_currency[0][0], tz, as_of, sum(n for _, n in by_currency[1:]))
    return replace(scope, kept=_kept_answers(scope))


def _kept_answers(scope: ChannelScope) -> bool:
    """Whether the kept summaries hold exactly the orders ``scope`` counts."""
    if not scope.postgres:
        return False
    zone = PurchaseSummaryZone.objects.filter(channel_slug=scope.channel).first()
    if (zone.tz if zone else "UTC") != scope.tz:
        return False
    return not PurchasedOrder.objects.filter(
        channel_slug=scope.channel, placed_at__gte=scope.end_of(scope.as_of)
    ).exists()


# --- the fallback: facts loaded once ----------------------------------------------------------


def order_facts(scope: ChannelScope, *, with_lines: bool = False) -> list[OrderFact]:
    """Counted orders up to ``as_of`` as ``OrderFact`` (local days). Loads the channel."""
    zone = ZoneInfo(scope.tz)
    rows = PurchasedOrder.objects.filter(
        channel_slug=scope.channel,
        counts=True,
        currency=scope.currency,
        net_goods_amount__gt=0,
        placed_at__lt=scope.end_of(scope.as_of),
    )
    kinds: dict[int, tuple[set[str], set[str]]] = {}
    if with_lines:
        for order_id, product_type, category in PurchasedLine.objects.filter(
            order__in=rows
        ).values_list("order_id", "product_type_id", "category_id"):
            types, categories = kinds.setdefault(order_id, (set(), set()))
            if product_type:
                types.add(product_type)
            if category:
                categories.add(category)
    facts = []
    for pk, customer, placed_at, amount, discounted in rows.values_list(
        "pk", "customer_key", "placed_at", "net_goods_amount", "used_discount"
    ).iterator(chunk_size=5000):
        types, categories = kinds.get(pk, (set(), set()))
        facts.append(
            OrderFact(
                customer,
                placed_at.astimezone(zone).date(),
                amount,
                discounted,
                frozenset(types),
                frozenset(categories),
            )
        )
    return facts


# --- SQL --------------------------------------------------------------------------------------

# ``NOT MATERIALIZED``: the orders are read where they are used, so PostgreSQL sorts them
# in parallel workers; a materialised CTE (one referenced twice is) copied every order
# first and hid the statistics, which doubled the time of the statements that read it.
_BASE = f"""
WITH o AS NOT MATERIALIZED (
    SELECT po.id, po.customer_key COLLATE "C" AS c,
           (po.placed_at AT TIME ZONE %(tz)s)::date AS d,
           po.net_goods_amount AS a, po.used_discount AS disc
    FROM {ORDERS} po
    WHERE po.channel_slug = %(channel)s AND po.counts AND po.currency = %(currency)s
      AND po.net_goods_amount > 0 AND po.placed_at < %(until)s
)
"""


def _params(scope: ChannelScope, **params: Any) -> dict[str, Any]:
    return {
        "tz": scope.tz,
        "channel": scope.channel,
        "currency": scope.currency,
        "until": scope.end_of(scope.as_of),
        "as_of": scope.as_of,
        **params,
    }


def _tune(cursor: Any) -> None:
    """Session settings for the report's transaction (``SET LOCAL``: undone at its end).

    Sorting a channel's orders by customer must stay in memory, not spill to disk; and
    these statements run once each, so compiling them (JIT) costs more than it saves.
    """
    cursor.execute(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'")
    cursor.execute("SET LOCAL jit = off")


def _query(scope: ChannelScope, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """``sql`` after the ``o``/``x`` CTEs over the channel's counted orders."""
    with transaction.atomic(), connection.cursor() as cursor:
        _tune(cursor)
        cursor.execute(_BASE + sql, _params(scope, **params))
        return list(cursor.fetchall())


# One pass over the orders builds two small tables every other figure reads: one row per
# customer and order day (``report_days``) and one per customer (``report_customers``).
DAYS, CUSTOMERS = "retention_report_days", "retention_report_customers"
_PREPARE = [
    f"DROP TABLE IF EXISTS {DAYS}, {CUSTOMERS}",
    f"""CREATE TEMP TABLE {DAYS} AS {_BASE}
    SELECT c, d, sum(a) AS a, count(*) AS n, count(*) FILTER (WHERE disc) AS disc_n,
           first_value(d) OVER w AS first_day, lag(d) OVER w AS prev_day
    FROM o GROUP BY c, d WINDOW w AS (PARTITION BY c ORDER BY d)""",
    f"""CREATE TEMP TABLE {CUSTOMERS} AS
    SELECT c, min(d) AS first_day, min(d) FILTER (WHERE d > first_day) AS second_day,
           max(d) AS last_day, sum(n)::bigint AS n, sum(a) AS rev,
           sum(disc_n)::bigint AS disc_n,
           count(*) AS days, coalesce(sum(a) FILTER (WHERE d > first_day), 0) AS repeat_rev
    FROM {DAYS} GROUP BY c""",
    # Temporary tables get no statistics from autovacuum: without them every plan below
    # guessed a few thousand rows and picked hashes that spilled to disk.
    f"ANALYZE {DAYS}, {CUSTOMERS}",
]
_prepared: ContextVar[tuple[Any, ...] | None] = ContextVar("retention_report", default=None)


@contextmanager
def prepared(scope: ChannelScope) -> Iterator[None]:
    """Build the per-day and per-customer tables of ``scope`` once for every query inside.

    Reentrant: nested uses of the same scope share the tables. PostgreSQL only.
    """
    key = (scope.channel, scope.tz, scope.currency, scope.as_of)
    if scope.kept or _prepared.get() == key:
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        _tune(cursor)
        for statement in _PREPARE:
            cursor.execute(statement, _params(scope))
        token = _prepared.set(key)
        try:
            yield
        finally:
            _prepared.reset(token)
            cursor.execute(f"DROP TABLE IF EXISTS {DAYS}, {CUSTOMERS}")


# The kept rows under the prepared tables' column names (``c`` in byte order, as there).
KEPT_DAYS = f"""
    SELECT customer_key COLLATE "C" AS c, day AS d, revenue AS a, orders::bigint AS n,
           discount_orders::bigint AS disc_n, first_day, prev_day
    FROM {PurchaseDay._meta.db_table}
    WHERE channel_slug = %(channel)s AND currency = %(currency)s
"""
KEPT_CUSTOMERS = f"""
    SELECT customer_key COLLATE "C" AS c, first_day, second_day, last_day,
           orders::bigint AS n, revenue AS rev, discount_orders::bigint AS disc_n,
           order_days::bigint AS days, repeat_revenue AS repeat_rev
    FROM {PurchaseSummary._meta.db_table}
    WHERE channel_slug = %(channel)s AND currency = %(currency)s
"""
KINDS = PurchaseKindDay._meta.db_table


def customers_source(scope: ChannelScope) -> str:
    """SQL for a FROM clause: one row per customer (``c``, ``first_day``, ... ``repeat_rev``).

    The kept summaries when they answer for ``scope`` (parameters ``channel`` and
    ``currency``), else the table ``prepared`` built.
    """
    return f"({KEPT_CUSTOMERS}) AS kept_customers" if scope.kept else CUSTOMERS


def _days_query(scope: ChannelScope, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """``sql`` over ``days`` and ``customers``: kept, or the prepared tables."""
    if scope.kept:
        with transaction.atomic(), connection.cursor() as cursor:
            _tune(cursor)
            cursor.execute(
                f"WITH days AS NOT MATERIALIZED ({KEPT_DAYS}), "
                f"customers AS NOT MATERIALIZED ({KEPT_CUSTOMERS}) " + sql,
                _params(scope, **params),
            )
            return list(cursor.fetchall())
    with prepared(scope), connection.cursor() as cursor:
        cursor.execute(
            f"WITH days AS NOT MATERIALIZED (SELECT * FROM {DAYS}), "
            f"customers AS NOT MATERIALIZED (SELECT * FROM {CUSTOMERS}) " + sql,
            _params(scope, **params),
        )
        return list(cursor.fetchall())


def repurchase_rate(
    scope: ChannelScope, start: date, end: date, within_days: int = 90,
    facts: Sequence[OrderFact] | None = None,
) -> metrics.RepurchaseRate:  # fmt: skip
    """See ``domain.metrics.RepurchaseRate``; ``within_days`` defaults to 90."""
    if not scope.postgres or facts is not None:
        facts = order_facts(scope) if facts is None else facts
        return metrics.repurchase_rate(facts, start, end, within_days, scope.as_of)
    if scope.currency is None:
        return metrics.repurchase_rate([], start, end, within_days, scope.as_of)
    ((new, in_window, repeated),) = _days_query(
        scope,
        """
        SELECT count(*),
               count(*) FILTER (WHERE first_day + %(n)s > %(as_of)s),
               count(*) FILTER (WHERE first_day + %(n)s <= %(as_of)s
                                AND second_day <= first_day + %(n)s)
        FROM customers WHERE first_day >= %(start)s AND first_day < %(end)s
        """,
        n=within_days,
        start=start,
        end=end,
    )
    ((buyers, repeat_buyers),) = _days_query(
        scope,
        """
        SELECT count(*), count(*) FILTER (WHERE in_period >= 2) FROM (
            SELECT c, count(*) AS in_period FROM days
            WHERE d >= %(start)s AND d < %(end)s GROUP BY c) x
        """,
        start=start,
        end=end,
    )
    return metrics.RepurchaseRate(
        within_days, new, in_window, repeated, metrics.share(repeated, new - in_window),
        buyers, repeat_buyers, metrics.share(repeat_buyers, buyers),
    )  # fmt: skip


def revenue_split(
    scope: ChannelScope, start: date, end: date, facts: Sequence[OrderFact] | None = None
) -> metrics.RevenueSplit:
    if not scope.postgres or facts is not None or scope.currency is None:
        facts = (order_facts(scope) if scope.currency else []) if facts is None else facts
        return metrics.revenue_split(facts, start, end)
    ((orders, revenue, returning, returning_revenue),) = _days_query(
        scope,
        """
        SELECT coalesce(sum(n), 0)::bigint, coalesce(sum(a), 0),
               coalesce(sum(n) FILTER (WHERE d > first_day), 0)::bigint,
               coalesce(sum(a) FILTER (WHERE d > first_day), 0)
        FROM days WHERE d >= %(start)s AND d < %(end)s
        """,
        start=start,
        end=end,
    )
    return metrics.RevenueSplit(
        orders, revenue, returning, returning_revenue, metrics.share(returning_revenue, revenue)
    )


def repurchase_cycle(
    scope: ChannelScope, start: date, end: date, facts: Sequence[OrderFact] | None = None
) -> metrics.CycleSummary:
    """Days between consecutive order days whose later day is in the period."""
    if not scope.postgres or facts is not None or scope.currency is None:
        facts = (order_facts(scope) if scope.currency else []) if facts is None else facts
        return metrics.summarise_gaps(metrics.repurchase_gaps(facts, start, end))
    rows = _days_query(
        scope,
        """
        SELECT d - prev_day, count(*) FROM days
        WHERE prev_day IS NOT NULL AND d >= %(start)s AND d < %(end)s GROUP BY 1
        """,
        start=start,
        end=end,
    )
    return metrics.summarise_gap_counts(dict(rows))


def repurchase_cycle_by(
    scope: ChannelScope, start: date, end: date, dimension: str,
    facts: Sequence[OrderFact] | None = None,
) -> dict[str, metrics.CycleSummary]:  # fmt: skip
    """The cycle per product type (``dimension="product_type"``) or ``"category"``.

    The cycle is the days between a customer's consecutive order days that include that
    type or category.
    """
    if dimension not in {"product_type", "category"}:
        raise ValueError("dimension is product_type or category")
    if not scope.postgres or facts is not None or scope.currency is None:
        facts = (
            (order_facts(scope, with_lines=True) if scope.currency else [])
            if facts is None
            else facts
        )
        keys = {
            key
            for fact in facts
            for key in (fact.product_types if dimension == "product_type" else fact.categories)
        }
        return {
            key: metrics.summarise_gaps(
                metrics.repurchase_gaps(facts, start, end, **{dimension: key})
            )
            for key in sorted(keys)
        }
    if scope.kept:
        by_key: dict[str, dict[int, int]] = {}
        for key, gap, count in _days_query(
            scope,
            f"""
            SELECT kind, day - prev_day, count(*) FROM {KINDS}
            WHERE channel_slug = %(channel)s AND currency = %(currency)s
              AND dimension = %(dimension)s AND prev_day IS NOT NULL
              AND day >= %(start)s AND day < %(end)s
            GROUP BY 1, 2
            """,
            dimension=dimension,
            start=start,
            end=end,
        ):
            by_key.setdefault(key, {})[gap] = count
        return {key: metrics.summarise_gap_counts(by_key[key]) for key in sorted(by_key)}
    # One join of the orders with their lines, grouped (type, customer, day): the gaps come
    # from one sort, and back as counts per (type, gap), not one row per gap.
    rows = _query(
        scope,
        f"""
        , k AS (
            SELECT l.{dimension}_id AS key, o.c, o.d
            FROM o JOIN {LINES} l ON l.order_id = o.id WHERE l.{dimension}_id IS NOT NULL
            GROUP BY 1, 2, 3),
        g AS (SELECT key, d, d - lag(d) OVER (PARTITION BY key, c ORDER BY d) AS gap FROM k)
        SELECT key, gap, count(*) FROM g
        WHERE gap IS NOT NULL AND d >= %(start)s AND d < %(end)s
        GROUP BY key, gap
        """,
        start=start,
        end=end,
    )
    by_key = {}
    for key, gap, count in rows:
        by_key.setdefault(key, {})[gap] = count
    return {key: metrics.summarise_gap_counts(by_key[key]) for key in sorted(by_key)}


def cohorts(
    scope: ChannelScope, start: date, end: date, facts: Sequence[OrderFact] | None = None
) -> list[metrics.Cohort]:
    """Monthly first-order cohorts from the month of ``start`` to before ``end``."""
    if not scope.postgres or facts is not None or scope.currency is None:
        facts = (order_facts(scope) if scope.currency else []) if facts is None else facts
        return metrics.cohorts(facts, start, end, scope.as_of)
    rows = _days_query(
        scope,
        """
        , m AS (
            SELECT a, (date_part('year', first_day) * 12 + date_part('month', first_day) - 1)::int
                       AS cohort,
                   ((date_part('year', d) - date_part('year', first_day)) * 12
                     + date_part('month', d) - date_part('month', first_day))::int AS age,
                   prev_day IS NULL OR date_trunc('month', prev_day) < date_trunc('month', d)
                       AS first_in_month
            FROM days WHERE first_day >= %(start)s AND first_day < %(end)s)
        -- Every cohort customer orders in month 0: its count there is the cohort's size.
        -- A customer counts once in a month: on their first order day of that month (the
        -- previous order day is in an earlier month), so no grouping per customer.
        SELECT cohort, age, count(*) FILTER (WHERE first_in_month), sum(a) FROM m
        GROUP BY cohort, age ORDER BY cohort, age
        """,
        start=start,
        end=end,
    )
    last = metrics.month_index(scope.as_of)
    by_cohort: dict[int, dict[int, tuple[int, Decimal]]] = {}
    sizes: dict[int, int] = {}
    for cohort, age, customers, revenue in rows:
        by_cohort.setdefault(cohort, {})[age] = (customers, revenue)
        if age == 0:
            sizes[cohort] = customers
    result = []
    for cohort in sorted(by_cohort):
        size, running, retention, per_customer = sizes[cohort], Decimal(0), [], []
        for age in range(last - cohort + 1):
            customers, revenue = by_cohort[cohort].get(age, (0, Decimal(0)))
            running += revenue
            retention.append(metrics.share(customers, size) or metrics.ZERO_SHARE)
            per_customer.append((running / size).quantize(Decimal("0.01")))
        result.append(
            metrics.Cohort(metrics.month_of(cohort), size, tuple(retention), tuple(per_customer))
        )
    return result


def formula_ltv(
    scope: ChannelScope, start: date, end: date, lifespan_years: Decimal = Decimal(3),
    facts: Sequence[OrderFact] | None = None,
) -> metrics.FormulaLtv:  # fmt: skip
    if not scope.postgres or facts is not None or scope.currency is None:
        facts = (order_facts(scope) if scope.currency else []) if facts is None else facts
        return metrics.formula_ltv(facts, start, end, lifespan_years)
    ((orders, revenue, customers),) = _days_query(
        scope,
        "SELECT sum(n)::bigint, sum(a), count(DISTINCT c) FROM days "
        "WHERE d >= %(start)s AND d < %(end)s",
        start=start,
        end=end,
    )
    days = (end - start).days
    if not orders or days <= 0:
        return metrics.FormulaLtv(None, None, lifespan_years, None)
    aov = revenue / orders
    per_year = Decimal(orders) / customers * Decimal(365) / Decimal(days)
    return metrics.FormulaLtv(
        aov.quantize(Decimal("0.01")),
        per_year.quantize(Decimal("0.01")),
        lifespan_years,
        (aov * per_year * lifespan_years).quantize(Decimal("0.01")),
    )
