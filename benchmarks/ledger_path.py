"""Order events through the task path against a plain-SQL floor (issue 12, benchmark 1).

*Task path*: ``sync_order_points_task`` (what a Saleor order hook enqueues) run in this
process for one fully paid order per event: the points booked, the lot opened, the
order recorded for tiers and the tier checked (default Member / Silver / Gold tiers).

*Floor*: the same rows (account upsert, entry, lot, qualifying order, purchase-history
order row) written with five plain SQL statements in one transaction per order: what the
path cannot beat. The path also writes the account's tier row (``CustomerTier``, and a
``TierChange`` on a change) and reads what it must decide on; the floor does not.

Both run on an empty shop and beside ``big`` other rows (1 million at full scale: other
customers' entries, lots and qualifying orders, ten per account), built set-based with
``INSERT ... SELECT generate_series``. The empty shop is a second database of its own
(``<RETENTION_BENCH_DB>_empty``, created, migrated and dropped here), held open on a second
connection.

Everything takes turns in batches of ``BATCH`` orders after a warm-up of 50 (one per
customer): in each round, on each database, the floor and then the task path; the two
databases' order alternates from round to round. So a shared machine's load weighs on the
floor and the path, and on the empty shop and the big one, alike, and the raw rate ratio
comes from one run (before, the two halves ran minutes apart, and the load that moved
between them moved the raw ratio by up to 2 times).

Goals: the task path within 3 times the floor on both databases; beside 1 million rows
within 1.2 times of the empty shop in raw event rates. The load-adjusted ratio (the task
path's times-the-floor beside the rows over the same on the empty shop) is reported too.
Figures are events per second (higher is better).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from benchmarks import support

CHANNEL = "bench"
TABLE = "saleor_retention_plugin_{}"


def seed_other_customers(rows: int) -> None:
    """``rows`` earned entries, lots and qualifying orders of ``rows / 10`` other accounts."""
    accounts = max(rows // 10, 1)
    account, entry, lot, qualifying = (
        TABLE.format(name)
        for name in ("loyaltyaccount", "pointsentry", "pointslot", "qualifyingorder")
    )
    support.execute(
        f"""INSERT INTO {account} (channel_slug, customer_id, email, balance, lifetime_earned,
               created_at, updated_at)
            SELECT %s, 10000000 + g, NULL, 100, 100, now(), now()
            FROM generate_series(1, %s) g""",
        [CHANNEL, accounts],
    )
    first_id = support.scalar(f"SELECT min(id) FROM {account} WHERE customer_id > 10000000")
    support.execute(
        f"""INSERT INTO {entry} (kind, points, written_off, idempotency_key, order_id,
               order_number, reason, actor, details, created_at, account_id)
            SELECT 'earn', 10, 0, 'other:' || g, 'other-' || g, g::text, '', '', '{{}}',
                   now() - interval '10 days', %s + (g - 1) / 10
            FROM generate_series(1, %s) g""",
        [first_id, rows],
    )
    support.execute(
        f"""INSERT INTO {lot} (order_id, points, remaining, available_at, expires_at,
               account_id, entry_id)
            SELECT order_id, 10, 10, created_at, now() + interval '1 year', account_id, id
            FROM {entry} WHERE idempotency_key LIKE 'other:%%'"""
    )
    support.execute(
        f"""INSERT INTO {qualifying} (order_id, points_earned, amount_spent, currency,
               placed_at, updated_at, account_id)
            SELECT 'other-' || g, 10, 10.00, 'USD', now() - interval '10 days', now(),
                   %s + (g - 1) / 10
            FROM generate_series(1, %s) g""",
        [first_id, rows],
    )


def order(number: int, prefix: str, now: datetime) -> dict[str, Any]:
    from saleor_retention_plugin.domain.orders import OrderSnapshot

    return OrderSnapshot(
        order_id=f"{prefix}-{number}",
        number=str(number),
        channel_slug=CHANNEL,
        channel_currency="USD",
        currency="USD",
        customer_id=number % 50 + 1,
        email=f"customer{number % 50 + 1}@example.com",
        status="unfulfilled",
        is_fully_paid=True,
        points_base_amount=Decimal("25.00"),
        total_amount=Decimal("30.00"),
        refunded_amount=Decimal(0),
        created_at=now,
    ).to_json()


def task_path(orders: range, prefix: str) -> tuple[float, int]:
    """Seconds for ``orders`` through the task, and the SQL statements they sent."""
    from saleor_retention_plugin.conf import ChannelSettings
    from saleor_retention_plugin.tasks import sync_order_points_task

    configuration = ChannelSettings().as_task_configuration()
    now = datetime.now(UTC)
    events = [order(number, prefix, now) for number in orders]
    with support.counting_queries() as counter:
        seconds = support.timed(
            lambda: [sync_order_points_task.run(event, configuration) for event in events]
        )
    return seconds, counter.count


def floor(orders: range, prefix: str) -> float:
    """Seconds writing the same rows with plain SQL, one transaction per order."""
    from django.db import connection, transaction

    account, entry, lot, qualifying, purchase = (
        TABLE.format(name)
        for name in (
            "loyaltyaccount",
            "pointsentry",
            "pointslot",
            "qualifyingorder",
            "purchasedorder",
        )
    )
    now = datetime.now(UTC)

    def one(number: int) -> None:
        customer = 20_000_000 + number % 50
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"""INSERT INTO {account} (channel_slug, customer_id, email, balance,
                       lifetime_earned, created_at, updated_at)
                    VALUES (%s, %s, NULL, 25, 25, %s, %s)
                    ON CONFLICT (channel_slug, customer_id) WHERE customer_id IS NOT NULL
                    DO UPDATE SET balance = {account}.balance + 25,
                       lifetime_earned = {account}.lifetime_earned + 25, updated_at = %s
                    RETURNING id""",
                [CHANNEL, customer, now, now, now],
            )
            account_id = cursor.fetchone()[0]
            cursor.execute(
                f"""INSERT INTO {entry} (kind, points, written_off, idempotency_key, order_id,
                       order_number, reason, actor, details, created_at, account_id)
                    VALUES ('earn', 25, 0, %s, %s, %s, '', '', '{{}}', %s, %s) RETURNING id""",
                [f"{prefix}:{number}:earn", f"{prefix}-{number}", str(number), now, account_id],
            )
            entry_id = cursor.fetchone()[0]
            cursor.execute(
                f"""INSERT INTO {lot} (order_id, points, remaining, available_at, expires_at,
                       account_id, entry_id) VALUES (%s, 25, 25, %s, %s, %s, %s)""",
                [f"{prefix}-{number}", now, now + timedelta(days=365), account_id, entry_id],
            )
            cursor.execute(
                f"""INSERT INTO {qualifying} (order_id, points_earned, amount_spent, currency,
                       placed_at, updated_at, account_id)
                    VALUES (%s, 25, 25.00, 'USD', %s, %s, %s)""",
                [f"{prefix}-{number}", now, now, account_id],
            )
            cursor.execute(
                f"""INSERT INTO {purchase} (order_id, channel_slug, customer_key, customer_id,
                       email, placed_at, status, counts, currency, net_goods_amount,
                       used_voucher, used_discount, voucher_code, source, recorded_at)
                    VALUES (%s, %s, %s, %s, NULL, %s, 'unfulfilled', true, 'USD', 25.00,
                       false, false, NULL, 'intake', %s)""",
                [f"{prefix}-{number}", CHANNEL, f"customer:{customer}", customer, now, now],
            )

    def all_orders() -> None:
        for number in orders:
            one(number)

    return support.timed(all_orders)


# Floor and task path, and the two databases, take turns in batches this size, so all
# four see the same load on a shared machine (one long run of each measured whatever else
# ran at the time).
BATCH = 10


@dataclass
class Side:
    """One database's share of the measurement: its connection and what it took."""

    other_rows: int
    connection: Any
    floor_seconds: float = 0.0
    task_seconds: float = 0.0
    statements: int = 0
    orders: int = 0

    def figures(self) -> dict[str, float]:
        floor_rate = self.orders / self.floor_seconds
        rate = self.orders / self.task_seconds
        return {
            "other_rows": self.other_rows,
            "floor_events_per_s": round(floor_rate, 1),
            "task_events_per_s": round(rate, 1),
            "queries_per_event": round(self.statements / self.orders, 1),
            "times_the_floor": support.ratio(floor_rate, rate),
        }


def prepare(side: Side) -> None:
    """The database emptied, the default tiers, the other rows; vacuumed; caches warm."""
    from saleor_retention_plugin.services.tiers import seed_default_tiers

    with support.on_connection(side.connection):
        support.empty_tables()
        seed_default_tiers(CHANNEL)
        if side.other_rows:
            seed_other_customers(side.other_rows)
        # Vacuumed and analysed now, so autovacuum does not visit the new rows mid-measure.
        support.execute("VACUUM ANALYZE")
        # Every customer's account exists on both sides (the timed orders are returning
        # customers' orders, as most are), and the connection and caches are warm.
        floor(range(-50, 0), f"warmfloor{side.other_rows}")
        task_path(range(-50, 0), f"warmtask{side.other_rows}")


def measure_batch(side: Side, batch: range) -> None:
    with support.on_connection(side.connection):
        side.floor_seconds += floor(batch, f"floor{side.other_rows}")
        seconds, count = task_path(batch, f"task{side.other_rows}")
    side.task_seconds += seconds
    side.statements += count
    side.orders += len(batch)


def measure(empty: Side, beside: Side, orders: int) -> None:
    for round_number, start in enumerate(range(0, orders, BATCH)):
        batch = range(start, min(start + BATCH, orders))
        pair = (empty, beside) if round_number % 2 == 0 else (beside, empty)
        for side in pair:
            measure_batch(side, batch)


def main() -> dict[str, Any]:
    from django.db import connections

    support.setup_django()
    size = support.scale()
    with support.second_database("empty") as empty_connection:
        empty = Side(0, empty_connection)
        beside = Side(size.big, connections["default"])
        prepare(empty)
        prepare(beside)
        measure(empty, beside, size.orders)
    support.empty_tables()
    on_empty, on_big = empty.figures(), beside.figures()
    slowdown = support.ratio(on_empty["task_events_per_s"], on_big["task_events_per_s"])
    adjusted = support.ratio(on_big["times_the_floor"], on_empty["times_the_floor"])
    goals = {
        "within_3x_floor": on_empty["times_the_floor"] <= 3 and on_big["times_the_floor"] <= 3,
        "within_1_2x_of_empty_shop": slowdown <= 1.2,
    }
    return {
        "empty_shop": on_empty,
        "beside_other_rows": on_big,
        "slowdown_beside_other_rows": slowdown,
        "slowdown_beside_other_rows_load_adjusted": adjusted,
        "goals": goals,
        "summary": (
            f"task path {on_empty['task_events_per_s']} ev/s "
            f"({on_empty['times_the_floor']}x floor) empty, {on_big['task_events_per_s']} "
            f"ev/s ({on_big['times_the_floor']}x floor) beside {size.big:,} rows: "
            f"{slowdown}x slower (raw, interleaved), {adjusted}x against the floor; "
            f"{support.verdict(all(goals.values()))}"
        ),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
