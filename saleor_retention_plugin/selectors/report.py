"""The retention report of one channel: every figure of ``docs/analytics.md`` in one dict.

``build_report`` returns plain JSON values (money and rates as decimal strings, dates as
ISO strings) so the same dict feeds the text tables, ``--json``, the HTML charts and the
GraphQL API. Nothing here writes.
"""

from __future__ import annotations

import dataclasses
from contextlib import nullcontext
from datetime import date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ..domain import metrics
from . import flow_uplift, lifetime, loyalty, purchases, segments

if TYPE_CHECKING:
    from ..domain.metrics import OrderFact, Uplift


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {_key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _key(key: Any) -> str:
    if isinstance(key, tuple):
        return ",".join(str(part) for part in key)
    return "none" if key is None else str(key)


def build_report(
    channel: str,
    start: date,
    end: date,
    *,
    tz: str = "UTC",
    as_of: date | None = None,
    within_days: int = 90,
    lifespan_years: Decimal = Decimal(3),
    value_per_point: Decimal = Decimal("0.01"),
    predict: bool = True,
) -> dict[str, Any]:
    """The channel's report for orders placed from ``start`` to before ``end`` (local days).

    Raises ``ValueError`` for an empty period or an unknown timezone.
    """
    if end <= start:
        raise ValueError("The period is empty: end must be after start.")
    scope = purchases.channel_scope(channel, tz, as_of)
    # On SQLite every figure computes from one load of the channel's orders.
    facts = None if scope.postgres else purchases.order_facts(scope, with_lines=True)
    zone = ZoneInfo(tz)
    since = datetime.combine(start, time(), tzinfo=zone)
    until = datetime.combine(end, time(), tzinfo=zone)
    with purchases.prepared(scope) if scope.postgres else nullcontext():
        report = _figures(scope, facts, start, end, within_days, lifespan_years, predict)
    cart = loyalty.cart_recovery(channel)
    uplift: Uplift = cart.pop("uplift")
    report.update(
        {
            "points": loyalty.points_economics(channel, since, until, value_per_point),
            "carts": cart,
            "cart_uplift": uplift,
            # Every flow with enrolments (the cart series too) against its holdout.
            "flows": flow_uplift.flow_uplifts(channel),
        }
    )
    return _plain(report)


def _figures(
    scope: purchases.ChannelScope,
    facts: list[OrderFact] | None,
    start: date,
    end: date,
    within_days: int,
    lifespan_years: Decimal,
    predict: bool,
) -> dict[str, Any]:
    report: dict[str, Any] = {
        "channel": scope.channel,
        "currency": scope.currency,
        "timezone": scope.tz,
        "period": {"start": start, "end": end, "as_of": scope.as_of},
        "other_currency_orders": scope.other_currency_orders,
        "repurchase": purchases.repurchase_rate(scope, start, end, within_days, facts=facts),
        "revenue": purchases.revenue_split(scope, start, end, facts=facts),
        "cycle": purchases.repurchase_cycle(scope, start, end, facts=facts),
        "cycle_by_product_type": purchases.repurchase_cycle_by(
            scope, start, end, "product_type", facts=facts
        ),
        "cycle_by_category": purchases.repurchase_cycle_by(
            scope, start, end, "category", facts=facts
        ),
        "cohorts": purchases.cohorts(scope, start, end, facts=facts),
        "ltv_formula": purchases.formula_ltv(scope, start, end, lifespan_years, facts=facts),
    }
    # The segment refresh's segments, fit and predictions when nothing changed since
    # (``fitted_at`` in ``predicted`` says which); else the customers are loaded and the
    # models fitted once, for the prediction and for the high-value segment (top 10 % by
    # predicted value; by revenue without a prediction).
    stored = lifetime.stored_prediction(scope) if predict and facts is None else None
    limits = metrics.segment_thresholds(stored.cycle_days) if stored else None
    report["repurchase_by_segment"] = segments.repurchase_by_segment(
        scope, start, end, limits, facts=facts
    )
    if stored is not None:
        report["segments"] = segments.stored_segment_sizes(scope, stored.cycle_days, stored.high)
        report["predicted"] = stored.predicted
        return report
    table = lifetime.customer_table(scope, facts)
    fit = (
        lifetime.fit_models(table)
        if predict
        else lifetime.Fit(None, None, "the prediction was turned off (--no-prediction)")
    )
    high = lifetime.high_value(scope, facts, table=table, fit=fit)
    report["segments"] = segments.segment_sizes(scope, facts=facts, high=high)
    if predict:
        report["predicted"] = lifetime.predicted_value(scope, facts=facts, table=table, fit=fit)
    return report
