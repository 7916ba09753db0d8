"""Backfill rate and peak memory: ``python -m benchmarks.backfill_memory [orders ...]``.

Claim checked (issue 9): the backfill's memory stays flat whatever the file's size (it
holds one batch), so peak memory at 1 million orders is about that at 100 thousand;
orders per second are reported for both. Goal: the peak at the big size within 1.2 times
the small one's (``MAX_GROWTH``). Each size runs in a fresh process (its own peak
RSS, ``VmHWM``: ``benchmarks/peak_memory.py``) on a JSON-lines file of synthetic orders
with one line each, written beforehand, into the same empty tables (orders, lines, kept
summaries and checkpoints truncated before each size). Uses its own PostgreSQL database,
``<RETENTION_BENCH_DB>_backfill`` (``retention_bench_backfill`` by default), dropped at
the end. ``main()`` prints one JSON object.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from typing import Any

# Named after the run's benchmark database, so two checkouts' runs never share it.
BENCH_DB = os.environ.get("RETENTION_BENCH_DB", "retention_bench") + "_backfill"
# "Flat": the big file's peak resident memory within this many times the small one's (the
# process itself, Django and the plugin loaded, is most of it; one batch is the rest).
MAX_GROWTH = 1.2


def write_orders(path: str, orders: int, seed: int = 3) -> None:
    rng = random.Random(seed)
    start = datetime(2023, 1, 1, tzinfo=UTC)
    with open(path, "w", encoding="utf-8") as handle:
        for number in range(orders):
            amount = rng.randrange(500, 20000) / 100
            placed = start + timedelta(seconds=rng.randrange(3 * 365 * 86400))
            handle.write(
                json.dumps(
                    {
                        "order_id": f"o{number}",
                        "channel": "bench",
                        "customer_id": rng.randrange(orders // 5 + 1),
                        "placed_at": placed.isoformat(),
                        "currency": "USD",
                        "net_goods_amount": f"{amount:.2f}",
                        "lines": [
                            {
                                "line_id": "1",
                                "sku": f"SKU{number % 500}",
                                "quantity": 1,
                                "unit_price_net": f"{amount:.2f}",
                            }
                        ],
                    }
                )
                + "\n"
            )


def _server_url() -> str:
    return os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def _drop_database() -> None:
    import psycopg

    with psycopg.connect(_server_url(), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')


def _child(path: str) -> None:
    """Run in a fresh process: one backfill of ``path``; prints its figures as JSON."""
    import time

    import psycopg

    from benchmarks.peak_memory import own_peak_kb

    base = _server_url()
    with psycopg.connect(base, autocommit=True) as connection:
        if not connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (BENCH_DB,)
        ).fetchone():
            connection.execute(f'CREATE DATABASE "{BENCH_DB}"')
    os.environ["DATABASE_URL"] = base.rsplit("/", 1)[0] + "/" + BENCH_DB
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection as db

    from saleor_retention_plugin.models import (
        BackfillCheckpoint,
        PurchaseDay,
        PurchasedLine,
        PurchasedOrder,
        PurchaseKindDay,
        PurchaseSummary,
    )
    from saleor_retention_plugin.services.backfill import file_rows, run_backfill

    call_command("migrate", verbosity=0)
    # Every size starts from the same empty shop: TRUNCATE fires no trigger, so the kept
    # summaries are emptied with the orders they summarise.
    tables = (
        PurchasedOrder, PurchasedLine, PurchaseDay, PurchaseKindDay, PurchaseSummary,
        BackfillCheckpoint,
    )  # fmt: skip
    with db.cursor() as cursor:
        cursor.execute(
            f"TRUNCATE {', '.join(model._meta.db_table for model in tables)} "
            "RESTART IDENTITY CASCADE"
        )
    # The process's own high-water mark: getrusage's would include the runner's memory
    # at the fork (benchmarks/peak_memory.py).
    before = own_peak_kb()
    started = time.perf_counter()
    report = run_backfill(f"bench:{path}", file_rows(path), batch_size=1000)
    seconds = time.perf_counter() - started
    peak = own_peak_kb()
    print(
        json.dumps(
            {
                "orders": report.orders_imported,
                "seconds": round(seconds, 1),
                "orders_per_second": round(report.orders_imported / seconds),
                "rss_before_mb": round(before / 1024, 1),
                "peak_rss_mb": round(peak / 1024, 1),
            }
        )
    )


def main(sizes: tuple[int, ...] | None = None) -> dict[str, Any]:
    """Run both sizes; returns (and prints) the figures for ``python -m benchmarks``.

    Default sizes follow ``RETENTION_BENCH_SCALE``: 100 thousand and 1 million orders
    (full), 2 thousand and 20 thousand (small).
    """
    if sizes is None:
        small = os.environ.get("RETENTION_BENCH_SCALE") == "small"
        sizes = (2_000, 20_000) if small else (100_000, 1_000_000)
    runs = []
    with tempfile.TemporaryDirectory(prefix="retention-backfill-bench-") as scratch:
        for orders in sizes:
            path = os.path.join(scratch, f"orders-{orders}.jsonl")
            write_orders(path, orders)
            done = subprocess.run(
                [sys.executable, "-m", "benchmarks.backfill_memory", "--child", path],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
            os.remove(path)
    _drop_database()
    growth = round(runs[-1]["peak_rss_mb"] / runs[0]["peak_rss_mb"], 2)
    goals = {"peak_memory_flat_within_1_2x": growth <= MAX_GROWTH}
    result: dict[str, Any] = {
        "benchmark": "backfill_memory",
        "runs": runs,
        "peak_rss_growth_ratio": growth,
        "target": "peak memory flat in the number of orders",
        "goals": goals,
        "summary": (
            f"peak memory {runs[0]['peak_rss_mb']} MB at {runs[0]['orders']:,} orders "
            f"({runs[0]['orders_per_second']} orders/s), {runs[-1]['peak_rss_mb']} MB at "
            f"{runs[-1]['orders']:,} ({runs[-1]['orders_per_second']} orders/s): {growth}x; "
            + ("goal met" if all(goals.values()) else "goal NOT met")
        ),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2])
    else:
        main(tuple(int(arg) for arg in sys.argv[1:]) or None)
