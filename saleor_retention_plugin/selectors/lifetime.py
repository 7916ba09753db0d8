"""Predicted customer value of one channel: BG/NBD and Gamma-Gamma fitted on its history.

Time unit: weeks. Each customer's frequency, recency and age are computed from their
order days up to ``as_of`` (``domain.btyd.summarise_purchases``; on PostgreSQL in SQL),
the models are fitted by maximum likelihood (SciPy, the ``analytics`` extra), and each
customer gets P(alive), expected orders in the next ``horizon_weeks`` and their expected
value (expected orders x Gamma-Gamma expected order value).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..domain import btyd
from .purchases import ChannelScope, _days_query, order_facts

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..domain.metrics import OrderFact


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


def customer_summaries(
    scope: ChannelScope, facts: Sequence[OrderFact] | None = None
) -> list[btyd.CustomerSummary]:
    """One summary per customer (x, t_x and T in weeks, mean repeat value)."""
    if not scope.postgres or facts is not None or scope.currency is None:
        facts = (order_facts(scope) if scope.currency else []) if facts is None else facts
        return btyd.summarise_purchases(((f.customer, f.day, f.amount) for f in facts), scope.as_of)
    rows = _days_query(
        scope,
        """
        SELECT c, days - 1, (last_day - first_day) / 7.0, (%(as_of)s - first_day) / 7.0,
               CASE WHEN days > 1 THEN repeat_rev / (days - 1) ELSE 0 END
        FROM customers
        """,
    )
    return [
        btyd.CustomerSummary(c, int(x), float(t_x), float(t), float(m)) for c, x, t_x, t, m in rows
    ]


@dataclass(frozen=True)
class ModelInputs:
    """The models' inputs as rows (x, t_x days, T days, m̄) each standing for ``weights``
    customers; ``keys`` gives each row's customer when rows are customers (the fallback).
    """

    rows: list[tuple[int, int, int, float]]
    weights: list[int]
    keys: list[str] | None = None


_M = "CASE WHEN days > 1 THEN (repeat_rev / (days - 1))::float8 ELSE 0 END"


def model_inputs(scope: ChannelScope, facts: Sequence[OrderFact] | None = None) -> ModelInputs:
    """On PostgreSQL grouped there: customers with the same (x, t_x, T, m̄) are one row."""
    if not scope.postgres or facts is not None or scope.currency is None:
        summaries = customer_summaries(scope, facts)
        return ModelInputs(
            [(s.frequency, round(s.recency * 7), round(s.age * 7), s.monetary) for s in summaries],
            [1] * len(summaries),
            [s.customer for s in summaries],
        )
    rows = _days_query(
        scope,
        f"""
        SELECT days - 1, last_day - first_day, %(as_of)s - first_day, {_M}, count(*)
        FROM customers GROUP BY 1, 2, 3, 4
        """,
    )
    return ModelInputs([row[:4] for row in rows], [row[4] for row in rows])


def _keys_of(scope: ChannelScope, row: tuple[int, int, int, float], limit: int) -> list[str]:
    """The first ``limit`` customers (by key) of a grouped row."""
    found = _days_query(
        scope,
        f"""
        SELECT c FROM customers WHERE days - 1 = %(x)s AND last_day - first_day = %(t_x)s
            AND %(as_of)s - first_day = %(t)s AND {_M} = %(m)s
        ORDER BY c LIMIT %(limit)s
        """,
        x=row[0], t_x=row[1], t=row[2], m=row[3], limit=limit,
    )  # fmt: skip
    return [c for (c,) in found]


def predicted_value(
    scope: ChannelScope, horizon_weeks: int = 52, facts: Sequence[OrderFact] | None = None
) -> PredictedValue:
    """Fits both models on the channel's grouped inputs and predicts per row, vectorised:
    customers, P(alive), expected orders and value add up over the rows' weights.
    """
    inputs = model_inputs(scope, facts)
    customers = sum(inputs.weights)
    repeat = sum(w for row, w in zip(inputs.rows, inputs.weights, strict=True) if row[0] > 0)
    try:
        numpy, _, _ = btyd._scipy()
        table = numpy.array(inputs.rows, dtype=float).reshape(-1, 4)
        weights = numpy.array(inputs.weights, dtype=float)
        x, t_x, big_t, m = table[:, 0], table[:, 1] / 7, table[:, 2] / 7, table[:, 3]
        bg = btyd.fit_bg_nbd_weighted(x, t_x, big_t, weights)
        gg = btyd.fit_gamma_gamma_weighted(x, m, weights)
    except (btyd.AnalyticsUnavailable, btyd.ModelFitError) as error:
        return PredictedValue(customers, repeat, horizon_weeks, unavailable=str(error))
    alive = btyd.probability_alive_arrays(bg, x, t_x, big_t)
    orders = btyd.expected_purchases_arrays(bg, x, t_x, big_t, horizon_weeks)
    values = orders * btyd.expected_average_value_arrays(gg, x, m)
    return PredictedValue(
        customers,
        repeat,
        horizon_weeks,
        bg,
        gg,
        float((weights * alive).sum() / customers),
        int(weights[alive > 0.5].sum()),
        float((weights * orders).sum()),
        Decimal(str(round(float((weights * values).sum()), 2))),
        top_customers=_top(scope, inputs, alive, orders, values),
    )


def _top(
    scope: ChannelScope, inputs: ModelInputs, alive: Any, orders: Any, values: Any, n: int = 10
) -> tuple[tuple[str, float, float, Decimal], ...]:
    """The ``n`` customers of highest predicted value, ties by customer key."""
    candidates: list[tuple[float, str, int]] = []
    taken = 0
    numpy, _, _ = btyd._scipy()
    for index in (int(i) for i in numpy.argsort(-values, kind="stable")):
        if not numpy.isfinite(values[index]):
            continue
        if taken >= n and values[index] != candidates[-1][0]:
            break
        keys = inputs.keys[index : index + 1] if inputs.keys else None
        for key in keys or _keys_of(scope, inputs.rows[index], n):
            candidates.append((float(values[index]), key, index))
        taken += inputs.weights[index]
    candidates.sort(key=lambda row: (-row[0], row[1]))
    return tuple(
        (key, round(float(alive[i]), 4), round(float(orders[i]), 3), Decimal(str(round(v, 2))))
        for v, key, i in candidates[:n]
    )
