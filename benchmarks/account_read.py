"""The customer's own account read, ``myLoyaltyAccount`` (issue 12, benchmark 2).

The storefront's query (balance, spendable, pending, expiring points, tier, progress to
the next tier, benefits, the first 20 history entries) executed against the schema with
a signed-in customer's context, as the endpoint does after authentication.

Customers: a *spender* whose entries' lots are all spent (remaining 0) and a *hoarder*
who keeps every lot open; each with 10 and with ``history`` (10,000) entries. Other
customers' data (entries, lots, qualifying orders) is ``big / 10`` rows, then ``big``.

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


def median_reads(customer_ids: list[int]) -> dict[int, tuple[float, int]]:
    """Median seconds and the query count of each customer's read.

    The customers are read in turns (one read each per round, ``REPEAT`` rounds), so a
    burst of load on the shared machine slows every case alike instead of one case's
    whole series: the ratios compare reads made at the same moments.
    """
    for customer_id in customer_ids:
        read_once(customer_id)  # warm caches, as a storefront's repeated reads are
    samples: dict[int, list[tuple[float, int]]] = {customer_id: [] for customer_id in customer_ids}
    for _ in range(REPEAT):
        for customer_id in customer_ids:
            samples[customer_id].append(read_once(customer_id))
    medians = {}
    for customer_id, reads in samples.items():
        times = sorted(seconds for seconds, _ in reads)
        medians[customer_id] = (times[len(times) // 2], reads[0][1])
    return medians


def main() -> dict[str, Any]:
    support.setup_django()
    from saleor_retention_plugin.services.tiers import seed_default_tiers

    size = support.scale()
    cases: dict[str, Any] = {}
    customers = {
        ("spender", 10): 1,
        ("spender", size.history): 2,
        ("hoarder", 10): 3,
        ("hoarder", size.history): 4,
    }
    for label, other_rows in (("small_other_data", size.big // 10), ("large_other_data", size.big)):
        support.empty_tables()
        seed_default_tiers(CHANNEL)
        seed_other_customers(other_rows)
        for (kind, entries), customer_id in customers.items():
            seed_customer(customer_id, entries, hoarder=kind == "hoarder")
        support.analyze()
        medians = median_reads(list(customers.values()))
        for (kind, entries), customer_id in customers.items():
            seconds, queries = medians[customer_id]
            cases[f"{label}/{kind}/{entries}"] = {
                "other_rows": other_rows,
                "ms": round(seconds * 1000, 2),
                "queries": queries,
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
