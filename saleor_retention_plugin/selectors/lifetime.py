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
from typing import TYPE_CHECKING

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


def predicted_value(
    scope: ChannelScope, horizon_weeks: int = 52, facts: Sequence[OrderFact] | None = None
) -> PredictedValue:
    summaries = customer_summaries(scope, facts)
    repeat = sum(1 for s in summaries if s.frequency > 0)
    base = PredictedValue(len(summaries), repeat, horizon_weeks)
    try:
        bg = btyd.fit_bg_nbd(summaries)
        gg = btyd.fit_gamma_gamma(summaries)
    except (btyd.AnalyticsUnavailable, btyd.ModelFitError) as error:
        return PredictedValue(len(summaries), repeat, horizon_weeks, unavailable=str(error))
    alive = [btyd.probability_alive(bg, s) for s in summaries]
    orders = btyd.expected_purchases_many(bg, summaries, horizon_weeks)
    values = [
        orders_i * gg.expected_average_value(s.frequency, s.monetary)
        for orders_i, s in zip(orders, summaries, strict=True)
    ]
    ranked = sorted(
        zip(summaries, alive, orders, values, strict=True),
        key=lambda row: (-row[3], row[0].customer),
    )
    return PredictedValue(
        base.customers,
        base.repeat_customers,
        horizon_weeks,
        bg,
        gg,
        sum(alive) / len(alive),
        sum(p > 0.5 for p in alive),
        float(sum(orders)),
        Decimal(str(round(sum(values), 2))),
        top_customers=tuple(
            (s.customer, round(p, 4), round(n, 3), Decimal(str(round(v, 2))))
            for s, p, n, v in ranked[:10]
        ),
    )
