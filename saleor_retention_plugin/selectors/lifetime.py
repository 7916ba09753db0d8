"""Predicted customer value of one channel: BG/NBD and Gamma-Gamma fitted on its history.

Time unit: weeks. Each customer's frequency, recency and age are computed from their
order days up to ``as_of`` (``domain.btyd.summarise_purchases``; on PostgreSQL in SQL from
the report's per-customer table, one row per customer loaded once), the models are fitted
by maximum likelihood (SciPy, the ``analytics`` extra) on the distinct rows, and each
customer gets P(alive), expected orders in the next ``horizon_weeks`` and their expected
value (expected orders x Gamma-Gamma expected order value): the predicted lifetime value
that ranks the high-value segment (``high_value``). The segment refresh stores its fit and
predictions; ``stored_prediction`` gives them back to the report while they are current.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..domain import btyd, metrics
from .purchases import ChannelScope, _days_query, order_facts

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from ..domain.metrics import OrderFact

# The horizon of the predicted lifetime value, in weeks: the next year.
HORIZON_WEEKS = 52
# Fewer repeat buyers than this and the models are not fitted: seven parameters
# estimated from a handful of customers would rank them by noise.
MIN_REPEAT_BUYERS = 10


@dataclass(frozen=True)
class PredictedValue:
    customers: int
    repeat_customers: int
    horizon_weeks: int
    bg_nbd: btyd.BgNbdParameters | None = None
    gamma_gamma: btyd.GammaGammaParameters | None = None
    mean_probability_alive: float | None = None
    likely_active: int = 0
    expected_orders: float | None = None
    expected_revenue: Decimal | None = None
    # Why there is no prediction (no SciPy, too little data); empty when there is one.
    unavailable: str = ""
    top_customers: tuple[tuple[str, float, float, Decimal], ...] = field(default=())
    # "fitted" (for this report) or "stored" (the segment refresh's fit and predictions,
    # reused because nothing changed since ``fitted_at``); none when unavailable.
    fit_source: str = "fitted"
    fitted_at: datetime | None = None


@dataclass(frozen=True)
class CustomerTable:
    """One row per customer (in no particular order): the models' inputs and revenue.

    ``frequency`` x = order days after the first, ``recency`` t_x and ``age`` T in days
    since the first order day (to the last one, to ``as_of``), ``monetary`` m̄ = mean net
    goods amount of the later order days (0 without), ``revenue`` = all net goods amount.
    """

    keys: list[str]
    frequency: list[int]
    recency: list[int]
    age: list[int]
    monetary: list[float]
    revenue: list[Decimal]

    def __len__(self) -> int:
        return len(self.keys)


_M = "CASE WHEN days > 1 THEN (repeat_rev / (days - 1))::float8 ELSE 0 END"


def customer_table(scope: ChannelScope, facts: Sequence[OrderFact] | None = None) -> CustomerTable:
    """Every customer's row, from the report's per-customer table on PostgreSQL."""
    if not scope.postgres or facts is not None or scope.currency is None:
        facts = (order_facts(scope) if scope.currency else []) if facts is None else facts
        revenue: dict[str, Decimal] = {}
        for fact in facts:
            if fact.day <= scope.as_of:
                revenue[fact.customer] = revenue.get(fact.customer, Decimal(0)) + fact.amount
        summaries = btyd.summarise_purchases(
            ((f.customer, f.day, f.amount) for f in facts), scope.as_of, days_per_unit=1
        )
        rows: list[tuple[Any, ...]] = [
            (s.customer, s.frequency, round(s.recency), round(s.age), s.monetary,
             revenue[s.customer])
            for s in summaries
        ]  # fmt: skip
    else:
        rows = _days_query(
            scope,
            f"SELECT c, days - 1, last_day - first_day, %(as_of)s - first_day, {_M}, rev "
            "FROM customers",
        )
    columns = list(zip(*rows, strict=True)) if rows else [()] * 6
    return CustomerTable(*(list(column) for column in columns))


@dataclass(frozen=True)
class Fit:
    """Both models fitted on a ``CustomerTable``, or why they could not be."""

    bg_nbd: btyd.BgNbdParameters | None
    gamma_gamma: btyd.GammaGammaParameters | None
    unavailable: str = ""
    # Distinct (x, t_x, T) rows BG/NBD was fitted on (customers sharing one are a weight).
    distinct_rows: int = 0
    source: str = "fitted"
    fitted_at: datetime | None = None


def fit_models(table: CustomerTable) -> Fit:
    """BG/NBD on the distinct (x, t_x, T), in weeks, and Gamma-Gamma on the repeat buyers.

    Never raises for the data: no SciPy or too little history (fewer than
    ``MIN_REPEAT_BUYERS`` repeat buyers, estimates running off) comes back as
    ``unavailable``.
    """
    repeat = sum(1 for x in table.frequency if x > 0)
    if repeat < MIN_REPEAT_BUYERS:
        return Fit(
            None,
            None,
            f"too few repeat buyers to fit the models ({repeat}, at least "
            f"{MIN_REPEAT_BUYERS} needed)",
        )
    try:
        numpy, _, _ = btyd._scipy()
        x, t_x, big_t, weights = btyd.group_days(table.frequency, table.recency, table.age)
        bg = btyd.fit_bg_nbd_weighted(x, t_x / 7, big_t / 7, weights)
        # Mean spends rarely repeat: Gamma-Gamma takes every customer as a row.
        frequency, monetary = (
            numpy.array(v, dtype=float) for v in (table.frequency, table.monetary)
        )
        gg = btyd.fit_gamma_gamma_weighted(frequency, monetary, numpy.ones(len(table)))
    except (btyd.AnalyticsUnavailable, btyd.ModelFitError) as error:
        return Fit(None, None, str(error))
    return Fit(bg, gg, distinct_rows=len(x))


def _arrays(table: CustomerTable) -> tuple[Any, Any, Any, Any]:
    """x, t_x and T in weeks, m̄, as float arrays."""
    numpy, _, _ = btyd._scipy()
    return (
        numpy.array(table.frequency, dtype=float),
        numpy.array(table.recency, dtype=float) / 7,
        numpy.array(table.age, dtype=float) / 7,
        numpy.array(table.monetary, dtype=float),
    )


def _predict(table: CustomerTable, fit: Fit, horizon_weeks: int) -> tuple[Any, Any, Any]:
    """Per customer P(alive), expected orders and their value over ``horizon_weeks``."""
    if fit.bg_nbd is None or fit.gamma_gamma is None:
        raise ValueError(f"No fitted models to predict with: {fit.unavailable}")
    x, t_x, big_t, m = _arrays(table)
    alive = btyd.probability_alive_arrays(fit.bg_nbd, x, t_x, big_t)
    orders = btyd.expected_purchases_arrays(fit.bg_nbd, x, t_x, big_t, horizon_weeks)
    values = orders * btyd.expected_average_value_arrays(fit.gamma_gamma, x, m)
    return alive, orders, values


def predicted_value(
    scope: ChannelScope,
    horizon_weeks: int = HORIZON_WEEKS,
    facts: Sequence[OrderFact] | None = None,
    *,
    table: CustomerTable | None = None,
    fit: Fit | None = None,
) -> PredictedValue:
    """Fits both models (or takes ``fit``) and predicts per customer, vectorised:
    customers, P(alive), expected orders and value add up over the customers.
    ``table`` and ``fit`` let the report load and fit once for this and ``high_value``.
    """
    table = customer_table(scope, facts) if table is None else table
    customers = len(table)
    repeat = sum(1 for x in table.frequency if x > 0)
    fit = fit_models(table) if fit is None else fit
    if fit.unavailable:
        return PredictedValue(customers, repeat, horizon_weeks, unavailable=fit.unavailable)
    alive, orders, values = _predict(table, fit, horizon_weeks)
    return PredictedValue(
        customers,
        repeat,
        horizon_weeks,
        fit.bg_nbd,
        fit.gamma_gamma,
        float(alive.sum() / customers),
        int((alive > 0.5).sum()),
        float(orders.sum()),
        Decimal(str(round(float(values.sum()), 2))),
        top_customers=_top(table.keys, alive, orders, values),
        fit_source=fit.source,
        fitted_at=fit.fitted_at,
    )


def _top(
    keys: Sequence[str], alive: Any, orders: Any, values: Any, n: int = 10
) -> tuple[tuple[str, float, float, Decimal], ...]:
    """The ``n`` customers of highest predicted value, ties by customer key."""
    numpy, _, _ = btyd._scipy()
    finite = numpy.flatnonzero(numpy.isfinite(values))
    if len(finite) > n:  # everyone tied with the n-th value stays a candidate
        cut = numpy.sort(values[finite])[-n]
        finite = finite[values[finite] >= cut]
    best = sorted(finite.tolist(), key=lambda i: (-values[i], keys[i]))[:n]
    return tuple(
        (keys[i], round(float(alive[i]), 4), round(float(orders[i]), 3),
         Decimal(str(round(float(values[i]), 2))))
        for i in best
    )  # fmt: skip


@dataclass(frozen=True)
class HighValue:
    """The high-value customers: the top 10 % (rounded up) by predicted lifetime value.

    ``basis`` is ``"predicted_value"`` (expected value of the next ``horizon_weeks``
    weeks' orders, BG/NBD x Gamma-Gamma, ties by customer key) or, when the models cannot
    be fitted, ``"revenue"`` (realised net goods amount) with the reason in
    ``fallback_reason``. ``revenue`` is the realised revenue of ``keys``.
    """

    basis: str
    horizon_weeks: int
    keys: frozenset[str]
    revenue: Decimal
    fallback_reason: str = ""

    @property
    def customers(self) -> int:
        return len(self.keys)


def high_value(
    scope: ChannelScope,
    facts: Sequence[OrderFact] | None = None,
    *,
    table: CustomerTable | None = None,
    fit: Fit | None = None,
    horizon_weeks: int = HORIZON_WEEKS,
) -> HighValue:
    """The channel's high-value customers as of ``scope.as_of`` (see ``HighValue``)."""
    table = customer_table(scope, facts) if table is None else table
    fit = fit_models(table) if fit is None else fit
    revenue = dict(zip(table.keys, table.revenue, strict=True))
    if fit.unavailable:
        keys = metrics.top_share(revenue)
        basis, reason = "revenue", fit.unavailable
    else:
        numpy, _, _ = btyd._scipy()
        _, _, values = _predict(table, fit, horizon_weeks)
        values = numpy.where(numpy.isfinite(values), values, -numpy.inf)
        keys = metrics.top_share(dict(zip(table.keys, values.tolist(), strict=True)))
        basis, reason = "predicted_value", ""
    return HighValue(
        basis,
        horizon_weeks,
        frozenset(keys),
        sum((revenue[key] for key in keys), Decimal(0)),
        reason,
    )


# --- the segment refresh's fit, reused -----------------------------------------------------


def predictions(table: CustomerTable, fit: Fit, horizon_weeks: int = HORIZON_WEEKS) -> Any:
    """Per customer (P(alive), expected orders, expected value) as float arrays, or none."""
    if fit.unavailable:
        return None
    return _predict(table, fit, horizon_weeks)


@dataclass(frozen=True)
class StoredPrediction:
    """What the report takes from the last segment refresh instead of fitting again."""

    fit: Fit
    high: HighValue
    predicted: PredictedValue
    # The repurchase cycle C the refresh judged the segments by (new < C, active < 2C).
    cycle_days: int


def stored_prediction(
    scope: ChannelScope, horizon_weeks: int = HORIZON_WEEKS
) -> StoredPrediction | None:
    """The refresh's fit, segments and predictions when they are current for ``scope``.

    Current: the kept summaries answer for ``scope``, the refresh ran for the same as-of
    day, timezone, currency and horizon, and since its ``fitted_at`` no customer's kept
    summary changed and none was removed (same number of customers). Else none, and the
    report fits for itself. Reads the stored rows of the channel (one row per customer).
    """
    from django.db import connection

    from ..models import CustomerSegment, PurchaseSummary, SegmentFit

    if not scope.kept or scope.currency is None:
        return None
    stored = SegmentFit.objects.filter(
        channel_slug=scope.channel,
        as_of=scope.as_of,
        tz=scope.tz,
        currency=scope.currency,
        horizon_weeks=horizon_weeks,
    ).first()
    if stored is None:
        return None
    summaries = PurchaseSummary.objects.filter(channel_slug=scope.channel, currency=scope.currency)
    if (
        summaries.filter(updated_at__gte=stored.fitted_at).exists()
        or summaries.count() != stored.customers
    ):
        return None
    fit = Fit(
        btyd.BgNbdParameters(**stored.bg_nbd) if stored.bg_nbd else None,
        btyd.GammaGammaParameters(**stored.gamma_gamma) if stored.gamma_gamma else None,
        stored.unavailable,
        stored.distinct_rows,
        "stored",
        stored.fitted_at,
    )
    rows = CustomerSegment.objects.filter(channel_slug=scope.channel)
    cycle_days = rows.values_list("cycle_days", flat=True).first()
    if cycle_days is None:
        return None
    high_rows = list(rows.filter(high_value=True).values_list("customer_key", "revenue"))
    high = HighValue(
        "revenue" if fit.unavailable else "predicted_value",
        horizon_weeks,
        frozenset(key for key, _ in high_rows),
        sum((revenue for _, revenue in high_rows), Decimal(0)),
        fit.unavailable,
    )
    if fit.unavailable:
        predicted = PredictedValue(
            stored.customers, stored.repeat_customers, horizon_weeks,
            unavailable=fit.unavailable, fit_source="stored", fitted_at=stored.fitted_at,
        )  # fmt: skip
        return StoredPrediction(fit, high, predicted, cycle_days)
    numpy, _, _ = btyd._scipy()
    # A plain cursor: the ORM's per-row work was most of the read (193 thousand rows).
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT customer_key, probability_alive, expected_orders, expected_value "
            f"FROM {CustomerSegment._meta.db_table} WHERE channel_slug = %s",
            [scope.channel],
        )
        fetched = cursor.fetchall()
    if len(fetched) != stored.customers or any(row[1] is None for row in fetched):
        return None
    keys = [row[0] for row in fetched]
    a, o, v = (
        numpy.fromiter((row[i] for row in fetched), dtype=float, count=len(fetched))
        for i in (1, 2, 3)
    )
    predicted = PredictedValue(
        stored.customers,
        stored.repeat_customers,
        horizon_weeks,
        fit.bg_nbd,
        fit.gamma_gamma,
        float(a.sum() / len(keys)),
        int((a > 0.5).sum()),
        float(o.sum()),
        Decimal(str(round(float(v.sum()), 2))),
        top_customers=_top(keys, a, o, v),
        fit_source="stored",
        fitted_at=stored.fitted_at,
    )
    return StoredPrediction(fit, high, predicted, cycle_days)


def fit_record(fit: Fit) -> dict[str, Any]:
    """``fit``'s parameters as the JSON ``SegmentFit`` stores."""
    return {
        "bg_nbd": asdict(fit.bg_nbd) if fit.bg_nbd else None,
        "gamma_gamma": asdict(fit.gamma_gamma) if fit.gamma_gamma else None,
        "unavailable": fit.unavailable,
        "distinct_rows": fit.distinct_rows,
    }
