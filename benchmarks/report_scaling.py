"""The retention report at scale: ``python -m benchmarks.report_scaling [orders] [customers]``.

Claim checked (issue 9): the full report for 1 million orders of 200 thousand customers
on PostgreSQL takes under 10 seconds here, and at least 3 times less than computing the
same figures with pandas from a full export. Both sides compute the purchase figures
(repurchase rate and repeat buyers, returning revenue, cycle overall and per product type,
cohorts, formula LTV, segments with RFM) and the per-customer BTYD summaries; the model fit
itself (the same SciPy code on both sides) is timed apart, as ``fit_seconds``.

Synthetic data, generated in PostgreSQL with a fixed seed: customers drawn uniformly, order
days uniform over two years, amounts 5-205 USD, 30 % discounted, one line per order of one
of 5 product types. Uses its own database ``retention_benchmark_history`` (emptied first).
``main()`` prints one JSON object.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from datetime import date
from typing import Any

BENCH_DB = "retention_benchmark_history"
CHANNEL = "bench"
START, END, AS_OF = date(2024, 1, 1), date(2026, 1, 1), date(2025, 12, 31)


def setup_django() -> None:
    import psycopg

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    with psycopg.connect(base, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (BENCH_DB,)
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{BENCH_DB}"')
    os.environ["DATABASE_URL"] = base.rsplit("/", 1)[0] + "/" + BENCH_DB
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed(orders: int, customers: int) -> None:
    from django.db import connection

    from saleor_retention_plugin.models import PurchasedLine, PurchasedOrder

    o, line = PurchasedOrder._meta.db_table, PurchasedLine._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {line}, {o} RESTART IDENTITY CASCADE")
        cursor.execute("SELECT setseed(0.42)")
        cursor.execute(
            f"""
            INSERT INTO {o} (order_id, channel_slug, customer_key, customer_id, placed_at,
                status, counts, currency, net_goods_amount, used_voucher, used_discount,
                source, recorded_at)
            SELECT 'b' || g, %s, 'customer:' || c, c,
                   timestamptz '2024-01-01 00:00+00' + random() * interval '730 days',
                   'fulfilled', true, 'USD', round((5 + random() * 200)::numeric, 2), false,
                   random() < 0.3, 'benchmark', now()
            FROM (SELECT g, 1 + floor(random() * %s)::int AS c
                  FROM generate_series(1, %s) g) s
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


def time_report() -> tuple[float, float, dict[str, Any]]:
    from saleor_retention_plugin.domain import btyd
    from saleor_retention_plugin.selectors import purchases

    started = time.perf_counter()
    scope = purchases.channel_scope(CHANNEL, "UTC", AS_OF)
    with purchases.prepared(scope):
        figures, summaries = _report_figures(scope)
    sql_seconds = time.perf_counter() - started
    started = time.perf_counter()
    btyd.fit_bg_nbd(summaries)
    btyd.fit_gamma_gamma(summaries)
    fit_seconds = time.perf_counter() - started
    return sql_seconds, fit_seconds, figures


def _report_figures(scope: Any) -> tuple[dict[str, Any], Any]:
    from saleor_retention_plugin.selectors import lifetime, purchases, segments

    figures = {
        "repurchase": purchases.repurchase_rate(scope, START, END, 90),
        "revenue": purchases.revenue_split(scope, START, END),
        "cycle": purchases.repurchase_cycle(scope, START, END),
        "cycle_by_type": purchases.repurchase_cycle_by(scope, START, END, "product_type"),
        "cohorts": purchases.cohorts(scope, START, END),
        "ltv": purchases.formula_ltv(scope, START, END),
        "segments": segments.segment_sizes(scope),
    }
    return figures, lifetime.customer_summaries(scope)


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


def main(orders: int | None = None, customers: int | None = None) -> dict[str, Any]:
    """Run the comparison; returns (and prints) its figures for ``python -m benchmarks``.

    Default sizes follow ``RETENTION_BENCH_SCALE``: 1 million orders of 200 thousand
    customers (full), 20 thousand of 4 thousand (small, a check that it runs)."""
    small = os.environ.get("RETENTION_BENCH_SCALE") == "small"
    orders = orders or (20_000 if small else 1_000_000)
    customers = customers or (4_000 if small else 200_000)
    setup_django()
    started = time.perf_counter()
    seed(orders, customers)
    seeded = time.perf_counter() - started
    sql_seconds, fit_seconds, ours = time_report()
    pandas_seconds, theirs = time_pandas()
    assert ours["repurchase"].rate is not None
    assert theirs["rate"] is not None
    agree = (
        abs(float(ours["repurchase"].rate) - theirs["rate"]) < 1e-4
        and abs(float(ours["revenue"].returning_share) - theirs["returning_share"]) < 1e-4
        and ours["cycle"].median_days == theirs["median_gap"]
        and ours["segments"].by_segment == {k: theirs["segments"].get(k, 0)
                                            for k in ("new", "active", "dormant")}
    )  # fmt: skip
    result: dict[str, Any] = {
        "benchmark": "report_scaling",
        "orders": orders,
        "customers": customers,
        "seed_seconds": round(seeded, 2),
        "report_sql_seconds": round(sql_seconds, 2),
        "fit_seconds": round(fit_seconds, 2),
        "report_total_seconds": round(sql_seconds + fit_seconds, 2),
        "pandas_seconds": round(pandas_seconds, 2),
        "pandas_over_sql": round(pandas_seconds / sql_seconds, 2),
        "figures_agree": agree,
        "target": "report under 10 s; pandas at least 3x slower",
    }
    result["goals"] = {
        "figures_agree": agree,
        "report_under_10_s": result["report_total_seconds"] < 10,
        "pandas_at_least_3x_slower": result["pandas_over_sql"] >= 3,
    }
    result["summary"] = (
        f"{orders:,} orders: report {result['report_total_seconds']} s, pandas "
        f"{result['pandas_seconds']} s ({result['pandas_over_sql']}x), figures agree: {agree}"
    )
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]))
