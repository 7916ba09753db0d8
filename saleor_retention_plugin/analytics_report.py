"""The retention report rendered: text tables for a terminal, one self-contained HTML file.

Input is the dict of ``selectors.report.build_report``. The HTML embeds plotly.js
(``include_plotlyjs``: the whole library inline, about 4.6 MB) so it opens with no network;
plotly is the ``analytics`` extra. Plotly was chosen because it is maintained, renders
heatmaps, error bars and histograms from JSON with one inline script, and needs no
server; the charts stay interactive (hover values) in a file sent by email.
"""

from __future__ import annotations

import textwrap
from decimal import Decimal
from typing import Any

from django.template.loader import render_to_string

from .analytics_flow_tables import flows_table, pct, table, variant_parts


class ChartsUnavailable(ImportError):
    """plotly is not installed: ``pip install 'saleor-retention-plugin[analytics]'``."""


def _high_value_label(segments: dict[str, Any]) -> str:
    """Says what ranks the high-value customers (older reports have no basis: revenue)."""
    if segments.get("high_value_basis") == "predicted_value":
        weeks = segments["high_value_horizon_weeks"]
        return f"high value (top 10 % by predicted value, {weeks} weeks)"
    return "high value (top 10 % by revenue)"


def render_text(report: dict[str, Any]) -> str:
    """Every section as a plain-text table."""
    currency = report["currency"] or ""
    rep, rev, cycle = report["repurchase"], report["revenue"], report["cycle"]
    period = report["period"]
    parts = [
        f"Retention report: channel {report['channel']} ({currency or 'no orders'}), orders "
        f"from {period['start']} to before {period['end']}, as of {period['as_of']} "
        f"({report['timezone']}).\n"
    ]
    if report["other_currency_orders"]:
        parts.append(
            f"{report['other_currency_orders']} orders in other currencies are left out.\n"
        )
    parts.append(
        table(
            "Repurchase",
            ["figure", "customers", "of", "rate"],
            [
                [
                    f"came back within {rep['within_days']} days",
                    rep["repeated"],
                    rep["new_customers"] - rep["new_customers_in_window"],
                    pct(rep["rate"]),
                ],
                [
                    "ordered on 2+ days",
                    rep["repeat_buyers"],
                    rep["buyers"],
                    pct(rep["simple_rate"]),
                ],
            ],
        )
    )
    parts.append(
        table(
            f"Revenue ({currency})",
            ["from", "orders", "revenue"],
            [
                [
                    "first-day orders",
                    rev["orders"] - rev["returning_orders"],
                    Decimal(rev["revenue"]) - Decimal(rev["returning_revenue"]),
                ],
                ["returning customers", rev["returning_orders"], rev["returning_revenue"]],
                ["all", rev["orders"], rev["revenue"]],
                ["returning share", "", pct(rev["returning_share"])],
            ],
        )
    )
    parts.append(
        table(
            f"Repurchase cycle (days between orders; median {cycle['median_days']})",
            ["up to days", "gaps"],
            [[bound or "more", count] for bound, count in cycle["histogram"]],
        )
    )
    by_type = report["cycle_by_product_type"]
    if by_type:
        parts.append(
            table(
                "Cycle per product type",
                ["product type", "gaps", "median days"],
                [[key, value["gaps"], value["median_days"]] for key, value in by_type.items()],
            )
        )
    cohorts = report["cohorts"]
    if cohorts:
        ages = max(len(c["retention"]) for c in cohorts)
        parts.append(
            table(
                "Cohorts: share ordering in month 0, 1, 2...",
                ["cohort", "customers", *[f"m{age}" for age in range(min(ages, 13))]],
                [
                    [c["month"][:7], c["customers"], *[pct(v) for v in c["retention"][:13]]]
                    for c in cohorts
                ],
            )
        )
        parts.append(
            table(
                f"Realised revenue per customer by cohort age ({currency})",
                ["cohort", *[f"m{age}" for age in range(min(ages, 13))]],
                [[c["month"][:7], *c["revenue_per_customer"][:13]] for c in cohorts],
            )
        )
    ltv = report["ltv_formula"]
    parts.append(
        table(
            "LTV (average order value x orders per year x lifespan)",
            ["AOV", "orders/year", "lifespan years", "LTV"],
            [
                [
                    ltv["average_order_value"],
                    ltv["orders_per_year"],
                    ltv["lifespan_years"],
                    ltv["ltv"],
                ]
            ],
        )
    )
    seg = report["segments"]
    limits = seg["thresholds"]
    parts.append(
        table(
            f"Segments (cycle {limits['cycle_days']} days: new < {limits['new_days']} days "
            f"since the first order, active < {limits['active_days']} since the last)",
            ["segment", "customers", f"revenue ({currency})"],
            [
                [name, seg["by_segment"][name], seg["revenue_by_segment"][name]]
                for name in ("new", "active", "dormant")
            ]
            + [
                [
                    "all",
                    seg["customers"],
                    sum(Decimal(v) for v in seg["revenue_by_segment"].values()),
                ],
                [_high_value_label(seg), seg["high_value"], seg["high_value_revenue"]],
                ["discount-driven", seg["discount_driven"], ""],
            ],
        )
    )
    if seg.get("high_value_fallback_reason"):
        parts.append(
            f"High value is ranked by realised revenue: {seg['high_value_fallback_reason']}.\n"
        )
    parts.append(
        table(
            "Repurchase by segment on the day before the period, and by tier",
            ["group", "customers", "ordered in the period", "rate"],
            [
                [g["group"], g["customers"], g["ordered"], pct(g["rate"])]
                for g in report["repurchase_by_segment"]
            ],
        )
    )
    predicted = report.get("predicted")
    if predicted:
        if predicted["unavailable"]:
            parts.append(f"Predicted value: not available ({predicted['unavailable']}).\n")
        else:
            bg, gg = predicted["bg_nbd"], predicted["gamma_gamma"]
            parts.append(
                table(
                    f"Predicted (BG/NBD + Gamma-Gamma, next {predicted['horizon_weeks']} weeks)",
                    ["customers", "mean P(alive)", "likely active", "orders", "revenue"],
                    [
                        [
                            predicted["customers"],
                            f"{predicted['mean_probability_alive']:.3f}",
                            predicted["likely_active"],
                            f"{predicted['expected_orders']:.0f}",
                            predicted["expected_revenue"],
                        ]
                    ],
                )
                + f"BG/NBD r={bg['r']:.3f} alpha={bg['alpha']:.3f} a={bg['a']:.3f} "
                f"b={bg['b']:.3f}; Gamma-Gamma p={gg['p']:.2f} q={gg['q']:.2f} "
                f"gamma={gg['gamma']:.2f}; {_fitted(predicted)}\n"
            )
    points = report["points"]
    parts.append(
        table(
            f"Points (liability in {currency or 'the currency'}; adds up: matches the ledger)",
            [
                "issued",
                "adjusted",
                "redeemed",
                "expired",
                "taken back",
                "outstanding",
                "liability",
                "redemption rate",
                "adds up",
            ],
            [
                [
                    points["issued"],
                    points["adjusted"],
                    points["redeemed"],
                    points["expired"],
                    points["taken_back"],
                    points["outstanding"],
                    points["liability"],
                    pct(points["redemption_rate"]),
                    "yes" if points["ledger_agrees"] else "NO",
                ]
            ],
        )
    )
    groups, uplift = report["carts"]["groups"], report["cart_uplift"]
    parts.append(
        table(
            "Abandoned carts",
            ["group", "abandoned", "recovered", "rate"],
            [
                [name, g["abandoned_carts"], g["recovered_carts"], g["recovery_rate"] + " %"]
                for name, g in groups.items()
            ],
        )
        + uplift["verdict"]
        + "\n"
    )
    if report.get("flows"):  # reports saved before flows were reported have none
        parts.append(flows_table(report["flows"]))
    return "\n".join(_fit(part) for part in parts)


def _fit(text: str, width: int = 100) -> str:
    """Wrap prose to a normal terminal; tables are built narrower than ``width``."""
    return "\n".join(
        textwrap.fill(line, width, subsequent_indent="  ") if len(line) > width else line
        for line in text.split("\n")
    )


def _figures(report: dict[str, Any]) -> list[tuple[str, str, Any]]:
    try:
        import plotly.graph_objects as go
    except ImportError as error:
        raise ChartsUnavailable(
            "The HTML report needs plotly: pip install 'saleor-retention-plugin[analytics]'"
        ) from error
    currency = report["currency"] or ""
    cohorts = report["cohorts"]
    figures: list[tuple[str, str, Any]] = []
    ages = max((len(c["retention"]) for c in cohorts), default=0)
    heat = go.Figure(
        go.Heatmap(
            z=[
                [float(v) * 100 for v in c["retention"]] + [None] * (ages - len(c["retention"]))
                for c in cohorts
            ],
            x=[f"month {age}" for age in range(ages)],
            y=[c["month"][:7] for c in cohorts],
            colorscale="Blues",
            colorbar={"title": "%"},
        )
    )
    heat.update_layout(yaxis={"autorange": "reversed"})
    figures.append(("cohort-heatmap", "Cohort retention (share ordering in each month)", heat))
    curve = []
    for age in range(1, ages):
        eligible = [c for c in cohorts if len(c["retention"]) > age]
        size = sum(c["customers"] for c in eligible)
        returned = sum(float(c["retention"][age]) * c["customers"] for c in eligible)
        curve.append(returned / size * 100 if size else None)
    figures.append(
        (
            "repurchase-curve",
            "Repurchase curve (share of new customers ordering, by months since the first order)",
            go.Figure(go.Scatter(x=list(range(1, ages)), y=curve, mode="lines+markers")),
        )
    )
    cycle = report["cycle"]
    figures.append(
        (
            "cycle-histogram",
            f"Days between orders (median {cycle['median_days']})",
            go.Figure(
                go.Bar(
                    x=[f"≤ {b}" if b else "more" for b, _ in cycle["histogram"]],
                    y=[count for _, count in cycle["histogram"]],
                )
            ),
        )
    )
    ltv = go.Figure(
        [
            go.Scatter(
                x=list(range(len(c["revenue_per_customer"]))),
                y=[float(v) for v in c["revenue_per_customer"]],
                name=c["month"][:7],
            )
            for c in cohorts
        ]
    )
    ltv.update_layout(xaxis_title="months since the first order", yaxis_title=currency)
    figures.append(("ltv-by-cohort", f"Realised revenue per customer ({currency})", ltv))
    seg = report["segments"]
    names = ["new", "active", "dormant"]
    figures.append(
        (
            "segment-sizes",
            "Customers per segment",
            go.Figure(go.Bar(x=names, y=[seg["by_segment"][n] for n in names])),
        )
    )
    points = report["points"]
    flows = ["issued", "adjusted", "redeemed", "expired", "taken_back", "outstanding"]
    figures.append(
        (
            "points-flows",
            "Points in the period, and outstanding now",
            go.Figure(go.Bar(x=[f.replace("_", " ") for f in flows], y=[points[f] for f in flows])),
        )
    )
    uplift = report["cart_uplift"]
    if uplift["absolute"] is None:
        uplift_figure = go.Figure()
        uplift_figure.add_annotation(text=uplift["verdict"], showarrow=False)
    else:
        value = uplift["absolute"] * 100
        uplift_figure = go.Figure(
            go.Scatter(
                x=[value], y=["reminded vs holdout"], mode="markers",
                error_x={"type": "data", "symmetric": False,
                         "array": [uplift["absolute_high"] * 100 - value],
                         "arrayminus": [value - uplift["absolute_low"] * 100]},
            )
        )  # fmt: skip
        uplift_figure.update_layout(xaxis_title="percentage points (95 % interval)")
    figures.append(
        ("cart-uplift", "Cart reminders: recovery uplift over the holdout", uplift_figure)
    )
    flows = report.get("flows", [])
    points = [(e["flow"], e) for e in flows] + [
        (label, part) for label, _, part in variant_parts(flows)
    ]
    measured = [(label, e) for label, e in points if e["uplift"]["absolute"] is not None]
    if measured:
        values = [e["uplift"]["absolute"] * 100 for _, e in measured]
        flows_figure = go.Figure(
            go.Scatter(
                x=values, y=[label for label, _ in measured], mode="markers",
                error_x={"type": "data", "symmetric": False,
                         "array": [e["uplift"]["absolute_high"] * 100 - v
                                   for (_, e), v in zip(measured, values, strict=True)],
                         "arrayminus": [v - e["uplift"]["absolute_low"] * 100
                                        for (_, e), v in zip(measured, values, strict=True)]},
            )
        )  # fmt: skip
        flows_figure.update_layout(xaxis_title="percentage points (95 % interval)")
        figures.append(("flow-uplift", "Every flow: uplift over its holdout", flows_figure))
    return figures


def render_html(report: dict[str, Any]) -> str:
    """One self-contained HTML file: text tables plus the charts, no network needed."""
    import plotly.io
    import plotly.offline

    charts = [
        {
            "id": chart_id,
            "title": title,
            "html": plotly.io.to_html(
                figure,
                include_plotlyjs=False,
                full_html=False,
                div_id=chart_id,
                config={"responsive": True, "displaylogo": False},
            ),
        }
        for chart_id, title, figure in _figures(report)
    ]
    return render_to_string(
        "saleor_retention_plugin/analytics_report.html",
        {
            "report": report,
            "charts": charts,
            "tables": render_text(report),
            "plotly_js": plotly.offline.get_plotlyjs(),
            "uplift": report["cart_uplift"],
        },
    )


def _fitted(predicted: dict[str, Any]) -> str:
    """Where the prediction's fit comes from: the segment refresh's, or this report's."""
    if predicted.get("fit_source") == "stored":
        return f"fitted at {predicted['fitted_at']} by the segment refresh"
    return "fitted for this report"
