"""The retention report at scale: ``python -m benchmarks.report_scaling [orders] [customers]``.

Claim checked (issue 9): the full report for 1 million orders of 200 thousand customers
on PostgreSQL takes under 10 seconds here, and at least 3 times less than computing the
same figures with pandas from a full export, in one run. What each side computes:

- the report (``report_total_seconds`` = ``report_sql_seconds`` + ``fit_seconds``), what a
  staff user waits for: the purchase figures (repurchase rate and repeat buyers,
  returning revenue, cycle overall and per product type, cohorts, formula LTV, segment
  sizes with RFM) from the kept purchase summaries, which the seeding's triggers built as
  the order intake and the backfill do; and the prediction (P(alive), expected orders and
  value, top customers, high-value customers) read back from the periodic segment
  refresh, which ran before it and is timed apart (``refresh_seconds``: scoring every
  customer, both fits on the grouped inputs, predicting and storing);
- pandas (``pandas_seconds``): the export (COPY to CSV) and the same purchase figures,
  segments with RFM and the per-customer BTYD inputs; no fit (the report reads one).

``pandas_over_report`` is the goal's ratio; ``pandas_over_sql`` compares the SQL figures
alone, as before.

Synthetic data, generated in PostgreSQL with a fixed seed, shaped like a shop's history so
the models have something to fit: customers drawn with skewed rates (customer c with
probability falling as 1/sqrt(c); about 190 thousand of the 200 thousand order at all),
each buying over a lifetime of their own (a start day and 30-730 days of life within the
two years), amounts around a mean spend of their own (20-200 USD, ±50 %), 30 % discounted,
one line per order of one of 5 product types. Runs in the benchmarks' database
(``benchmarks.support``), its purchase tables emptied first. ``main()`` returns the
figures; run alone it prints them as JSON.
"""

from __future__ import annotations

import io
import json
import sys
import time
from contextlib import ExitStack
from datetime import date
from typing import Any

from . import support

CHANNEL = "bench"
START, END, AS_OF = date(2024, 1, 1), date(2026, 1, 1), date(2025, 12, 31)


def seed(orders: int, customers: int) -> None:
    from django.db import connection

    from saleor_retention_plugin.models import (
        CustomerSegment,
        PurchaseDay,
        PurchasedLine,
        PurchasedOrder,
        PurchaseKindDay,
        PurchaseSummary,
        SegmentFit,
    )

    o, line = PurchasedOrder._meta.db_table, PurchasedLine._meta.db_table
    # TRUNCATE fires no trigger: the kept rows and the refresh's rows go with it.
    kept = ", ".join(
        model._meta.db_table
        for model in (PurchaseDay, PurchaseKindDay, PurchaseSummary, CustomerSegment, SegmentFit)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {line}, {o}, {kept} RESTART IDENTITY CASCADE")
        cursor.execute("SELECT setseed(0.42)")
        cursor.execute(
            f"""
            INSERT INTO {o} (order_id, channel_slug, customer_key, customer_id, placed_at,
                status, counts, currency, net_goods_amount, used_voucher, used_discount,
                source, recorded_at)
            SELECT 'b' || g, %s, 'customer:' || c, c,
                   timestamptz '2024-01-01 00:00+00'
                       + (start_day + random() * least(life, 730 - start_day)) * interval '1 day',
                   'fulfilled', true, 'USD', round((spend * (0.5 + random()))::numeric, 2),
                   false, random() < 0.3, 'benchmark', now()
            FROM (SELECT g, c, (c * 7919) %% 730 AS start_day,
                         30 + (c * 104729::bigint) %% 700 AS life,
                         20 + (c * 31337::bigint) %% 180 AS spend
                  FROM (SELECT g, 1 + floor(random() ^ 2 * %s)::int AS c
                        FROM generate_series(1, %s) g) drawn) s
            """,
            [CHANNEL, customers, orders],
        )
        cursor.execute(
            f"""
            INSERT INTO {line} (order_id, line_id, product_type_id, quantity, unit_price_net)
            SELECT id, '1', 'type' || (id % 5), 1, net_goods_amount FROM {o}
            """
        )
        cursor.execute(f"ANALYZE {o}; ANALYZE {line}")
        # The kept rows were all just written by the triggers: as autovacuum would soon,
        # set their hint bits and visibility and give the planner their statistics, so the
        # report's first reads do not pay for the seeding's writes.
        for model in (PurchaseDay, PurchaseKindDay, PurchaseSummary):
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")


def time_refresh() -> tuple[float, dict[str, Any]]:
    """(seconds, what it wrote) of the periodic segment refresh as of ``AS_OF``.

    It scores every customer and fits both models (BG/NBD on the grouped (x, t_x, T),
    Gamma-Gamma), predicting per customer, and stores all of it for the report.
    """
    from saleor_retention_plugin.models import SegmentFit
    from saleor_retention_plugin.services.segments import refresh_segments

    started = time.perf_counter()
    refreshed = refresh_segments(CHANNEL, "UTC", AS_OF)
    seconds = time.perf_counter() - started
    fit = SegmentFit.objects.get(channel_slug=CHANNEL)
    return seconds, {
        "customers": refreshed.customers,
        "fit_seconds": fit.fit_seconds,
        "distinct_rows": fit.distinct_rows,
        "unavailable": fit.unavailable,
    }


def time_report() -> tuple[float, float, dict[str, Any], dict[str, float]]:
    """(SQL seconds, prediction seconds, figures, seconds per part) of one report.

    What a staff user waits for after the periodic refresh: the SQL figures read the kept
    summaries (``models.summaries``), the prediction (P(alive), expected orders and value,
    top customers, the high-value customers) is the refresh's fit read back
    (``lifetime.stored_prediction``), and the segment sizes are summed from the stored
    segments; when those are not current the report fits for itself (``fits``; the
    ``fit_source`` says which) and scores the segments in SQL. The segment sizes are
    timed with the SQL figures.
    """
    from saleor_retention_plugin.selectors import lifetime, purchases, segments

    parts: dict[str, float] = {}

    def timed(name: str, call: Any) -> Any:
        started = time.perf_counter()
        result = call()
        parts[name] = round(time.perf_counter() - started, 2)
        return result

    scope = timed("scope", lambda: purchases.channel_scope(CHANNEL, "UTC", AS_OF))
    with ExitStack() as stack:
        timed("one pass", lambda: stack.enter_context(purchases.prepared(scope)))
        figures = {name: timed(name, call) for name, call in _report_figures(scope).items()}
        stored = timed("stored prediction", lambda: lifetime.stored_prediction(scope))
        if stored is not None:
            figures["predicted"] = stored.predicted
            figures["segments"] = timed(
                "segments",
                lambda: segments.stored_segment_sizes(scope, stored.cycle_days, stored.high),
            )
        else:
            table = timed("model inputs", lambda: lifetime.customer_table(scope))
            fit = timed("fits", lambda: lifetime.fit_models(table))
            high = timed("high value", lambda: lifetime.high_value(scope, table=table, fit=fit))
            figures["predicted"] = timed(
                "prediction", lambda: lifetime.predicted_value(scope, table=table, fit=fit)
            )
            figures["segments"] = timed(
                "segments", lambda: segments.segment_sizes(scope, high=high)
            )
    figures["kept"] = scope.kept
    fit_parts = ("stored prediction", "model inputs", "fits", "high value", "prediction")
    fit_seconds = sum(parts.get(name, 0) for name in fit_parts)
    return sum(parts.values()) - fit_seconds, fit_seconds, figures, parts


def _report_figures(scope: Any) -> dict[str, Any]:
    """The purchase figures as calls, by name (the segment sizes come after the fits)."""
    from saleor_retention_plugin.selectors import purchases

    return {
        "repurchase": lambda: purchases.repurchase_rate(scope, START, END, 90),
        "revenue": lambda: purchases.revenue_split(scope, START, END),
        "cycle": lambda: purchases.repurchase_cycle(scope, START, END),
        "cycle_by_type": lambda: purchases.repurchase_cycle_by(scope, START, END, "product_type"),
        "cohorts": lambda: purchases.cohorts(scope, START, END),
        "ltv": lambda: purchases.formula_ltv(scope, START, END),
    }


def time_pandas() -> tuple[float, dict[str, Any]]:
    """The same figures from a full export (COPY to CSV) with pandas."""
    import pandas as pd
    from django.db import connection

    from saleor_retention_plugin.models import PurchasedLine, PurchasedOrder

    started = time.perf_counter()
    exports = {}
    raw = connection.connection
    for name, sql in {
        "orders": f"SELECT id, customer_key, placed_at, net_goods_amount, used_discount "
        f"FROM {PurchasedOrder._meta.db_table} WHERE channel_slug = '{CHANNEL}' AND counts "
        f"AND net_goods_amount > 0",
        "lines": f"SELECT order_id, product_type_id FROM {PurchasedLine._meta.db_table}",
    }.items():
        buffer = io.BytesIO()
        with raw.cursor() as cursor, cursor.copy(f"COPY ({sql}) TO STDOUT WITH CSV HEADER") as copy:
            for chunk in copy:
                buffer.write(chunk)
        buffer.seek(0)
        exports[name] = pd.read_csv(buffer)
    o = exports["orders"]
    o["d"] = pd.to_datetime(o["placed_at"], utc=True, format="ISO8601").dt.tz_localize(None)
    o["d"] = o["d"].dt.normalize()
    o = o[o["d"] <= pd.Timestamp(AS_OF)]
    start, end, as_of = pd.Timestamp(START), pd.Timestamp(END), pd.Timestamp(AS_OF)
    o["first"] = o.groupby("customer_key")["d"].transform("min")
    in_period = o[(o["d"] >= start) & (o["d"] < end)]
    # repurchase within 90 days
    later = o[o["d"] > o["first"]]
    per = o.groupby("customer_key").agg(first=("d", "min"), last=("d", "max"),
                                        n=("d", "size"), rev=("net_goods_amount", "sum"),
                                        disc=("used_discount", "sum"))  # fmt: skip
    per["second"] = later.groupby("customer_key")["d"].min()
    new = per[(per["first"] >= start) & (per["first"] < end)]
    matured = new[new["first"] + pd.Timedelta(days=90) <= as_of]
    repeated = int((matured["second"] <= matured["first"] + pd.Timedelta(days=90)).sum())
    days_in = in_period.groupby("customer_key")["d"].nunique()
    figures: dict[str, Any] = {
        "rate": repeated / len(matured) if len(matured) else None,
        "simple_rate": float((days_in >= 2).mean()),
        "returning_share": float(
            in_period.loc[in_period["d"] > in_period["first"], "net_goods_amount"].sum()
            / in_period["net_goods_amount"].sum()
        ),
    }
    days = o[["customer_key", "d"]].drop_duplicates().sort_values(["customer_key", "d"])
    days["gap"] = days.groupby("customer_key")["d"].diff().dt.days
    gaps = days[(days["d"] >= start) & (days["d"] < end)]["gap"].dropna()
    figures["median_gap"] = float(gaps.median())
    figures["histogram"] = pd.cut(gaps, [0, 7, 14, 30, 60, 90, 180, 365, 10**6]).value_counts()
    typed = o.merge(exports["lines"], left_on="id", right_on="order_id")
    typed = typed[["customer_key", "d", "product_type_id"]].drop_duplicates()
    typed = typed.sort_values(["customer_key", "product_type_id", "d"])
    typed["gap"] = typed.groupby(["customer_key", "product_type_id"])["d"].diff().dt.days
    figures["median_gap_by_type"] = typed.dropna().groupby("product_type_id")["gap"].median()
    cohort = o[(o["first"] >= start) & (o["first"] < end)].copy()
    cohort["cohort"] = cohort["first"].dt.year * 12 + cohort["first"].dt.month
    cohort["age"] = cohort["d"].dt.year * 12 + cohort["d"].dt.month - cohort["cohort"]
    matrix = cohort.groupby(["cohort", "age"])["customer_key"].nunique().unstack(fill_value=0)
    figures["cohorts"] = matrix.div(matrix[0], axis=0)
    figures["ltv_revenue"] = cohort.groupby(["cohort", "age"])["net_goods_amount"].sum()
    figures["aov"] = in_period["net_goods_amount"].mean()
    cycle = min(max(round(figures["median_gap"]), 7), 365)
    per["segment"] = "dormant"
    per.loc[(as_of - per["last"]).dt.days < 2 * cycle, "segment"] = "active"
    per.loc[(as_of - per["first"]).dt.days < cycle, "segment"] = "new"
    per = per.sort_index()
    for column, key in (("r", -(as_of - per["last"]).dt.days), ("f", per["n"]), ("m", per["rev"])):
        per[column] = pd.qcut(key.rank(method="first"), 5, labels=False) + 1
    figures["segments"] = per["segment"].value_counts().to_dict()
    # BTYD summaries: x, t_x, T in weeks per customer.
    summaries = o.groupby(["customer_key", "d"])["net_goods_amount"].sum().reset_index()
    grouped = summaries.groupby("customer_key")["d"]
    figures["btyd_customers"] = int(grouped.ngroups)
    _ = ((grouped.max() - grouped.min()).dt.days / 7, (as_of - grouped.min()).dt.days / 7)
    return time.perf_counter() - started, figures


def _same_cohorts(ours: list[Any], matrix: Any) -> bool:
    """Each cohort's retention by month equals pandas' share (to the 4 places we round to)."""
    rows = [row for _, row in sorted(matrix.iterrows())]
    if len(rows) != len(ours):
        return False
    return all(
        abs(float(share) - float(row.get(age, 0.0))) < 1e-4
        for cohort, row in zip(ours, rows, strict=True)
        for age, share in enumerate(cohort.retention)
    )


def main(orders: int | None = None, customers: int | None = None) -> dict[str, Any]:
    """At full scale 1 million orders of 200 thousand customers (``support.scale().big``)."""
    orders = orders or support.scale().big
    customers = customers or max(orders // 5, 10)
    support.setup_django()
    started = time.perf_counter()
    seed(orders, customers)
    seeded = time.perf_counter() - started
    refresh_seconds, refreshed = time_refresh()
    sql_seconds, fit_seconds, ours, parts = time_report()
    pandas_seconds, theirs = time_pandas()
    agree = (
        ours["repurchase"].rate is not None
        and theirs["rate"] is not None
        and abs(float(ours["repurchase"].rate) - theirs["rate"]) < 1e-4
        and abs(float(ours["revenue"].returning_share) - theirs["returning_share"]) < 1e-4
        and ours["cycle"].median_days == theirs["median_gap"]
        and ours["segments"].by_segment == {k: theirs["segments"].get(k, 0)
                                            for k in ("new", "active", "dormant")}
        and _same_cohorts(ours["cohorts"], theirs["cohorts"])
        and ours["predicted"].customers == theirs["btyd_customers"]
    )  # fmt: skip
    total = sql_seconds + fit_seconds
    goals = {
        "full report under 10 s": total < 10,
        "pandas at least 3x slower than the full report": pandas_seconds >= 3 * total,
        "same figures as pandas": agree,
    }
    return {
        "orders": orders,
        "customers": customers,
        "seed_seconds": round(seeded, 2),
        "report_sql_seconds": round(sql_seconds, 2),
        "fit_seconds": round(fit_seconds, 2),
        "report_total_seconds": round(total, 2),
        "pandas_seconds": round(pandas_seconds, 2),
        "pandas_over_sql": round(support.ratio(pandas_seconds, sql_seconds), 2),
        "pandas_over_report": round(support.ratio(pandas_seconds, total), 2),
        "fit_source": ours["predicted"].fit_source,
        "kept_summaries": ours["kept"],
        "refresh_seconds": round(refresh_seconds, 2),
        "refresh": refreshed,
        "figures_agree": agree,
        "seconds_per_part": parts,
        "goals": goals,
        "summary": (
            f"report {total:.1f} s ({sql_seconds:.1f} SQL + {fit_seconds:.1f} "
            f"{ours['predicted'].fit_source} fit) for {orders} orders; pandas "
            f"{pandas_seconds:.1f} s ({support.ratio(pandas_seconds, total):.1f}x); refresh "
            f"{refresh_seconds:.1f} s; "
            f"{'same figures' if agree else 'FIGURES DIFFER'}"
        ),
    }


if __name__ == "__main__":
    print(json.dumps(main(*(int(arg) for arg in sys.argv[1:3])), indent=2))
