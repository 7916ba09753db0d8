"""How the cart sweep scales: time and plan of one sweep over many idle tracked carts.

Run: RETENTION_TEST_DB=<db> python -m pytest benchmarks/bench_cart_sweep.py -s
(prints the numbers; asserts only that the due-cart query uses its partial index).
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from saleor_retention_plugin.models import TrackedCart
from saleor_retention_plugin.services import cart_reminders

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.mark.django_db
@pytest.mark.parametrize("idle_carts", [10_000, 200_000])
def test_sweep_cost_follows_due_carts_not_tracked_carts(idle_carts, settings):
    settings.RETENTION_CHANNEL_SETTINGS_LOADER = "benchmarks.bench_cart_sweep.no_channel"
    batch = 10_000
    for start in range(0, idle_carts, batch):
        TrackedCart.objects.bulk_create(
            TrackedCart(
                checkout_token=uuid.uuid4(),
                channel_slug="tea-cn",
                email="x@example.com",
                last_activity_at=NOW - timedelta(minutes=5),
                next_check_at=NOW + timedelta(minutes=55),
            )
            for _ in range(min(batch, idle_carts - start))
        )
    TrackedCart.objects.bulk_create(
        TrackedCart(
            checkout_token=uuid.uuid4(),
            channel_slug="tea-cn",
            email="due@example.com",
            last_activity_at=NOW - timedelta(hours=2),
            next_check_at=NOW - timedelta(hours=1),
        )
        for _ in range(50)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE saleor_retention_plugin_trackedcart")
        sql, params = (
            TrackedCart.objects.due(NOW).order_by("next_check_at")[:200].query.sql_with_params()
        )
        cursor.execute("EXPLAIN ANALYZE " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    started = time.perf_counter()
    report = cart_reminders.advance_due_carts(now=NOW)
    elapsed = time.perf_counter() - started
    print(f"\n{idle_carts} idle + 50 due carts: sweep {elapsed * 1000:.1f} ms, {report}\n{plan}")
    assert report.looked_at == 50
    assert "retention_cart_due_idx" in plan


def no_channel(channel_slug):
    return None
