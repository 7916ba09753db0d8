"""Who is due a replenishment reminder or a win-back step, among few and many customers (issue 10).

The same ``DUE`` customers are due (a reminder due, or dormant, within the last hour)
among ``small`` (10 thousand) and ``big`` (1 million) customers, each with one order, one
line and one kept row (``ReplenishmentDue`` / ``WinbackDue``) whose due moments spread over
two years either side of now (never inside a window the selection reads). Timed:

* ``replenishment``: ``services.replenishment.due_replenishments`` for the last hour,
  with a catalogue that sells everything (the Saleor catalogue is one listing query over
  the due products);
* ``replenishment_default_catalogue``: the same with ``RecentlySold`` (the default outside
  Saleor: one indexed ``EXISTS`` per due product; products here sell every day, so it
  walks the product's lines until a recent one);
* ``winback``: ``services.winback.due_winback_steps`` for the last hour, three steps.

Goal: each selection's time among the big table within 2 times its time among the small
one. Each figure is the median of ``REPEAT`` runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from benchmarks import support
from benchmarks.ledger_path import CHANNEL, TABLE

if TYPE_CHECKING:
    from collections.abc import Collection

DUE = 200
PRODUCTS = 500
REPEAT = 5


class SellsEverything:
    def sold(self, channel: str, product_ids: Collection[str], now: datetime) -> set[str]:
        return set(product_ids)

    def names(self, channel: str, product_ids: Collection[str]) -> dict[str, str]:
        return {}


def due_moment(number: str) -> str:
    """SQL: within the last hour for the first ``DUE`` customers, else spread over 2 years."""
    return (
        f"CASE WHEN {number} <= %(due)s THEN %(now)s - interval '30 minutes' "
        f"ELSE %(now)s - interval '350 days' + interval '12 hours' "
        f"+ ({number} %% 700) * interval '1 day' END"
    )


def seed(customers: int, now: datetime) -> None:
    """``customers`` customers; the first ``DUE`` are due within the last hour."""
    orders, lines, replenish, winback = (
        TABLE.format(name)
        for name in ("purchasedorder", "purchasedline", "replenishmentdue", "winbackdue")
    )
    # Not due: orders 400-600 days ago, due moments 350 days either side of now, at noon
    # offsets no window of the last hour (or of 14 / 30 days before it) can hold.
    placed = (
        "CASE WHEN g <= %(due)s THEN %(now)s - interval '40 days' ELSE %(now)s "
        "- interval '600 days' + interval '12 hours' + (g %% 200) * interval '1 day' END"
    )
    due_at = due_moment("customer_id")
    params = {"due": DUE, "now": now, "n": customers, "channel": CHANNEL, "products": PRODUCTS}
    support.execute(
        f"""INSERT INTO {orders} (order_id, channel_slug, customer_key, customer_id, email,
               placed_at, status, counts, currency, net_goods_amount, used_voucher,
               used_discount, voucher_code, source, recorded_at)
            SELECT 'o-' || g, %(channel)s, 'customer:' || g, g, 'c' || g || '@example.com',
                   {placed}, 'fulfilled', true, 'USD', 10, false, false, NULL, 'bench', %(now)s
            FROM generate_series(1, %(n)s) g""",
        params,
    )
    support.execute(
        f"""INSERT INTO {lines} (order_id, line_id, variant_id, product_id, product_type_id,
               category_id, sku, quantity, unit_price_net)
            SELECT id, 'l1', 'v' || customer_id %% %(products)s,
                   (customer_id %% %(products)s)::text, '1', '1', NULL, 1, 10
            FROM {orders}""",
        params,
    )
    support.execute(
        f"""INSERT INTO {replenish} (channel_slug, customer_key, customer_id, email, product_id,
               last_order_id, last_purchased_at, last_quantity, purchases, interval_days,
               interval_source, run_out_at, due_at, computed_at)
            SELECT %(channel)s, customer_key, customer_id, email,
                   (customer_id %% %(products)s)::text, order_id, placed_at, 1, 2, 30, 'own',
                   {due_at} + interval '3 days', {due_at},
                   %(now)s
            FROM {orders}""",
        params,
    )
    support.execute(
        f"""INSERT INTO {winback} (channel_slug, customer_key, customer_id, email, last_order_id,
               last_order_at, usual_interval_days, dormant_at, high_value, price_sensitive,
               computed_at)
            SELECT %(channel)s, customer_key, customer_id, email, order_id, placed_at, 30,
                   {due_at}, customer_id %% 10 = 0, customer_id %% 3 = 0, %(now)s
            FROM {orders}""",
        params,
    )


def measure(customers: int) -> dict[str, float]:
    from saleor_retention_plugin.conf import ChannelSettings
    from saleor_retention_plugin.services.recommendations import RecentlySold
    from saleor_retention_plugin.services.replenishment import due_replenishments
    from saleor_retention_plugin.services.winback import due_winback_steps

    now = datetime.now(UTC)
    support.empty_tables()
    seed(customers, now)
    support.analyze()
    start = now - timedelta(hours=1)
    winback_settings = ChannelSettings().winback
    counts: dict[str, int] = {}

    def run(name: str, select: Any) -> float:
        def once() -> None:
            counts[name] = len(select())

        seconds = support.median_seconds(once, REPEAT)
        assert counts[name] == DUE, (name, counts[name])
        return seconds

    return {
        "replenishment": run(
            "replenishment",
            lambda: due_replenishments(CHANNEL, start, now, SellsEverything()),
        ),
        "replenishment_default_catalogue": run(
            "replenishment_default_catalogue",
            lambda: due_replenishments(CHANNEL, start, now, RecentlySold()),
        ),
        "winback": run("winback", lambda: due_winback_steps(CHANNEL, winback_settings, start, now)),
    }


def main() -> dict[str, Any]:
    support.setup_django()
    size = support.scale()
    small, big = measure(size.small), measure(size.big)
    support.empty_tables()
    figures = {
        name: {
            "small_customers": size.small,
            "big_customers": size.big,
            "due": DUE,
            "small_ms": round(small[name] * 1000, 1),
            "big_ms": round(big[name] * 1000, 1),
            "ratio": support.ratio(big[name], small[name]),
        }
        for name in small
    }
    goals = {f"{name}_within_2x": figure["ratio"] <= 2 for name, figure in figures.items()}
    return {
        **figures,
        "goals": goals,
        "summary": ", ".join(
            f"{name} {figure['small_ms']} vs {figure['big_ms']} ms ({figure['ratio']}x)"
            for name, figure in figures.items()
        )
        + f" for {DUE} due among {size.small:,} vs {size.big:,} customers; "
        + support.verdict(all(goals.values())),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
