"""The customer's own account read, ``myLoyaltyAccount`` (issue 12, benchmark 2).

The storefront's query (balance, spendable, pending, expiring points, tier, progress to
the next tier, benefits, the first 20 history entries) executed against the schema with
a signed-in customer's context, as the endpoint does after authentication.

Customers: a *spender* whose entries' lots are all spent (remaining 0) and a *hoarder*
who keeps every lot open; each with 10 and with ``history`` (10,000) entries. Other
customers' data (entries, lots, qualifying orders) is ``big / 10`` rows in one database
(``<RETENTION_BENCH_DB>_small_other_data``, a second connection) and ``big`` rows in the
other, the same four customers in each; both seeded, vacuumed and analysed alike. All
eight cases are read in turns, round after round, each customer's two databases one
after the other, so the load of a shared machine weighs on every case alike.

A ratio is the median of the ratios of each round's two reads (paired: the reads it
compares were made at nearly the same moment), not the ratio of two medians taken over
the whole run. At 7 ms a read (two thirds of it Python, the rest 7 round trips of 0.2-0.8
ms) a load average of 8-24 makes a read 27-37 ms, nearly all of it waiting for a core;
medians of 15 such reads put 1.35 on two databases that read alike (30 Nov 2026: 300
paired rounds quiet, 0.99-1.01). Each case also reports ``sql_ms``, the median time
inside the 7 statements' round trips, so a difference shows whether the SQL grew.
The two databases are two PostgreSQL backends: a quiet measurement must spare both.

Goals: the read with 10,000 entries within 1.2 times the read with 10, for both
customers; the read beside 10 times more other customers' data within 1.2 times, for
each of the four customers (``other_data_10x`` is the worst of the four); the query
count the same in every case.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks import support
from benchmarks.ledger_path import CHANNEL, TABLE, seed_other_customers

QUERY = """
{ myLoyaltyAccount {
    balance spendablePoints pendingPoints lifetimePoints
    pointsExpiringSoon { points }
    tier { code } nextTier { remaining ratio tier { code } } benefits { kind }
    history(first: 20) { edges { node { kind points } } }
} }
"""
REPEAT = 51  # rounds; odd, so a median is one round's figure


def seed_customer(customer_id: int, entries: int, *, hoarder: bool) -> None:
    account, entry, lot, qualifying = (
        TABLE.format(name)
        for name in ("loyaltyaccount", "pointsentry", "pointslot", "qualifyingorder")
    )
    remaining = 10 if hoarder else 0
    support.execute(
        f"""INSERT INTO {account} (channel_slug, customer_id, email, balance, lifetime_earned,
               created_at, updated_at)
            VALUES (%s, %s, NULL, %s, %s, now(), now())""",
        [CHANNEL, customer_id, remaining * entries, 10 * entries],
    )
    account_id = support.scalar(
        f"SELECT id FROM {account} WHERE channel_slug = %s AND customer_id = %s",
        [CHANNEL, customer_id],
    )
    support.execute(
        f"""INSERT INTO {entry} (kind, points, written_off, idempotency_key, order_id,
               order_number, reason, actor, details, created_at, account_id)
            SELECT 'earn', 10, 0, 'c' || %s || ':' || g, 'c' || %s || '-' || g, g::text, '', '',
                   '{{}}', now() - (g || ' minutes')::interval, %s
            FROM generate_series(1, %s) g""",
        [customer_id, customer_id, account_id, entries],
    )
    support.execute(
        f"""INSERT INTO {lot} (order_id, points, remaining, available_at, expires_at,
               account_id, entry_id)
            SELECT order_id, 10, %s, created_at, now() + interval '1 year', account_id, id
            FROM {entry} WHERE account_id = %s""",
        [remaining, account_id],
    )
    support.execute(
        f"""INSERT INTO {qualifying} (order_id, points_earned, amount_spent, currency,
               placed_at, updated_at, account_id)
            SELECT 'c' || %s || '-' || g, 10, 10.00, 'USD', now() - interval '1 day', now(), %s
            FROM generate_series(1, %s) g""",
        [customer_id, account_id, entries],
    )


class _Statements:
    """Counts the statements Django sends and sums the seconds spent in their round trips."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.count += 1
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started


def read_once(customer_id: int) -> tuple[float, int, float]:
    """Seconds, SQL statements and seconds inside them of one read (fresh context, memo)."""
    from django.db import connection
    from graphql import parse
    from graphql.execution import execute

    from saleor_retention_plugin.conf import ChannelSettings
    from saleor_retention_plugin.graphql.context import LoyaltyContext
    from saleor_retention_plugin.graphql.requestor import Requestor, RequestorKind
    from saleor_retention_plugin.graphql.schema import schema

    document = parse(QUERY)
    context = LoyaltyContext(
        channel_slug=CHANNEL,
        settings=ChannelSettings(),
        requestor=Requestor(RequestorKind.CUSTOMER, user_id=customer_id),
    )
    statements = _Statements()
    with connection.execute_wrapper(statements):
        result: Any = None

        def run() -> None:
            nonlocal result
            result = execute(schema, document, context_value=context)

        seconds = support.timed(run)
    assert not result.errors, result.errors
    return seconds, statements.count, statements.seconds


def paired_reads(cases: dict[str, tuple[Any, int]]) -> dict[str, list[tuple[float, int, float]]]:
    """Each case's reads, one per round: (seconds, statements, seconds inside them).

    ``cases``: a name -> the database's connection and the customer read there, in the
    order they are read (cases compared with each other next to each other). ``REPEAT``
    rounds, every other round backwards, after one warming read of each, so a burst of
    load on the shared machine slows the two reads of a pair alike.
    """

    def read(name: str) -> tuple[float, int, float]:
        connection, customer_id = cases[name]
        with support.on_connection(connection):
            return read_once(customer_id)

    for name in cases:
        read(name)  # warm caches, as a storefront's repeated reads are
    samples: dict[str, list[tuple[float, int, float]]] = {name: [] for name in cases}
    for round_number in range(REPEAT):
        names = list(cases) if round_number % 2 == 0 else list(reversed(cases))
        for name in names:
            samples[name].append(read(name))
    return samples


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def paired_ratio(
    samples: dict[str, list[tuple[float, int, float]]], numerator: str, denominator: str
) -> float:
    """The median over rounds of ``numerator``'s read time over ``denominator``'s."""
    return round(
        median(
            [
                top[0] / bottom[0]
                for top, bottom in zip(samples[numerator], samples[denominator], strict=True)
            ]
        ),
        2,
    )


def seed(other_rows: int, customers: dict[tuple[str, int], int]) -> None:
    from saleor_retention_plugin.services.tiers import seed_default_tiers

    support.empty_tables()
    seed_default_tiers(CHANNEL)
    seed_other_customers(other_rows)
    for (kind, entries), customer_id in customers.items():
        seed_customer(customer_id, entries, hoarder=kind == "hoarder")
    # Vacuumed and analysed now, so autovacuum does not visit the new rows mid-measure.
    support.execute("VACUUM ANALYZE")


def main() -> dict[str, Any]:
    from django.db import connections

    support.setup_django()
    size = support.scale()
    customers = {
        ("spender", 10): 1,
        ("spender", size.history): 2,
        ("hoarder", 10): 3,
        ("hoarder", size.history): 4,
    }
    with support.second_database("small_other_data") as small_database:
        sides = {
            "small_other_data": (small_database, size.big // 10),
            "large_other_data": (connections["default"], size.big),
        }
        for connection, other_rows in sides.values():
            with support.on_connection(connection):
                seed(other_rows, customers)
        samples = paired_reads(
            {
                f"{label}/{kind}/{entries}": (connection, customer_id)
                for (kind, entries), customer_id in customers.items()
                for label, (connection, _) in sides.items()
            }
        )
    cases: dict[str, Any] = {
        name: {
            "other_rows": sides[name.split("/")[0]][1],
            "ms": round(median([seconds for seconds, _, _ in reads]) * 1000, 2),
            "sql_ms": round(median([sql for _, _, sql in reads]) * 1000, 2),
            "queries": reads[0][1],
        }
        for name, reads in samples.items()
    }
    support.empty_tables()

    h = size.history
    ratios: dict[str, Any] = {
        "spender_history": paired_ratio(
            samples, f"small_other_data/spender/{h}", "small_other_data/spender/10"
        ),
        "hoarder_history": paired_ratio(
            samples, f"small_other_data/hoarder/{h}", "small_other_data/hoarder/10"
        ),
    }
    # Beside 10 times more other data: each customer's paired ratio; the figure is the worst.
    ratios["other_data_10x_by_customer"] = {
        f"{kind}/{entries}": paired_ratio(
            samples, f"large_other_data/{kind}/{entries}", f"small_other_data/{kind}/{entries}"
        )
        for kind, entries in customers
    }
    ratios["other_data_10x"] = max(ratios["other_data_10x_by_customer"].values())
    query_counts = sorted({count for reads in samples.values() for _, count, _ in reads})
    goals = {
        "history_within_1_2x": ratios["spender_history"] <= 1.2
        and ratios["hoarder_history"] <= 1.2,
        "other_data_within_1_2x": ratios["other_data_10x"] <= 1.2,
        "fixed_query_count": len(query_counts) == 1,
    }
    return {
        "cases": cases,
        "ratios": ratios,
        "query_counts": query_counts,
        "goals": goals,
        "summary": (
            f"{h:,} vs 10 entries: spender {ratios['spender_history']}x, hoarder "
            f"{ratios['hoarder_history']}x; 10x other data {ratios['other_data_10x']}x; "
            f"queries {query_counts}; {support.verdict(all(goals.values()))}"
        ),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
