"""The customer's own account read, ``myLoyaltyAccount`` (issue 12, benchmark 2).

The storefront's query (balance, spendable, pending, expiring points, tier, progress to
the next tier, benefits, the first 20 history entries) executed against the schema with
a signed-in customer's context, as the endpoint does after authentication.

Customers: a *spender* whose entries' lots are all spent (remaining 0) and a *hoarder*
who keeps every lot open; each with 10 and with ``history`` (10,000) entries. Other
customers' data (entries, lots, qualifying orders) is ``big / 10`` rows in one database
(``<RETENTION_BENCH_DB>_small_other_data``, a second connection) and ``big`` rows in the
other, the same four customers in each. All eight cases are read in turns, round after
round, so the load of a shared machine weighs on every case alike and every ratio comes
from reads made at the same moments (the two sizes used to be measured minutes apart,
and the load that moved between them moved the other-data ratio).

Goals: the median time of a read with 10,000 entries within 1.2 times the read with 10,
for both customers; the read beside 10 times more other customers' data within 1.2
times; the query count the same in every case.
"""

from __future__ import annotations

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
REPEAT = 15


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


def read_once(customer_id: int) -> tuple[float, int]:
    """Seconds and SQL statements of one read (the request's own context, fresh memo)."""
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
    with support.counting_queries() as counter:
        result: Any = None

        def run() -> None:
            nonlocal result
            result = execute(schema, document, context_value=context)

        seconds = support.timed(run)
    assert not result.errors, result.errors
    return seconds, counter.count


def median_reads(cases: dict[str, tuple[Any, int]]) -> dict[str, tuple[float, int]]:
    """Median seconds and the query count of each case's read.

    ``cases``: a name -> the database's connection and the customer read there. The
    cases are read in turns (one read each per round, ``REPEAT`` rounds, every other
    round backwards), so a burst of load on the shared machine slows every case alike
    instead of one case's whole series: the ratios compare reads made at the same moments.
    """

    def read(name: str) -> tuple[float, int]:
        connection, customer_id = cases[name]
        with support.on_connection(connection):
            return read_once(customer_id)

    for name in cases:
        read(name)  # warm caches, as a storefront's repeated reads are
    samples: dict[str, list[tuple[float, int]]] = {name: [] for name in cases}
    for round_number in range(REPEAT):
        names = list(cases) if round_number % 2 == 0 else list(reversed(cases))
        for name in names:
            samples[name].append(read(name))
    medians = {}
    for name, reads in samples.items():
        times = sorted(seconds for seconds, _ in reads)
        medians[name] = (times[len(times) // 2], reads[0][1])
    return medians


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
        medians = median_reads(
            {
                f"{label}/{kind}/{entries}": (connection, customer_id)
                for label, (connection, _) in sides.items()
                for (kind, entries), customer_id in customers.items()
            }
        )
    cases: dict[str, Any] = {
        name: {
            "other_rows": sides[name.split("/")[0]][1],
            "ms": round(seconds * 1000, 2),
            "queries": queries,
        }
        for name, (seconds, queries) in medians.items()
    }
    support.empty_tables()

    def ms(key: str) -> float:
        return cases[key]["ms"]

    h = size.history
    ratios = {
        "spender_history": support.ratio(
            ms(f"small_other_data/spender/{h}"), ms("small_other_data/spender/10")
        ),
        "hoarder_history": support.ratio(
            ms(f"small_other_data/hoarder/{h}"), ms("small_other_data/hoarder/10")
        ),
        "other_data_10x": support.ratio(
            ms("large_other_data/spender/10"), ms("small_other_data/spender/10")
        ),
    }
    query_counts = sorted({case["queries"] for case in cases.values()})
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
