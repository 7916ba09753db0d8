"""How the shop-wide opt-out check scales: one miss against few or many opt-outs.

An unsubscribe covers every channel, so the check cannot filter on the channel.
``consent.is_opted_out`` is one ``EXISTS`` over two channel-free partial indexes (migration
0020; before them a plain ``customer_id = %s`` took 70 ms at 400,000 opt-outs here, against
1.3 ms within one channel).

Run: RETENTION_TEST_DB=<db> python -m pytest benchmarks/bench_consent.py -s
(prints the numbers; asserts only that the large table is not scanned whole).
"""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.db.models import Q

from saleor_retention_plugin.models import MarketingOptOut
from saleor_retention_plugin.services import consent

CHANNELS = ("tea-cn", "tea-eu", "tea-us")
CHECKS = 200


def fill(opt_outs: int) -> None:
    table = connection.ops.quote_name(MarketingOptOut._meta.db_table)
    half = opt_outs // 2
    with connection.cursor() as cursor:
        for column, value in (
            ("customer_id", "g"),
            ("email_digest", "md5(g::text) || md5(g::text)"),
        ):
            cursor.execute(
                f"INSERT INTO {table} (channel_slug, {column}, source, created_at) "
                f"SELECT (%s::text[])[1 + g %% 3], {value}, 'bench', now() "
                f"FROM generate_series(1, %s) g",
                [list(CHANNELS), half],
            )
        cursor.execute(f"ANALYZE {table}")


@pytest.mark.django_db
@pytest.mark.parametrize("opt_outs", [2_000, 400_000])
def test_an_opt_out_check_costs_the_same_for_few_or_many_opt_outs(opt_outs):
    fill(opt_outs)

    def check() -> bool:
        return consent.is_opted_out("tea-cn", email="nobody@example.com", customer_id=10**12)

    check()
    started = time.perf_counter()
    for _ in range(CHECKS):
        assert not check()
    per_check_ms = (time.perf_counter() - started) / CHECKS * 1000
    print(f"\nconsent: {opt_outs} opt-outs, one shop-wide miss {per_check_ms:.3f} ms")

    query = MarketingOptOut.objects.filter(Q(customer_id=10**12) | Q(email_digest="x" * 64)).values(
        "pk"
    )[:1]
    plan = query.explain()
    if opt_outs >= 100_000:  # a small table is rightly scanned whole
        assert "Seq Scan" not in plan, plan
